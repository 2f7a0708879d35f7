"""`make exercises` and `make grade`: the exercises, built with otter-grader and graded
in a sandbox.

exercises/solutions/NN-topic.ipynb is written once, questions with their solutions
and checks, in otter's notebook format. `build` turns each into

    exercises/student/NN-topic.ipynb     every solution replaced by `...`; the checks
                                         stored in the notebook, run by grader.check("q1")
    exercises/autograder/NN-topic.zip    otter's autograder for it (Gradescope's format)

Each check is a test function in two halves: `answers()` reads the student's variables
and returns plain values (numbers, strings, NumPy arrays), `check(a)` judges those
values alone. In JupyterLab, grader.check runs both in the student's kernel: feedback.
`grade` scores a class without trusting anything a student's code can touch:

- each submission runs in bubblewrap (tools/sandbox.py: no network, a read-only view of
  the environment and the submission only, a small private folder, its own PID
  namespace, memory, CPU and time limits, the user nobody), by tools/run_submission.py,
  which runs its cells and then the `answers` halves, and hands back JSON;
- the `check` halves run outside, in a separate clean Python that reads that JSON as
  data (never pickle) and imports nothing of the student's: a submission can choose its
  answers, never its score;
- a submission that is not a notebook, answers no exercise, runs past its time, or stops
  its grading gets its row in the table with the reason, and the others are still graded.
"""

import argparse
import ast
import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import sandbox
from lecture.tooling import ROOT, numbered_notebooks, write_text_atomically

EXERCISES = ROOT / "exercises"
AUTOGRADERS = EXERCISES / "autograder"
SOLUTIONS = EXERCISES / "solutions"
CELL_TIMEOUT = 120  # seconds one cell of a submission may run
SUBMISSION_TIMEOUT = 600  # seconds a whole submission may take, kernel start included
CHECK_TIMEOUT = 300  # seconds the checks of one submission may take, outside the sandbox
# The environment a submission runs with: nothing of the grader's but these (and its own
# PATH, HOME and folders, set in grade()).
PASSED_ON = ("LC_ALL", "XLA_FLAGS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "JAX_PLATFORMS", "LECTURE_TIMEIT_ONCE")


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


def checks(autograder):
    """The questions of an autograder zip, from its otter test files (tests/qN.py), each
    {"points", "params", "answers", "check"}. Every check is one test function whose
    body defines `answers()` (run in the student's kernel: it reads the student's
    variables, the function's parameters, and returns plain values) and `check(a)` (the
    verdict from those values alone), then calls check(answers()): in JupyterLab both
    run in the student's kernel for feedback; make grade runs them apart."""
    found = {}
    with zipfile.ZipFile(autograder) as z:
        for path in sorted(n for n in z.namelist() if re.fullmatch(r"tests/[^/]+\.py", n)):
            tree = ast.parse(z.read(path).decode())
            consts = {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                      for t in node.targets if isinstance(t, ast.Name) and t.id in ("name", "points")}
            (test,) = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
            inner = {node.name: node for node in test.body if isinstance(node, ast.FunctionDef)}
            if set(inner) != {"answers", "check"} or inner["answers"].args.args or len(inner["check"].args.args) != 1:
                raise GradingError(f"{autograder}: {path}'s test should define answers() and check(a) (see "
                                   "exercises.checks)")
            answers = ast.FunctionDef("answers", test.args, inner["answers"].body, [], None, None, [])
            found[consts["name"]] = {"points": consts["points"], "params": [a.arg for a in test.args.args],
                                     "answers": ast.unparse(ast.fix_missing_locations(answers)),
                                     "check": ast.unparse(inner["check"])}
    return found


def grade(autograder, submission, name=None, timeout=SUBMISSION_TIMEOUT, cell_timeout=CELL_TIMEOUT):
    """Grade one notebook with one autograder zip: ({question: (score, possible, message)},
    the errors its cells raised, as "Name: message"). Raises GradingError with the reason
    when it cannot be graded.

    The notebook runs in the sandbox (tools/sandbox.py), with the `answers` half of each
    check appended as a last cell; what comes out is data (JSON, plain values), judged by
    the `check` halves in a separate process outside, which imports nothing of the
    student's. Nothing the submission does inside can write a score: only its answers."""
    name = name or Path(submission).stem
    questions = checks(autograder)
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        given = Path(tmp)
        given.chmod(0o755)  # the sandbox's user reads it (read-only inside)
        shutil.copyfile(submission, given / f"{name}.ipynb")
        (given / "answers.json").write_text(json.dumps(
            {"__notebook__": f"{name}.ipynb"} | {q: [c["params"], c["answers"]] for q, c in questions.items()}))
        for f in given.iterdir():
            f.chmod(0o644)
        inside = sandbox.FOLDER
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": f"{inside}/home",
               "TMPDIR": inside, "JUPYTER_RUNTIME_DIR": f"{inside}/runtime", "MPLCONFIGDIR": f"{inside}/mpl",
               "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"} | {
            k: os.environ[k] for k in PASSED_ON if k in os.environ}
        cmd = sandbox.command(
            [sys.executable, "/opt/grading/run_submission.py", f"/submission/{name}.ipynb", "/submission/answers.json",
             cell_timeout], visible=sandbox.environment(),
            bound=[(Path(__file__).with_name("run_submission.py"), "/opt/grading/run_submission.py"),
                   (given, "/submission")], env=env)
        try:
            outcome = sandbox.run(cmd, timeout)
        except OSError as e:  # bwrap gone since make grade checked: never run it unconfined
            raise GradingError(f"the sandbox could not start: {e}") from None
    if outcome.timed_out:
        raise GradingError(f"ran past {timeout:g} s and was stopped")
    try:  # the first JSON document written there (the runner writes one; what follows is not read)
        ran, _ = json.JSONDecoder().raw_decode(outcome.result.decode())
        assert isinstance(ran, dict)
    except (ValueError, AssertionError):
        raise GradingError(f"the grader stopped: {_why(outcome)}") from None
    errors = _lines(ran.get("errors"))
    if "failure" in ran:
        raise GradingError((_lines([ran["failure"]]) or ["the grader stopped"])[0])
    answers = ran.get("answers") if isinstance(ran.get("answers"), dict) else {}
    verdicts = _judge({q: c["check"] for q, c in questions.items()}, {q: answers.get(q) for q in questions})
    graded = {}
    for q, c in questions.items():
        passed, message = verdicts[q]
        graded[q] = (c["points"] if passed else 0, c["points"], message)
    return graded, errors


def _why(outcome):
    """The reason a sandboxed run gave no result: a limit, a signal, or its last line."""
    code = outcome.returncode
    signum = code - 128 if code > 128 else -code if code < 0 else 0  # bwrap passes 128 + N on
    if signum == signal.SIGXCPU:
        return f"stopped by the CPU-time limit ({sandbox.CPU_LIMIT} s)"
    if signum:
        return f"killed by {signal.Signals(signum).name}" if signum in signal.valid_signals() else f"exit {code}"
    last = _lines(outcome.output.decode(errors="replace").splitlines()[-1:])
    return last[0] if last else f"exit status {code}"


def _lines(texts, most=50, width=300):
    """Text from inside the sandbox, made safe to print: at most `most` one-line strings."""
    if not isinstance(texts, list):
        return []
    clean = [" ".join("".join(ch if ch.isprintable() else " " for ch in t).split())[:width]
             for t in texts[:most] if isinstance(t, str)]
    return [t for t in clean if t]


def _judge(check_sources, answers):
    """{question: (passed, message)}: each check run on its question's answers, in a
    separate, clean Python (the grader's; nothing of the student's is imported)."""
    job = json.dumps({"checks": check_sources, "answers": answers})
    try:
        done = subprocess.run([sys.executable, __file__, "judge"], input=job, capture_output=True, text=True,
                              timeout=CHECK_TIMEOUT, cwd=ROOT)
    except subprocess.TimeoutExpired:  # a row that says so, not the end of the class's grading
        raise GradingError(f"the checks ran past {CHECK_TIMEOUT} s") from None
    if done.returncode != 0:
        raise GradingError(f"the checks stopped: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return {q: tuple(v) for q, v in json.loads(done.stdout).items()}


ARRAY_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
                "float32", "float64"}


class Unsupported:
    """An answer that was not a plain value (a function, a model...): its type's name."""

    def __init__(self, name):
        self.name = str(name)[:100]

    def __repr__(self):
        return f"<{self.name}>"


def decode(value, depth=0):
    """Plain values from the sandbox's JSON, checked: NumPy arrays for {"__ndarray__"} (of
    ARRAY_DTYPES, the data matching the shape), Unsupported for anything else tagged.
    ValueError for what run_submission could not have written."""
    import numpy as np

    if depth > 25:
        raise ValueError("nested too deep")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [decode(v, depth + 1) for v in value]
    if not isinstance(value, dict):
        raise ValueError(f"not a plain value: {type(value).__name__}")
    if "__ndarray__" in value:
        dtype, shape, data = value.get("__ndarray__"), value.get("shape"), value.get("data")
        if (dtype not in ARRAY_DTYPES or not isinstance(shape, list) or not isinstance(data, list)
                or not all(isinstance(n, int) and n >= 0 for n in shape) or len(shape) > 32
                or not all(isinstance(x, (bool, int, float)) for x in data) or int(np.prod(shape)) != len(data)):
            raise ValueError("a malformed array")
        return np.array(data, dtype=dtype).reshape(shape)
    if "__unsupported__" in value:
        return Unsupported(value["__unsupported__"])
    return {str(k): decode(v, depth + 1) for k, v in value.items()}


def judge(job):
    """In the clean process: {question: [passed, message]} for {"checks", "answers"}."""
    from lecture import setup

    setup()  # the lecture's JAX settings (its PRNG stream), as in the student's kernel
    verdicts = {}
    for q, source in job["checks"].items():
        got = job["answers"].get(q)
        try:
            if not isinstance(got, dict) or not ("value" in got or "error" in got):
                raise AssertionError("no answers came out of the notebook for this question")
            if "error" in got:
                raise AssertionError("computing the answers raised " + (_lines([str(got["error"])]) or ["an error"])[0])
            space = {}
            exec(source, space)
            space["check"](decode(got["value"]))
            verdicts[q] = [True, ""]
        except AssertionError as e:
            verdicts[q] = [False, f"AssertionError: {e}"]
        except Exception as e:  # a value of the wrong kind, say: the check could not read it
            verdicts[q] = [False, f"{type(e).__name__}: {e}"[:300]]
    return verdicts


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
              autograders=None, progress=print, rows=None, on_row=None):
    """One row per submission: {submission, exercise, score, possible, questions, status},
    appended to `rows` (given: the caller keeps what was finished if grading is stopped) and
    handed to `on_row` as each is finished."""
    names = exercise_names()
    autograders = AUTOGRADERS if autograders is None else autograders  # make exercises' (by default)
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
            graded, errors = grade(autograder, submission, name, timeout, cell_timeout)
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
    sub.add_parser("judge", help=argparse.SUPPRESS)  # the clean process that runs the checks (_judge)
    args = parser.parse_args(argv)
    # SIGTERM stops it as Ctrl-C does: what it started is ended on the way out
    # (subprocess.run kills its child; grading ends its process tree), temporary files removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    if args.command == "build":
        build(args.names or None)
        return 0
    if args.command == "judge":
        print(json.dumps(judge(json.loads(sys.stdin.read()))))
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
    try:
        sandbox.check()
    except sandbox.SandboxError as e:
        sys.exit(f"make grade: {e}")
    rows = []
    # The CSV is rewritten (whole, atomically) after each submission: a grading that is
    # killed keeps every row it finished.
    save = (lambda done: write_csv(done + _not_yet(submissions, done), args.csv)) if args.csv else None
    try:
        grade_all(submissions, args.exercise, args.timeout, args.cell_timeout, rows=rows, on_row=save)
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
