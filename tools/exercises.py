"""`make exercises` and `make grade`: the exercises, built and graded with otter-grader.

exercises/solutions/NN-topic.ipynb is written once, questions with their solutions
and checks, in otter's notebook format. `build` turns each into

    exercises/student/NN-topic.ipynb     every solution replaced by `...`; the checks
                                         stored in the notebook, run by grader.check("q1")
    exercises/autograder/NN-topic.zip    otter's autograder for it

and `grade` runs an autograder on submitted notebooks with `otter run` (no
container: the submission runs in this environment, with the project's kernel) and
prints a score table, one row per submission.

Grading runs a student's code, so each submission is graded in a process of its own,
in a private temporary folder that holds a copy of the submission (under its
exercise's own name, so its first cell's `otter.Notebook("NN-topic.ipynb")` finds
it) and of the autograder: with a time limit per cell (--cell-timeout) and per
submission (--timeout), CPU-time and file-size limits, and, when the grader is root,
as the unprivileged user `nobody`, who can read the project but write only that
folder. Otherwise (another user, or a `nobody` who cannot run this environment's
Python) the code has the grader's rights, and `make grade` says so: grade untrusted
work in a container. A submission that is not a notebook, answers no
exercise, runs past its time or breaks the grader gets its row in the table with
the reason, and the others are still graded.
"""

import argparse
import contextlib
import csv
import io
import json
import os
import pwd
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from lecture.tooling import ROOT, numbered_notebooks, on_unix_sockets, write_text_atomically

EXERCISES = ROOT / "exercises"
AUTOGRADERS = EXERCISES / "autograder"
SOLUTIONS = EXERCISES / "solutions"
CELL_TIMEOUT = 120  # seconds one cell of a submission may run
SUBMISSION_TIMEOUT = 600  # seconds a whole submission may take, kernel start included
CPU_LIMIT = 1200  # CPU-seconds of the grading process (JAX uses several threads)
FILE_LIMIT = 256 * 2**20  # bytes any one file it writes may reach
UNPRIVILEGED = "nobody"
# The environment a submission runs with: nothing of the grader's but these.
PASSED_ON = ("PATH", "LANG", "LC_ALL", "XLA_FLAGS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "JAX_PLATFORMS",
             "LECTURE_TIMEIT_ONCE")


class GradingError(Exception):
    """A submission that could not be graded; the message is its row's reason."""


def exercise_names(solutions=SOLUTIONS):
    return [p.stem for p in numbered_notebooks(solutions)]


def questions(notebook):
    """The questions of a built student version: otter keeps their checks in its metadata."""
    return sorted(json.loads(Path(notebook).read_text())["metadata"]["otter"]["tests"])


def build(names=None, solutions=SOLUTIONS, out=EXERCISES):
    """Student version and autograder of each exercise in `names` (all by default),
    into out/student/ and out/autograder/; each file replaced whole, never half-written."""
    from otter.assign import main as otter_assign

    names = names or exercise_names(solutions)
    (out / "student").mkdir(parents=True, exist_ok=True)
    (out / "autograder").mkdir(parents=True, exist_ok=True)
    for name in names:
        source = Path(solutions) / f"{name}.ipynb"
        if not source.is_file():
            sys.exit(f"make exercises: no exercise {source}")
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            # (Each solution's config has `run_tests: false`: CI grades the solutions instead.)
            with contextlib.redirect_stdout(io.StringIO()):
                otter_assign(str(source), tmp, no_pdfs=True)
            (zip_file,) = Path(tmp, "autograder").glob("*.zip")
            Path(tmp, "student", f"{name}.ipynb").replace(out / "student" / f"{name}.ipynb")
            zip_file.replace(out / "autograder" / f"{name}.zip")
        print(f"{name}: {out.name}/student/{name}.ipynb, {out.name}/autograder/{name}.zip")


def _grade_here(autograder, submission, cell_timeout):
    """Grade in this process (the child that `grade` starts): ({question: (score, possible,
    message)}, the errors the submission's cells raised, as "Name: message")."""
    import nbconvert.preprocessors
    from traitlets import Integer
    from otter.run import main as otter_run

    class TimedExecutePreprocessor(nbconvert.preprocessors.ExecutePreprocessor):
        timeout = Integer(cell_timeout, allow_none=True).tag(config=True)

        def create_kernel_manager(self):  # its sockets in the submission's own folder
            return on_unix_sockets(super().create_kernel_manager(), Path(submission).parent)

    # otter builds its ExecutePreprocessor from a Config of its own, without a time-out
    # (otter-grader 7.0.0): it looks the class up in nbconvert.preprocessors at each run.
    nbconvert.preprocessors.ExecutePreprocessor = TimedExecutePreprocessor
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # otter 7.0.0 calls DataFrame.drop(inplace=True), which pandas 3.1 deprecates
        warnings.filterwarnings("ignore", "The inplace keyword in DataFrame.drop", module="otter")
        try:
            results = otter_run(str(submission), autograder=str(autograder), output_dir=None, no_logo=True)
        except Exception as e:
            if type(e).__name__ == "CellTimeoutError":
                raise GradingError(f"a cell ran past {cell_timeout} s") from None
            raise GradingError(f"the grader stopped: {type(e).__name__}: {str(e).strip().splitlines()[0]}") from None
    if results.catastrophic_error:
        raise GradingError(f"the grader stopped: {str(results.catastrophic_error).strip().splitlines()[0]}")
    graded = {}
    for name, test_file in sorted(results.results.items()):
        messages = [r.message.strip() for r in test_file.test_case_results if not r.passed and r.message]
        graded[name] = (test_file.score, test_file.possible, "\n".join(messages))
    cells = results.notebook.cells if results.notebook else []
    errors = [f"{o.ename}: {o.evalue}" for c in cells for o in c.get("outputs", []) if o.output_type == "error"]
    return graded, errors


def _unprivileged_user():
    """`nobody`, when this is root and `nobody` can run the project's Python; else None."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(UNPRIVILEGED)
    except KeyError:
        return None
    try:
        probe = subprocess.run([sys.executable, "-c", "import otter, jax"], user=UNPRIVILEGED, group="nogroup",
                               extra_groups=[], capture_output=True, cwd="/", timeout=120,
                               env={"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent"})
    except (OSError, subprocess.SubprocessError):  # e.g. this Python lives under /root (pyenv's)
        return None
    return UNPRIVILEGED if probe.returncode == 0 else None


def who_runs_student_code(user):
    """One line for the grader: whose rights a submission's code has here (`user`: what
    _unprivileged_user() found)."""
    if user:
        return f"student code runs as {user!r}: it can read the project and write only its own temporary folder"
    me = pwd.getpwuid(os.geteuid()).pw_name
    why = (f" ({UNPRIVILEGED!r} cannot run this environment's Python {sys.executable})" if os.geteuid() == 0 else "")
    return (f"student code runs as {me!r}, with that user's rights{why}, within time, CPU and file-size limits: "
            "grade untrusted work in a container")


def _limits():  # in the child, before it runs anything
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT, CPU_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _end_tree(pid):
    """SIGKILL `pid` and every process below it (the kernel starts a session of its own)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, tree = [pid], []
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    for p in tree:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)


def grade(autograder, submission, name=None, timeout=SUBMISSION_TIMEOUT, cell_timeout=CELL_TIMEOUT,
          user="auto", contained=True):
    """Grade one notebook with one autograder zip, contained (see the module's docstring):
    ({question: (score, possible, message)}, the errors its cells raised, as "Name: message").
    Raises GradingError with the reason when it cannot be graded. `contained=False` grades
    in this process, for the project's own notebooks only (the tests' solutions)."""
    name = name or Path(submission).stem
    if not contained:
        with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
            shutil.copyfile(submission, Path(tmp) / f"{name}.ipynb")
            return _grade_here(autograder, Path(tmp) / f"{name}.ipynb", cell_timeout)
    user = _unprivileged_user() if user == "auto" else user
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        work = Path(tmp)
        for folder in ("home", "tmp", "runtime"):
            (work / folder).mkdir()
        shutil.copyfile(submission, work / f"{name}.ipynb")
        shutil.copyfile(autograder, work / "autograder.zip")
        if user:
            account = pwd.getpwnam(user)
            for path in [work, *work.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid)
        env = {k: os.environ[k] for k in PASSED_ON if k in os.environ} | {
            "HOME": str(work / "home"), "TMPDIR": str(work / "tmp"), "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
            "IPYTHONDIR": str(work / "home" / ".ipython"), "MPLCONFIGDIR": str(work / "home" / ".matplotlib"),
            "XDG_CACHE_HOME": str(work / "home" / ".cache"), "PYTHONDONTWRITEBYTECODE": "1"}
        cmd = [sys.executable, __file__, "grade-one", "autograder.zip", f"{name}.ipynb",
               "--cell-timeout", str(cell_timeout), "--out", "result.json"]
        ids = dict(user=user, group="nogroup", extra_groups=[]) if user else {}
        child = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, preexec_fn=_limits, start_new_session=True, **ids)
        try:
            _, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _end_tree(child.pid)
            child.communicate()
            raise GradingError(f"ran past {timeout:g} s and was stopped") from None
        finally:
            if child.poll() is None:
                _end_tree(child.pid)
                child.wait()
        result = work / "result.json"
        if not result.is_file():
            last = [line for line in err.splitlines() if line.strip()][-1:] or [f"exit status {child.returncode}"]
            if child.returncode == -signal.SIGXCPU:
                last = [f"stopped by the CPU-time limit ({CPU_LIMIT} s)"]
            elif child.returncode < 0:  # killed: by the student's code, or from outside, not by a limit of ours
                last = [f"killed by {signal.Signals(-child.returncode).name}"]
            raise GradingError(f"the grader stopped: {last[0]}")
        outcome = json.loads(result.read_text())
    if "failure" in outcome:
        raise GradingError(outcome["failure"])
    return {q: tuple(v) for q, v in outcome["graded"].items()}, outcome["errors"]


OTTER_NOTEBOOK = re.compile(r"""otter\.Notebook\(\s*["']([^"']+)\.ipynb["']\s*\)""")


def exercise_of(submission, names):
    """The exercise a submitted notebook answers: named in its own first cells
    (`otter.Notebook("NN-topic.ipynb")`, which every student version keeps), else by its
    file name (NN-...). GradingError when neither tells."""
    try:
        cells = json.loads(Path(submission).read_text())["cells"]
        sources = ["".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise GradingError("not a readable notebook (invalid JSON, or not an .ipynb)") from None
    for source in sources[:3]:
        m = OTTER_NOTEBOOK.search(source)
        if m and m.group(1) in names:
            return m.group(1)
    stem = Path(submission).name
    matches = [n for n in names if stem.startswith(n) or stem.startswith(n.split("-")[0] + "-")]
    if len(matches) == 1:
        return matches[0]
    raise GradingError(f"answers no exercise of {', '.join(names)} (its first cell names none, nor does its "
                       "file name); pass --exercise")


def grade_all(submissions, exercise=None, timeout=SUBMISSION_TIMEOUT, cell_timeout=CELL_TIMEOUT,
              autograders=None, progress=print, user="auto", rows=None, on_row=None):
    """One row per submission: {submission, exercise, score, possible, questions, status},
    appended to `rows` (given: the caller keeps what was finished if grading is stopped) and
    handed to `on_row` as each is finished."""
    names = exercise_names()
    autograders = AUTOGRADERS if autograders is None else autograders  # make exercises' (by default)
    user = _unprivileged_user() if user == "auto" else user  # asked once for the whole run
    rows = [] if rows is None else rows
    for submission in submissions:
        row = {"submission": str(submission), "exercise": "", "score": "", "possible": "",
               "questions": {}, "status": "graded", "errors": []}
        try:
            name = exercise or exercise_of(submission, names)
            row["exercise"] = name
            autograder = Path(autograders) / f"{name}.zip"
            if not autograder.is_file():
                raise GradingError(f"{autograder} is missing; run `make exercises` first")
            graded, errors = grade(autograder, submission, name, timeout, cell_timeout, user=user)
            row["questions"] = {q: (s, p) for q, (s, p, _) in graded.items()}
            row["score"] = sum(s for s, _, _ in graded.values())
            row["possible"] = sum(p for _, p, _ in graded.values())
            row["messages"] = {q: m for q, (_, _, m) in graded.items() if m}
            row["errors"] = errors
        except GradingError as e:
            row["status"] = f"not graded: {e}"
        progress(_progress_line(row))
        rows.append(row)
        if on_row:
            on_row(rows)
    return rows



def _progress_line(row):
    if row["status"] != "graded":
        return f"{row['submission']}: {row['status']}"
    lines = [f"{row['submission']}  ({row['exercise']}): {row['score']:g} / {row['possible']:g}"]
    for q, (s, p) in row["questions"].items():
        message = row.get("messages", {}).get(q, "")
        lines.append(f"  {q}: {s:g} / {p:g}" + (f"  {message.splitlines()[-1]}" if message else ""))
    lines += [f"  a cell raised {e.splitlines()[0]}" for e in row["errors"]]
    return "\n".join(lines)


def table(rows):
    """The score table: a header and one list per submission (for CSV and Markdown alike)."""
    questions = sorted({q for r in rows for q in r["questions"]})
    head = ["submission", "exercise", "score", "possible", *questions, "status"]
    body = []
    for r in rows:
        scores = [f"{r['questions'][q][0]:g}" if q in r["questions"] else "" for q in questions]
        score = f"{r['score']:g}" if r["score"] != "" else ""
        possible = f"{r['possible']:g}" if r["possible"] != "" else ""
        status = r["status"] + (f"; {len(r['errors'])} cell(s) raised an error" if r["errors"] else "")
        body.append([r["submission"], r["exercise"], score, possible, *scores, status])
    return head, body


def markdown(rows):
    head, body = table(rows)
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in body])


def write_csv(rows, path):
    head, body = table(rows)
    text = io.StringIO(newline="")
    csv.writer(text).writerows([head, *body])
    write_text_atomically(path, text.getvalue(), newline="")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="student versions and autograders of the exercises")
    b.add_argument("names", nargs="*", help="exercises to build (default: all), e.g. 02-prng")
    g = sub.add_parser("grade", help="grade submitted notebooks")
    g.add_argument("submissions", nargs="+", type=Path)
    g.add_argument("--exercise", help="the exercise they all answer (default: each notebook's own)")
    g.add_argument("--timeout", type=float, default=SUBMISSION_TIMEOUT,
                   help="seconds one submission may take (default %(default)s)")
    g.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT,
                   help="seconds one cell may run (default %(default)s)")
    g.add_argument("--csv", type=Path, help="also write the score table to this CSV file (a new one)")
    g.add_argument("--force", action="store_true", help="let --csv replace an existing or tracked file")
    one = sub.add_parser("grade-one", help=argparse.SUPPRESS)  # the contained child of `grade`
    one.add_argument("autograder")
    one.add_argument("submission")
    one.add_argument("--cell-timeout", type=int, required=True)
    one.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    # SIGTERM stops it as Ctrl-C does: what it started is ended on the way out
    # (subprocess.run kills its child; grading ends its process tree), temporary files removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    if args.command == "build":
        build(args.names or None)
        return 0
    if args.command == "grade-one":
        try:
            graded, errors = _grade_here(args.autograder, args.submission, args.cell_timeout)
            outcome = {"graded": graded, "errors": errors}
        except GradingError as e:
            outcome = {"failure": str(e)}
        Path(args.out).write_text(json.dumps(outcome))
        return 0
    if args.exercise and args.exercise not in exercise_names():
        sys.exit(f"make grade: no exercise {args.exercise!r}; the exercises are {', '.join(exercise_names())}")
    # A folder stands for its notebooks (names with spaces need no quoting then).
    submissions = [n for p in args.submissions for n in (sorted(p.glob("*.ipynb")) if p.is_dir() else [p])]
    missing = [p for p in submissions if not p.is_file()]
    if missing or not submissions:
        sys.exit(f"make grade: no such notebook: {', '.join(map(str, missing or args.submissions))} (quote a path "
                 "with spaces: SUBMISSIONS='\"my sub.ipynb\"', or name its folder)")
    if args.csv and not args.force and (args.csv.exists() or _tracked(args.csv)):
        sys.exit(f"make grade: {args.csv} exists{' and git tracks it' if _tracked(args.csv) else ''}: name a new "
                 "file for CSV=, or add FORCE=1 to replace it")
    user = _unprivileged_user()
    print(f"make grade: {who_runs_student_code(user)}")
    rows = []
    # The CSV is rewritten (whole, atomically) after each submission: a grading that is
    # killed keeps every row it finished.
    save = (lambda done: write_csv(done + _not_yet(submissions, done), args.csv)) if args.csv else None
    try:
        grade_all(submissions, args.exercise, args.timeout, args.cell_timeout, user=user, rows=rows, on_row=save)
    except KeyboardInterrupt:
        rows += _not_yet(submissions, rows, "not graded: grading was interrupted")
        stopped = [r["submission"] for r in rows if r["status"].endswith("interrupted")]
        print(f"\nmake grade: interrupted; not graded: {', '.join(stopped)}", file=sys.stderr)
        if args.csv:
            write_csv(rows, args.csv)
        print(markdown(rows))
        return 130
    print()
    print(markdown(rows))
    if args.csv:
        write_csv(rows, args.csv)
        print(f"\nwrote {args.csv}")
    return 0  # the table is the outcome: a submission not graded says why in its row


def _not_yet(submissions, done, status="not graded yet: grading was stopped before it"):
    """Rows for the submissions `done` has none for."""
    finished = {r["submission"] for r in done}
    return [{"submission": str(s), "exercise": "", "score": "", "possible": "", "questions": {}, "status": status,
             "errors": []} for s in submissions if str(s) not in finished]


def _tracked(path):
    """Whether git tracks `path` (a file of the project)."""
    found = subprocess.run(["git", "ls-files", "--error-unmatch", str(path)], capture_output=True,
                           cwd=Path(path).resolve().parent)
    return found.returncode == 0


def cli(argv=None):
    """main(), with Ctrl-C said in one line (the submission being graded is ended with its
    processes on the way out)."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("make grade: stopped (Ctrl-C) before the table was written; run it again", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(cli())
