"""Inside make grade's sandbox (tools/sandbox.py): run one submitted notebook and hand
out its answers as plain values.

    python run_submission.py SUBMISSION ANSWERS CELL_TIMEOUT

SUBMISSION is the student's notebook (read-only), ANSWERS a JSON file of what to take out
of it: for each question, the parameters and source of its `answers` function (the first
half of the exercise's check; the second half, which judges, never enters the sandbox).
Every code cell runs in the project's kernel, errors noted and the next cell run, then
one more cell calls each `answers` function with the student's variables and prints what
it returns as JSON. That JSON goes to file descriptor 3, the only thing make grade reads
back, and only as data: everything in here, this file included, is the student's to
change, so nothing it writes decides a score by itself.
"""

import json
import os
import shutil
import sys
from pathlib import Path

RESULT_FD = 3
MARK = "--answers--"
# Cells that only ask otter for feedback (`grader.check("q1")`): make grade judges outside.
FEEDBACK_CELL = "grader.check("

# Runs in the student's kernel after the student's cells. Plain values only: None, bools,
# numbers, strings, lists, dicts with string keys and NumPy arrays of numbers or bools
# (as {"__ndarray__": dtype, "shape", "data"}); anything else becomes {"__unsupported__":
# its type's name}. Never pickle: make grade decodes these with json alone.
EXTRACT = r'''
def _grading_extract(questions, mark):
    import json, numpy

    def plain(v, depth=0):
        if depth > 20:
            return {"__unsupported__": "nesting deeper than 20"}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, numpy.generic):
            v = numpy.asarray(v)
        if isinstance(v, numpy.ndarray):
            if v.dtype.kind not in "biuf":
                return {"__unsupported__": f"array of {v.dtype}"}
            return {"__ndarray__": v.dtype.name, "shape": list(v.shape), "data": v.ravel().tolist()}
        if isinstance(v, (list, tuple)):
            return [plain(x, depth + 1) for x in v]
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {k: plain(x, depth + 1) for k, x in v.items()}
        return {"__unsupported__": type(v).__name__}

    out = {}
    for name, (params, source) in questions.items():
        space = {}
        try:
            exec(source, space)
            g = globals()
            out[name] = {"value": plain(space["answers"](*[g.get(p) for p in params]))}
        except BaseException as e:
            out[name] = {"error": f"{type(e).__name__}: {e}"}
    print(mark + json.dumps(out))

_grading_extract(QUESTIONS, MARK)
del _grading_extract
'''


def main(submission, answers, cell_timeout):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from lecture.tooling import on_unix_sockets

    result = os.fdopen(RESULT_FD, "w")
    for folder in ("home", "runtime", "mpl"):  # HOME, Jupyter's, matplotlib's (TMPDIR is the folder itself)
        Path(folder).mkdir(exist_ok=True)
    questions = json.loads(Path(answers).read_text())
    # Under the exercise's own name, in the writable folder: its first cell's
    # otter.Notebook("NN-topic.ipynb") finds it.
    work = Path.cwd() / questions.pop("__notebook__")
    shutil.copyfile(submission, work)
    nb = nbformat.read(work, as_version=4)
    nb.cells = [c for c in nb.cells if c.cell_type == "code" and not c.source.strip().startswith(FEEDBACK_CELL)]
    nb.cells.append(nbformat.v4.new_code_cell(EXTRACT.replace("QUESTIONS, MARK", f"{questions!r}, {MARK!r}")))
    client = NotebookClient(nb, timeout=cell_timeout, allow_errors=True, kernel_name="sta663-jax",
                            resources={"metadata": {"path": str(work.parent)}})
    on_unix_sockets(client.create_kernel_manager(), work.parent)  # no network in here anyway
    try:
        client.execute()
    except CellTimeoutError:
        json.dump({"failure": f"a cell ran past {cell_timeout} s"}, result)
        return
    except DeadKernelError:
        json.dump({"failure": "the kernel died (a cell ended it, or it ran out of memory)"}, result)
        return
    *cells, extract = nb.cells
    errors = [f"{o.ename}: {o.evalue}" for c in cells for o in c.get("outputs", []) if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in extract.get("outputs", []) if o.output_type == "stream")
    line = next((ln for ln in printed.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        json.dump({"failure": "no answers came out of the notebook", "errors": errors}, result)
        return
    json.dump({"answers": json.loads(line[len(MARK):]), "errors": errors}, result)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
