"""`make exercises` and `make grade`: the exercises, built and graded with otter-grader.

exercises/solutions/NN-topic.ipynb is written once, questions with their solutions
and checks, in otter's notebook format. `build` turns each into

    exercises/student/NN-topic.ipynb     every solution replaced by `...`; the checks
                                         stored in the notebook, run by grader.check("q1")
    exercises/autograder/NN-topic.zip    otter's autograder for it

and `grade` runs an autograder on submitted notebooks with `otter run` (no
container: the submission runs in this environment, with the project's kernel) and
prints each question's score.
"""

import argparse
import contextlib
import io
import json
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "exercises"
SOLUTIONS = EXERCISES / "solutions"


def exercise_names(solutions=SOLUTIONS):
    return sorted(p.stem for p in Path(solutions).glob("[0-9]*.ipynb"))


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


def grade(autograder, submission):
    """Grade one notebook with one autograder zip: ({question: (score, possible, message)},
    the errors its cells raised while it ran, as "Name: message")."""
    from otter.run import main as otter_run

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # otter 7.0.0 calls DataFrame.drop(inplace=True), which pandas 3.1 deprecates
        warnings.filterwarnings("ignore", "The inplace keyword in DataFrame.drop", module="otter")
        results = otter_run(str(submission), autograder=str(autograder), output_dir=None, no_logo=True)
    if results.catastrophic_error:
        raise RuntimeError(f"grading {submission} failed: {results.catastrophic_error}")
    graded = {}
    for name, test_file in sorted(results.results.items()):
        messages = [r.message.strip() for r in test_file.test_case_results if not r.passed and r.message]
        graded[name] = (test_file.score, test_file.possible, "\n".join(messages))
    cells = results.notebook.cells if results.notebook else []
    errors = [f"{o.ename}: {o.evalue}" for c in cells for o in c.get("outputs", []) if o.output_type == "error"]
    return graded, errors


def exercise_of(submission, names):
    """The exercise a submitted notebook answers, from its file name (NN-...)."""
    stem = Path(submission).name
    matches = [n for n in names if stem.startswith(n) or stem.startswith(n.split("-")[0] + "-")]
    if len(matches) != 1:
        sys.exit(f"make grade: cannot tell which exercise {submission} is; name it like "
                 f"{names[0]}.ipynb (the student version's name), or pass --exercise")
    return matches[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="student versions and autograders of the exercises")
    b.add_argument("names", nargs="*", help="exercises to build (default: all), e.g. 02-prng")
    g = sub.add_parser("grade", help="grade submitted notebooks")
    g.add_argument("submissions", nargs="+", type=Path)
    g.add_argument("--exercise", help="the exercise they answer (default: from each file's name)")
    args = parser.parse_args(argv)

    if args.command == "build":
        build(args.names or None)
        return 0
    names = exercise_names()
    missing = [p for p in args.submissions if not p.is_file()]
    if missing:
        sys.exit(f"make grade: no such notebook: {', '.join(map(str, missing))}")
    for submission in args.submissions:
        name = args.exercise or exercise_of(submission, names)
        autograder = EXERCISES / "autograder" / f"{name}.zip"
        if not autograder.is_file():
            sys.exit(f"make grade: {autograder.relative_to(ROOT)} is missing; run `make exercises` first")
        graded, errors = grade(autograder, submission)
        score = sum(s for s, _, _ in graded.values())
        possible = sum(p for _, p, _ in graded.values())
        print(f"{submission}  ({name}): {score:g} / {possible:g}")
        for question, (s, p, message) in graded.items():
            print(f"  {question}: {s:g} / {p:g}" + (f"  {message.splitlines()[-1]}" if message else ""))
        for error in errors:
            print(f"  a cell raised {error.splitlines()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
