"""The exercises (exercises/solutions/, otter-grader's format): built as `make
exercises` builds them, then graded as an instructor grades (`otter run`, in this
environment, with the project's kernel). Every solution passes every check; every
untouched student version runs without an error and fails every check, each for the
plain reason its check gives (an AssertionError with a sentence), which proves the
check ran."""

import json
import re

import pytest

import exercises
from helpers import ROOT

NAMES = exercises.exercise_names()


def test_there_is_an_exercise_per_section_with_two_to_four_questions(built_exercises):
    sections = {"02", "03", "04", "05", "06"}  # PRNG, jit, autograd & vmap, regression, pytrees & MLP
    assert {name[:2] for name in NAMES} == sections
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
        assert re.search(r"^AssertionError: [A-Za-z]", message, re.M), f"{name} {q}: {message}"
