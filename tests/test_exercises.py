"""The exercises (exercises/solutions/, otter-grader's format): built as `make
exercises` builds them, then graded as an instructor grades (`otter run`, in this
environment, with the project's kernel). Every solution passes every check; every
untouched student version runs without an error and fails every check, each for the
plain reason its check gives (an AssertionError with a sentence), which proves the
check ran."""

import builtins
import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import symtable
import sys
import tempfile
import uuid
import warnings
from pathlib import Path

import pytest

import catalog
import exercises
import sandbox
from helpers import ROOT, wait_for
from lecture.tooling import on_unix_sockets

NAMES = exercises.exercise_names()


def sandbox_or_skip():
    """make grade's sandbox (bubblewrap) is needed: a skip with the reason here, a failure in CI."""
    try:
        sandbox.check()
    except sandbox.SandboxError as e:
        if os.environ.get("CI"):
            pytest.fail(str(e))
        pytest.skip(str(e))


def test_each_exercise_practises_a_lecture_notebook_with_two_to_four_questions(built_exercises):
    sections = {n.stem[:2] for n in catalog.lecture()}
    assert NAMES and {name[:2] for name in NAMES} <= sections, \
        "an exercise's number is that of the lecture notebook it practises"
    for name in NAMES:
        assert 2 <= len(exercises.questions(built_exercises / "student" / f"{name}.ipynb")) <= 4, name


def test_a_student_version_keeps_no_solution(built_exercises):
    for name in NAMES:
        student = (built_exercises / "student" / f"{name}.ipynb").read_text()
        solution = json.loads((ROOT / "exercises" / "solutions" / f"{name}.ipynb").read_text())
        assert "# SOLUTION" not in student and "BEGIN SOLUTION" not in student, name
        nb = json.loads(student)
        assert nb["metadata"]["kernelspec"]["name"] == solution["metadata"]["kernelspec"]["name"] == "sta663-jax"
        assert not [c for c in nb["cells"] if c.get("outputs")], f"{name}: a student version starts with no outputs"


def test_solutions_store_no_outputs():
    """The solutions are sources, like a template: their checks are what runs them."""
    for name in NAMES:
        nb = json.loads((ROOT / "exercises" / "solutions" / f"{name}.ipynb").read_text())
        assert not [c for c in nb["cells"] if c.get("outputs") or c.get("execution_count")], name


@pytest.mark.long  # and each exercise a work unit of its own under make test (conftest.py)
@pytest.mark.parametrize("name", NAMES)
def test_the_solution_passes_every_check_and_the_untouched_student_version_fails_each(built_exercises, name):
    """Graded as make grade grades (in the sandbox, judged outside), and for the
    exercises in WHOLE the solution also as JupyterLab's grader.check and Gradescope's
    autograder judge it: with otter, in the notebook's own kernel, where each check runs
    whole (check(answers()))."""
    sandbox_or_skip()
    autograder = built_exercises / "autograder" / f"{name}.zip"
    solved, solved_errors = exercises.grade(autograder, ROOT / "exercises" / "solutions" / f"{name}.ipynb")
    untouched, untouched_errors = exercises.grade(autograder, built_exercises / "student" / f"{name}.ipynb")
    questions = exercises.questions(built_exercises / "student" / f"{name}.ipynb")
    assert solved_errors == [], f"{name}: the solution raises: {solved_errors}"
    assert untouched_errors == [], f"{name}: an untouched student version runs without an error: {untouched_errors}"
    assert sorted(solved) == sorted(untouched) == questions
    for q in questions:
        score, possible, message = solved[q]
        assert possible > 0 and score == possible, f"{name} {q}: the solution fails: {message}"
        score, possible, message = untouched[q]
        assert score == 0, f"{name} {q}: the untouched student version passes"
        assert re.fullmatch(r"AssertionError: [A-Za-z].*", message), f"{name} {q}: {message}"
    if name in WHOLE:
        by_otter = otter_run(autograder, ROOT / "exercises" / "solutions" / f"{name}.ipynb", name)
        assert by_otter == {q: (solved[q][1], solved[q][1]) for q in questions}, by_otter


# The solutions also graded by otter (the checks whole, in the notebook's kernel, as
# grader.check and Gradescope run them): 02, the exercise tests/test_lab.py runs in
# JupyterLab, and 06, whose answers are the deepest (lists of dicts of arrays). The
# others' answers are plain numbers, strings and arrays, the same values either way;
# a kernel run each (5-8 s) would cost the test budget more than it could find.
WHOLE = ("02-prng", "06-pytrees-mlp")


def otter_run(autograder, notebook, name):
    """{question: (score, possible)} from otter's own `otter run` (the autograder zip's way),
    its kernel on Unix sockets: TCP ports taken by its kernel could be the very ports other
    tests running at once were just handed (lecture.tooling.free_port)."""
    import nbconvert.preprocessors
    from otter.run import main as run

    class OnUnixSockets(nbconvert.preprocessors.ExecutePreprocessor):
        def create_kernel_manager(self):
            return on_unix_sockets(super().create_kernel_manager(), tmp)

    # otter (7.0.0) looks its ExecutePreprocessor up in nbconvert.preprocessors at each run.
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), \
            pytest.MonkeyPatch.context() as patch:
        patch.setattr(nbconvert.preprocessors, "ExecutePreprocessor", OnUnixSockets)
        warnings.filterwarnings("ignore", "The inplace keyword in DataFrame.drop", module="otter")  # otter 7.0.0
        shutil.copyfile(notebook, Path(tmp) / f"{name}.ipynb")
        results = run(str(Path(tmp) / f"{name}.ipynb"), autograder=str(autograder), output_dir=None, no_logo=True)
    return {q: (r.score, r.possible) for q, r in results.results.items()}


def test_each_check_reads_only_its_answers(built_exercises):
    """make grade runs a check outside the student's kernel on its answers alone: it may
    import what it needs, but takes no name from the test function around it (the
    student's variables) or from the kernel's globals."""
    def globals_read(table):
        names = {s.get_name() for s in table.get_symbols() if s.is_global()}
        return names.union(*[globals_read(t) for t in table.get_children()])

    for name in NAMES:
        found = exercises.checks(built_exercises / "autograder" / f"{name}.zip")
        assert sorted(found) == exercises.questions(built_exercises / "student" / f"{name}.ipynb")
        for q, c in found.items():
            read = globals_read(symtable.symtable(c["check"], "check", "exec")) - {"check"}
            assert read <= set(dir(builtins)), f"{name} {q}: its check reads {read - set(dir(builtins))}"
            assert "def check" not in c["answers"] and c["params"], f"{name} {q}"


def test_grading_a_class_names_each_exercise_from_the_notebook_and_gives_every_submission_a_row(
        built_exercises, tmp_path):
    """A renamed copy is graded with no spurious error; an endless loop is stopped at the
    cell time-out; a broken file and a notebook of no exercise get their rows. (An honest,
    correct submission's full marks: the hostile class below.)"""
    sandbox_or_skip()
    returned = tmp_path / "returned"
    returned.mkdir()
    shutil.copyfile(built_exercises / "student" / "02-prng.ipynb", returned / "bob.ipynb")  # named in its cells only
    looping = json.loads((built_exercises / "student" / "03-jit.ipynb").read_text())
    cell = next(c for c in looping["cells"] if "".join(c["source"]) == "SELU_jit = ...")
    cell["source"] = "while True:\n    pass"
    (returned / "carol-03.ipynb").write_text(json.dumps(looping))
    (returned / "notes.ipynb").write_text('{"cells": [')
    stranger = json.loads((built_exercises / "student" / "02-prng.ipynb").read_text())
    stranger["cells"] = [c for c in stranger["cells"] if "otter" not in "".join(c["source"])]
    (returned / "stranger.ipynb").write_text(json.dumps(stranger))
    submissions = [returned / n for n in ("bob.ipynb", "notes.ipynb", "stranger.ipynb")]

    rows = exercises.grade_all(submissions, autograders=built_exercises / "autograder", progress=lambda line: None)
    # The endless loop alone with a 3 s limit a cell: on a busy machine its setup cell may
    # reach the limit first, and the outcome is the same row either way.
    (carol,) = exercises.grade_all([returned / "carol-03.ipynb"], cell_timeout=3,
                                   autograders=built_exercises / "autograder", progress=lambda line: None)

    bob, notes, stranger = rows
    rows = [bob, carol, notes, stranger]
    assert (bob["exercise"], bob["status"], bob["errors"]) == ("02-prng", "graded", [])
    assert bob["score"] == 0 and bob["possible"] == len(bob["questions"]) == 3
    assert (carol["exercise"], carol["status"]) == ("03-jit", "not graded: a cell ran past 3 s")
    assert notes["status"] == "not graded: not a readable notebook (invalid JSON, or not an .ipynb)"
    assert stranger["status"].startswith("not graded: answers no exercise")
    head, body = exercises.table(rows)
    assert head == ["submission", "exercise", "score", "possible", "q1", "q2", "q3", "status"]
    assert body[0][1:] == ["02-prng", "0", "3", "0", "0", "0", "graded"]
    exercises.write_csv(rows, tmp_path / "grades.csv")
    assert (tmp_path / "grades.csv").read_text().splitlines()[0] == ",".join(head)
    assert exercises.markdown(rows).count("\n") == 1 + len(rows)


def test_a_submission_past_its_time_is_stopped_with_everything_it_started(built_exercises, tmp_path):
    sandbox_or_skip()
    marker = f"daemon-{uuid.uuid4().hex}"
    (tmp_path / "03-jit.ipynb").write_text(json.dumps(looping_with_daemon(built_exercises / "student" / "03-jit.ipynb",
                                                                          marker)))
    # Stopped at 6 s, whether its kernel is looping by then or still starting on a busy machine.
    with pytest.raises(exercises.GradingError, match=r"^ran past 6 s and was stopped$"):
        exercises.grade(built_exercises / "autograder" / "03-jit.zip", tmp_path / "03-jit.ipynb",
                        timeout=6, cell_timeout=600)
    assert running(marker) == []


def with_cell(student, source, at=2):
    """A student version (its path, or the notebook) with one more code cell, after its setup cell."""
    nb = json.loads(Path(student).read_text()) if isinstance(student, Path) else student
    nb["cells"].insert(at, {"cell_type": "code", "id": uuid.uuid4().hex[:8], "metadata": {}, "outputs": [],
                            "execution_count": None, "source": source})
    return nb


def looping_with_daemon(student, marker):
    """A student version whose first cell after the setup starts a daemon of its own
    session (`marker` in its command line, meant to live 10 minutes), then loops forever."""
    return with_cell(student, f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', "
                              f"'import time; time.sleep(600)', {marker!r}], start_new_session=True)\n"
                              "while True:\n    pass")


def running(marker):
    """The processes (pids) whose command line holds `marker`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if marker.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
    return found


def stranger_notebook(built_exercises):
    """A notebook of no exercise: graded at once (no kernel), its row says so."""
    nb = json.loads((built_exercises / "student" / "02-prng.ipynb").read_text())
    nb["cells"] = [c for c in nb["cells"] if "otter" not in "".join(c["source"])]
    return json.dumps(nb)


def test_a_folder_and_names_with_spaces_are_graded(built_exercises, tmp_path, capsys):
    folder = tmp_path / "my returned"
    folder.mkdir()
    (folder / "my sub.ipynb").write_text(stranger_notebook(built_exercises))
    assert exercises.main(["grade", str(folder)]) == 0
    assert "| " + str(folder / "my sub.ipynb") + " |" in capsys.readouterr().out


def test_the_csv_never_replaces_a_file_unless_told(built_exercises, tmp_path, capsys):
    sub = tmp_path / "sub.ipynb"
    sub.write_text(stranger_notebook(built_exercises))
    for existing in (tmp_path / "grades.csv", ROOT / "README.md"):
        if existing.parent == tmp_path:
            existing.write_text("keep me\n")
        before = existing.read_bytes()
        with pytest.raises(SystemExit) as stop:
            exercises.main(["grade", str(sub), "--csv", str(existing)])
        assert "add FORCE=1 to replace it" in str(stop.value)
        assert existing.read_bytes() == before
    assert exercises.main(["grade", str(sub), "--csv", str(tmp_path / "grades.csv"), "--force"]) == 0
    assert "answers no exercise" in (tmp_path / "grades.csv").read_text()


def test_an_interrupted_grading_keeps_the_rows_it_finished_and_names_the_rest(tmp_path, monkeypatch, capsys):
    subs = [tmp_path / f"{name}.ipynb" for name in ("a", "b", "c")]
    for s in subs:
        s.write_text("{}")
    done = []

    def grade(autograder, submission, *args, **kwargs):
        if done:
            raise KeyboardInterrupt  # Ctrl-C during the second submission
        done.append(submission)
        return {"q1": (1, 1, "")}, []

    monkeypatch.setattr(exercises, "grade", grade)
    monkeypatch.setattr(exercises, "exercise_of", lambda submission, names: "02-prng")
    monkeypatch.setattr(sandbox, "check", lambda: None)
    monkeypatch.setattr(exercises, "AUTOGRADERS", tmp_path / "autograder")
    (tmp_path / "autograder").mkdir()
    (tmp_path / "autograder" / "02-prng.zip").write_text("")
    csv_path = tmp_path / "grades.csv"
    assert exercises.main(["grade", *map(str, subs), "--csv", str(csv_path)]) == 130
    lines = csv_path.read_text().splitlines()
    assert lines[1].startswith(str(subs[0])) and lines[1].endswith(",graded")
    assert lines[2].endswith("not graded: grading was interrupted") and lines[3].endswith("interrupted")
    assert f"not graded: {subs[1]}, {subs[2]}" in capsys.readouterr().err


def test_a_submission_that_kills_its_grader_is_reported_as_killed(built_exercises, tmp_path):
    sandbox_or_skip()
    nb = json.loads((built_exercises / "student" / "02-prng.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and "..." in "".join(c["source"]))
    cell["source"] = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"
    (tmp_path / "02-prng.ipynb").write_text(json.dumps(nb))
    (row,) = exercises.grade_all([tmp_path / "02-prng.ipynb"], autograders=built_exercises / "autograder",
                                 progress=lambda line: None)
    assert row["status"] == "not graded: the grader stopped: killed by SIGKILL", row["status"]


# Each a cell that a hostile student adds to the untouched 02-prng (after its setup
# cell), answering nothing: what it tries, and, where it cannot show it in its score,
# what it found, said in the error it raises (the row lists a cell's errors). To start
# fewer kernels they share notebooks, a cell each (CLASS): the attacks that would raise
# the score if they worked (any one working shows in it; the forger alone, as what it
# writes would hide the others'), and the probes of the walls (PROBES).
ATTACKS = {
    # otter's checks marked passed in the kernel: make grade does not run them there
    "otter": """
import dataclasses
from otter.test_files import exception_test
_run = exception_test.ExceptionTestFile.run
def run(self, env):
    _run(self, env)
    self.test_case_results = [dataclasses.replace(r, passed=True, message='') for r in self.test_case_results]
exception_test.ExceptionTestFile.run = run
""",
    # a daemon of its own session that writes full marks, in the old result file's form
    # and in the runner's, wherever it can: the folder, and the runner's result pipe
    "forger": """
import json, os, subprocess, sys
forged = json.dumps({'graded': {q: [1, 1, ''] for q in ('q1', 'q2', 'q3')}, 'errors': [],
                     'answers': {q: {'value': True} for q in ('q1', 'q2', 'q3')}})
code = f'''
import time
for _ in range(400):
    for path in ("result.json", "/tmp/result.json", "/proc/{os.getppid()}/fd/3"):
        try:
            with open(path, "w") as f:
                f.write({forged!r})
        except OSError:
            pass
    time.sleep(0.01)
'''
subprocess.Popen([sys.executable, '-c', code], start_new_session=True, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""",
    # array_equal that never finds two arrays equal, then three equal vectors
    "rebinder": """
jnp.array_equal = lambda *args, **kwargs: False
import numpy
numpy.array_equal = lambda *args, **kwargs: False
x1 = x2 = x3 = jnp.zeros(3)
""",
    # a double-forked daemon, and one holding the grader's pipes (stdout, stderr and the
    # runner's result pipe), each meant to live 10 minutes
    "daemons": """
import os, subprocess, sys
double = 'import os, sys, time\\nif os.fork(): sys.exit()\\nos.setsid()\\nif os.fork(): sys.exit()\\ntime.sleep(600)'
subprocess.Popen([sys.executable, '-c', double, MARKER], stdin=subprocess.DEVNULL)
holder = f"import os, time\\nfd = os.open('/proc/{os.getppid()}/fd/3', os.O_WRONLY)\\ntime.sleep(600)"
subprocess.Popen([sys.executable, '-c', holder, MARKER], start_new_session=True)
""",
}
PROBES = {
    # the answers, the autograder, the checkout, the grader's files and /etc/shadow
    "reader": """
import os, sys
from pathlib import Path
import lecture
root = Path(lecture.__file__).resolve().parents[2]
tried = [root / 'exercises' / 'solutions' / '02-prng.ipynb', root / 'exercises' / 'autograder' / '02-prng.zip',
         root / 'README.md', root / '.git' / 'HEAD', root / 'tests' / 'test_exercises.py', Path('/etc/shadow'),
         Path(GRADERS_FILE)]
read = [str(p) for p in tried if os.access(p, os.R_OK)]
secret = ('# SOL' + 'UTION', 'BEGIN ' + 'SOLUTION', 'run_' + 'autograder')
skip = ('/proc', '/sys', '/dev', '/usr', sys.prefix, sys.base_prefix)
found = []
for folder, subfolders, files in os.walk('/'):
    subfolders[:] = [d for d in subfolders if not os.path.join(folder, d).startswith(skip)]
    for f in files:
        try:
            text = open(os.path.join(folder, f), 'rb').read(10**7).decode(errors='ignore')
        except OSError:
            continue
        found += [os.path.join(folder, f)] * any(s in text for s in secret)
caps = open('/proc/self/status').read().split('CapEff:')[1].split()[0]
others = [open(f'/proc/{p}/cmdline', 'rb').read().split(b'\\0')[0].decode() for p in os.listdir('/proc') if p.isdigit()]
raise RuntimeError(f'read {read}; found {found}; uid {os.getuid()} caps {caps}; sees {sorted(set(others))}')
""",
    # the checkout, the package, the grader's home and folder, /tmp and /
    "writer": """
import os
from pathlib import Path
import lecture
root = Path(lecture.__file__).resolve().parents[2]
wrote = []
for folder in (root, Path(lecture.__file__).parent, Path(GRADERS_HOME), Path(GRADERS_FOLDER), Path('/tmp'), Path('/')):
    try:
        (folder / MARKER).write_text('x')
        wrote.append(str(folder))
    except OSError:
        pass
raise RuntimeError(f'wrote in {wrote}')
""",
    # the test's listener on 127.0.0.1, and a listener of its own on every address
    "network": """
import os, socket
try:
    socket.create_connection(('127.0.0.1', PORT), timeout=10).close()
    outcome = 'connected'
except OSError as e:
    outcome = type(e).__name__
server = socket.socket()
server.bind(('0.0.0.0', 0))
server.listen()
raise RuntimeError(f'connect: {outcome}; interfaces: {[n for _, n in socket.if_nameindex()]}; '
                   f'namespace: {os.readlink("/proc/self/ns/net")}')
""",
    # 20 GiB of memory (asked for, not touched)
    "memory": """
import numpy
try:
    numpy.empty(20 * 2**30, dtype=numpy.uint8)
    outcome = 'allocated'
except MemoryError:
    outcome = 'MemoryError'
raise RuntimeError(f'20 GiB: {outcome}')
""",
    # one 240 MiB file in /tmp, then 60 MiB files until none fits
    "disk": """
import errno
def fill(path, size):
    done = 0
    try:
        with open(path, 'wb', buffering=0) as f:
            while done < size:
                done += f.write(bytes(2**20))
    except OSError as e:
        return done, errno.errorcode[e.errno]
    return done, None
first = fill('/tmp/big-0', 240 * 2**20)
rest = [fill(f'/tmp/big-{i}', 60 * 2**20) for i in range(1, 8)]
total = first[0] + sum(n for n, _ in rest)
raise RuntimeError(f'first: {first}; total: {total}; last: {rest[-1][1]}')
""",
}


CLASS = {"tamperer": [ATTACKS[name] for name in ("otter", "rebinder", "daemons")], "forger": [ATTACKS["forger"]],
         "prober": list(PROBES.values())}


@pytest.mark.long  # a work unit of its own under make test (conftest.py)
def test_hostile_submissions_get_no_marks_reach_nothing_and_leave_nothing(built_exercises, tmp_path, monkeypatch):
    """Every attack of issue 31, graded in one class with an honest submission, through
    make grade's own path (grade_all: the sandbox, the checks outside)."""
    sandbox_or_skip()
    marker = f"attack-{uuid.uuid4().hex}"
    graders_file = tmp_path / "grader-only.txt"
    graders_file.write_text("the grader's\n")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    fill = {"MARKER": repr(marker), "GRADERS_FILE": repr(str(graders_file)), "GRADERS_HOME": repr(str(Path.home())),
            "GRADERS_FOLDER": repr(str(tmp_path)), "PORT": str(listener.getsockname()[1])}
    returned = tmp_path / "returned"
    returned.mkdir()
    shutil.copyfile(ROOT / "exercises" / "solutions" / "02-prng.ipynb", returned / "honest.ipynb")
    for name, cells in CLASS.items():
        nb = json.loads((built_exercises / "student" / "02-prng.ipynb").read_text())
        for source in reversed(cells):
            for key, value in fill.items():
                source = source.replace(key, value)
            nb = with_cell(nb, source.strip())
        (returned / f"{name}.ipynb").write_text(json.dumps(nb))
    graders_tmp = tmp_path / "tmp"  # the grader's temporary folders, here to see what is left in them
    graders_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(graders_tmp))

    rows = {Path(r["submission"]).stem: r for r in exercises.grade_all(
        sorted(returned.iterdir()), autograders=built_exercises / "autograder", progress=lambda line: None)}

    honest = rows.pop("honest")
    assert (honest["status"], honest["score"], honest["possible"], honest["errors"]) == ("graded", 3, 3, [])
    forger = rows.pop("forger")  # what it writes into the runner's pipe may come first (its answers, all wrong),
    assert forger["score"] in (0, ""), forger  # or break the runner's (no row then): either way, no marks
    assert forger["status"] == "graded" or forger["status"].startswith("not graded: the grader stopped"), forger
    for name, row in rows.items():
        assert (row["status"], row["score"], row["possible"]) == ("graded", 0, 3), (name, row)
    assert len(rows["prober"]["errors"]) == len(PROBES)  # each of its cells ran, and said what it reached
    said = dict(zip(PROBES, rows.pop("prober")["errors"]))
    assert rows["tamperer"]["errors"] == [], rows["tamperer"]["errors"]
    assert re.fullmatch(r"RuntimeError: read \[\]; found \[\]; uid 65534 caps 0+; sees \[.*\]", said["reader"]), \
        said["reader"]
    seen = said["reader"].split("sees ")[1]
    assert "pytest" not in seen and "bwrap" in seen, seen  # its own PID namespace: the sandbox's processes only
    assert said["writer"] == "RuntimeError: wrote in ['/tmp']", said["writer"]  # its own /tmp, in its folder
    for folder in (ROOT, ROOT / "src" / "lecture", Path.home(), tmp_path, Path("/tmp"), Path("/")):
        assert not (folder / marker).exists(), folder
    outside = os.readlink("/proc/self/ns/net")
    assert re.fullmatch(r"RuntimeError: connect: ConnectionRefusedError; interfaces: \['lo'\]; namespace: net:\[\d+\]",
                        said["network"]) and outside not in said["network"], said["network"]
    with pytest.raises(BlockingIOError):
        listener.accept()  # no connection came
    assert said["memory"] == "RuntimeError: 20 GiB: MemoryError"
    first, total, last = re.fullmatch(r"RuntimeError: first: \((\d+), '(\w+)'\); total: (\d+); last: (\w+)",
                                      said["disk"]).group(1, 3, 4)
    assert int(first) <= sandbox.FILE_LIMIT and int(total) <= sandbox.FOLDER_LIMIT and last == "ENOSPC", said["disk"]
    assert list(graders_tmp.iterdir()) == []  # nothing left in the grader's temporary folder
    assert running(marker) == []  # nothing runs after grading returns


def test_killing_make_grade_ends_its_sandbox(built_exercises, tmp_path):
    sandbox_or_skip()
    marker = f"orphan-{uuid.uuid4().hex}"
    (tmp_path / "02-prng.ipynb").write_text(json.dumps(looping_with_daemon(built_exercises / "student" / "02-prng.ipynb",
                                                                           marker)))
    grading = "import sys, exercises; exercises.grade_all(sys.argv[1:2], autograders=sys.argv[2])"  # as make grade
    grader = subprocess.Popen([sys.executable, "-c", grading, tmp_path / "02-prng.ipynb",
                               built_exercises / "autograder"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=os.environ | {"PYTHONPATH": str(ROOT / "tools")})
    try:
        wait_for(lambda: running(marker) or grader.poll() is not None, "the submission's daemon did not start",
                 limit=300)
        assert grader.poll() is None, f"grading ended before its submission started: {grader.communicate()[0]}"
        os.kill(grader.pid, signal.SIGKILL)
        grader.wait()
        wait_for(lambda: not running(marker), "the sandbox did not end with make grade", limit=300)
    finally:
        grader.kill()


def test_make_grade_stops_without_its_sandbox_and_never_runs_code_unconfined(built_exercises, tmp_path, monkeypatch):
    sub = tmp_path / "02-prng.ipynb"
    shutil.copyfile(built_exercises / "student" / "02-prng.ipynb", sub)
    monkeypatch.setattr(sandbox, "BWRAP", str(tmp_path / "no-bwrap"))
    with pytest.raises(SystemExit) as stop:
        exercises.main(["grade", str(sub)])
    assert str(stop.value).startswith("make grade: bubblewrap (bwrap) is missing") and "\n" not in str(stop.value)
    with pytest.raises(exercises.GradingError, match="^the sandbox could not start"):
        exercises.grade(built_exercises / "autograder" / "02-prng.zip", sub)


def test_the_sandbox_keeps_the_first_of_its_result_and_the_last_of_its_output(monkeypatch):
    """What is read back from a sandbox is bounded: its result's first bytes (the runner's
    JSON comes first), its output's last (the line that says why it stopped)."""
    sandbox_or_skip()
    monkeypatch.setattr(sandbox, "OUTPUT_LIMIT", 1000)
    noisy = ("import os, sys\nos.write(3, b'{\"first\": 1}' + b' ' * 5000)\n"
             "for i in range(500):\n    print('noise', i)\nprint('why it stopped')\nsys.exit(3)")
    outcome = sandbox.run(sandbox.command([sys.executable, "-c", noisy], visible=sandbox.environment()), timeout=120)
    assert (outcome.returncode, outcome.timed_out) == (3, False)
    assert outcome.result.startswith(b'{"first": 1}') and len(outcome.result) == 1000
    assert outcome.output.endswith(b"why it stopped\n") and len(outcome.output) == 1000
