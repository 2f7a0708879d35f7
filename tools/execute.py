"""Re-execute notebooks in place, top to bottom, so that their stored outputs are real.

    python tools/execute.py [NOTEBOOK ...]      (default: every notebooks/*.ipynb)

Each notebook runs in a fresh kernel of this Python environment (the one the tests
use). A notebook is written back only after every cell has run; when a cell fails,
the file is left as it was and the failing cell is named. Cells tagged
`raises-exception` are expected to raise, and it is an error if they do not.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbclient.util import run_sync
from jupyter_client import AsyncKernelManager
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def execute_notebook(nb, cwd, timeout=600, name="notebook"):
    """Execute `nb` in place, in a fresh kernel of this environment started in `cwd`.
    Raises RuntimeError naming the failing cell, or a tagged cell that raised nothing."""
    km = AsyncKernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager())
    client = NotebookClient(nb, km=km, timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    except CellTimeoutError:
        # nbclient numbers a cell as it starts: the last numbered one is the one that ran on.
        index = max((i for i, c in enumerate(nb.cells)
                     if c.cell_type == "code" and c.get("execution_count") is not None), default=None)
        raise RuntimeError(f"{name}: cell {index} ran past the {timeout} s time-out; "
                           "the notebook was not written.") from None
    except CellExecutionError as e:
        index = next(
            (i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs")
             and any(o.get("output_type") == "error" for o in c.outputs)
             and "raises-exception" not in c.metadata.get("tags", [])),
            None,
        )
        raise RuntimeError(f"{name}: cell {index} failed; the notebook was not written.\n{e}") from None
    finally:
        _shutdown(km)
    for i, cell in enumerate(nb.cells):
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            if not any(o.get("output_type") == "error" for o in cell.outputs):
                raise RuntimeError(
                    f"{name}: cell {i} is tagged raises-exception but raised nothing; "
                    "the notebook was not written."
                )
    return nb


def execute(path, timeout=600):
    """Execute the notebook at `path`; return it executed (the file is not touched)."""
    nb = nbformat.read(path, as_version=4)
    kernelspec = dict(nb.metadata.get("kernelspec", {}))
    execute_notebook(nb, path.parent, timeout, path.name)
    # Keep the notebook's own kernel name; nbclient would record the test kernel's.
    nb.metadata["kernelspec"] = kernelspec
    return nb


def _shutdown(km):
    # An asynchronous kernel manager: with a blocking one, nbclient's per-cell
    # time-out never fires (nbclient 0.11).
    if km.has_kernel:
        run_sync(km.shutdown_kernel)(now=True)


def write_atomically(nb, path):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".ipynb")
    os.close(fd)
    try:
        nbformat.write(nb, tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description="Re-execute notebooks in place.")
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds a cell may run (default %(default)s)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    failed = 0
    for path in paths:
        path = path.resolve()
        start = time.perf_counter()
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"executing {shown} ...", end=" ", flush=True)
        try:
            nb = execute(path, args.timeout)
        except RuntimeError as e:
            print("FAILED")
            print(e, file=sys.stderr)
            failed += 1
            continue
        write_atomically(nb, path)
        print(f"done in {time.perf_counter() - start:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
