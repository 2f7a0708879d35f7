"""The exercises (exercises/solutions/, otter-grader's format): built as `make
exercises` builds them, then graded as an instructor grades (`otter run`, in this
environment, with the project's kernel). Every solution passes every check; every
untouched student version runs without an error and fails every check, each for the
plain reason its check gives (an AssertionError with a sentence), which proves the
check ran."""

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

import catalog
import exercises
from helpers import ROOT

NAMES = exercises.exercise_names()


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
    autograder = built_exercises / "autograder" / f"{name}.zip"
    # In this process: these are the project's own notebooks, and what is tested here is
    # the exercise's checks (make grade's containment is tested on a class below).
    solved, solved_errors = exercises.grade(autograder, ROOT / "exercises" / "solutions" / f"{name}.ipynb",
                                            contained=False)
    untouched, untouched_errors = exercises.grade(autograder, built_exercises / "student" / f"{name}.ipynb",
                                                  contained=False)
    questions = exercises.questions(built_exercises / "student" / f"{name}.ipynb")
    assert solved_errors == [], f"{name}: the solution raises: {solved_errors}"
    assert untouched_errors == [], f"{name}: an untouched student version runs without an error: {untouched_errors}"
    assert sorted(solved) == sorted(untouched) == questions
    for q in questions:
        score, possible, message = solved[q]
        assert possible > 0 and score == possible, f"{name} {q}: the solution fails: {message}"
        score, possible, message = untouched[q]
        assert score == 0, f"{name} {q}: the untouched student version passes"
        assert re.search(r"^AssertionError: [A-Za-z]", message, re.M), f"{name} {q}: {message}"


def test_grading_a_class_names_each_exercise_from_the_notebook_and_gives_every_submission_a_row(
        built_exercises, tmp_path):
    """A renamed copy is graded with no spurious error; an honest, correct submission gets
    full marks through the same contained path; an endless loop is stopped at the cell
    time-out; a broken file and a notebook of no exercise get their rows."""
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
    shutil.copyfile(ROOT / "exercises" / "solutions" / "02-prng.ipynb", returned / "alice.ipynb")  # every answer right
    submissions = [returned / n for n in ("bob.ipynb", "alice.ipynb", "notes.ipynb", "stranger.ipynb")]

    rows = exercises.grade_all(submissions, autograders=built_exercises / "autograder", progress=lambda line: None)
    # The endless loop alone with a 3 s limit a cell: on a busy machine its setup cell may
    # reach the limit first, and the outcome is the same row either way.
    (carol,) = exercises.grade_all([returned / "carol-03.ipynb"], cell_timeout=3,
                                   autograders=built_exercises / "autograder", progress=lambda line: None)

    bob, alice, notes, stranger = rows
    rows = [bob, carol, notes, stranger]
    assert (bob["exercise"], bob["status"], bob["errors"]) == ("02-prng", "graded", [])
    assert bob["score"] == 0 and bob["possible"] == len(bob["questions"]) == 3
    assert (alice["exercise"], alice["status"], alice["errors"]) == ("02-prng", "graded", [])
    assert alice["score"] == alice["possible"] == 3
    assert (carol["exercise"], carol["status"]) == ("03-jit", "not graded: a cell ran past 3 s")
    assert notes["status"] == "not graded: not a readable notebook (invalid JSON, or not an .ipynb)"
    assert stranger["status"].startswith("not graded: answers no exercise")
    head, body = exercises.table(rows)
    assert head == ["submission", "exercise", "score", "possible", "q1", "q2", "q3", "status"]
    assert body[0][1:] == ["02-prng", "0", "3", "0", "0", "0", "graded"]
    exercises.write_csv(rows, tmp_path / "grades.csv")
    assert (tmp_path / "grades.csv").read_text().splitlines()[0] == ",".join(head)
    assert exercises.markdown(rows).count("\n") == 1 + len(rows)


def test_a_submission_past_its_time_is_stopped_with_everything_it_started(built_exercises, tmp_path, monkeypatch):
    looping = json.loads((built_exercises / "student" / "03-jit.ipynb").read_text())
    cell = next(c for c in looping["cells"] if "".join(c["source"]) == "SELU_jit = ...")
    cell["source"] = "while True:\n    pass"
    (tmp_path / "03-jit.ipynb").write_text(json.dumps(looping))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the grading's folder, to find its processes
    # Stopped at 6 s, whether its kernel is looping by then or still starting on a busy machine.
    with pytest.raises(exercises.GradingError, match=r"^ran past 6 s and was stopped$"):
        exercises.grade(built_exercises / "autograder" / "03-jit.zip", tmp_path / "03-jit.ipynb",
                        timeout=6, cell_timeout=600)

    def ours(proc):
        try:
            return str(tmp_path) in (proc / "cmdline").read_text(errors="replace") + os.readlink(proc / "cwd")
        except OSError:  # gone meanwhile, or not ours to read
            return False

    assert [p for p in Path("/proc").glob("[0-9]*") if ours(p)] == []


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
    monkeypatch.setattr(exercises, "_unprivileged_user", lambda: None)
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
    nb = json.loads((built_exercises / "student" / "02-prng.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and "..." in "".join(c["source"]))
    cell["source"] = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"
    (tmp_path / "02-prng.ipynb").write_text(json.dumps(nb))
    (row,) = exercises.grade_all([tmp_path / "02-prng.ipynb"], autograders=built_exercises / "autograder",
                                 progress=lambda line: None)
    assert row["status"] == "not graded: the grader stopped: killed by SIGKILL", row["status"]
