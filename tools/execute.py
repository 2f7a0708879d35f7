"""Re-execute notebooks in place, top to bottom, so that their stored outputs are real.

    python tools/execute.py [NOTEBOOK ...]      (default: every numbered notebook, notebooks/[0-9]*.ipynb)

Each notebook runs in a fresh kernel of this Python environment (the one the tests
use). A notebook is written back only after every cell has run; when a cell fails,
the file is left as it was and the failing cell is named. Cells tagged
`raises-exception` are expected to raise, and it is an error if they do not. A file
that is not a notebook (invalid JSON) is named in one line, and the others still run.

Ctrl-C or SIGTERM stops it at once: the running kernel is killed, the notebook it was
running is left as it was, no other notebook runs, and one line says which notebooks
were written and which were not. A notebook is written to a temporary file beside it
(`.NAME.ipynb.XXXX.part`, which no `*.ipynb` glob matches) and renamed over it, so it
is never half-written.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbclient.util import run_sync
from jupyter_client import AsyncKernelManager
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

from lecture.tooling import ROOT, NotebookError, numbered_notebooks, on_unix_sockets, read_notebook, write_text_atomically


class Stop:
    """Ctrl-C (SIGINT) and SIGTERM, honoured: the handler only records the signal and kills
    the running kernel's process group, so that nbclient's wait ends (a dead kernel) and
    nothing is interrupted half-way through a write; the caller checks `signal` after
    each step and stops. (nbclient would put its own handlers in place of these while a
    notebook runs, and drop them after it, so notebooks run in a thread of their own:
    nbclient sets no handler there, and these stay in the main thread.)"""

    signal = None
    km = None  # the kernel manager of the notebook now running

    @classmethod
    def install(cls):
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, cls._handle)

    @classmethod
    def _handle(cls, signum, frame):
        cls.signal = signum
        cls.kill_kernel()

    @classmethod
    def kill_kernel(cls):
        provisioner = getattr(cls.km, "provisioner", None) if cls.km is not None else None
        pgid, pid = getattr(provisioner, "pgid", None), getattr(provisioner, "pid", None)
        try:
            if pgid:
                os.killpg(pgid, signal.SIGKILL)
            elif pid:
                os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    @classmethod
    def name(cls):
        return signal.Signals(cls.signal).name if cls.signal else None


class Interrupted(Exception):
    """A notebook's run was stopped by Ctrl-C or SIGTERM."""


def run_cells(nb, cwd, timeout, name, allow_errors=False):
    """Every cell of `nb` run in a fresh kernel of this environment started in `cwd` (in a
    thread: see Stop); nbclient's errors as they come; Interrupted after a signal."""
    km = AsyncKernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager())
    sockets = tempfile.TemporaryDirectory(prefix="kernel-")  # its Unix sockets, a folder of their own
    on_unix_sockets(km, sockets.name)
    Stop.km = km

    running = {}

    def before_each_cell(cell_index=None, **_):
        running["cell"] = cell_index  # the cell a time-out stopped, whatever the stored counts say
        if Stop.signal:  # a signal that came while the kernel was starting
            Stop.kill_kernel()
            raise Interrupted(name)

    client = NotebookClient(nb, km=km, timeout=timeout, record_timing=False, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}}, on_cell_start=before_each_cell)
    try:
        # The kernel's own stderr is not a cell's output, which comes over its channels.
        _in_a_thread(client.execute, stderr=subprocess.DEVNULL)
    except Exception as e:
        if Stop.signal:
            raise Interrupted(name) from None
        e.cell_index = running.get("cell")
        raise
    finally:
        _shutdown(km)
        Stop.km = None
        sockets.cleanup()
    return nb


def _in_a_thread(function, **kwargs):
    """function(**kwargs) in a thread of its own, the main thread waiting for it (and free
    to take signals); its exception raised here."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function(**kwargs)
        except BaseException as e:  # noqa: BLE001  (handed to the caller)
            outcome["error"] = e

    worker = threading.Thread(target=run, name="notebook", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def execute_notebook(nb, cwd, timeout=600, name="notebook"):
    """Execute `nb` in place, in a fresh kernel of this environment started in `cwd`.
    Raises RuntimeError naming the failing cell, or a tagged cell that raised nothing;
    Interrupted when Ctrl-C or SIGTERM stopped it (after Stop.install())."""
    try:
        run_cells(nb, cwd, timeout, name)
    except CellTimeoutError as e:
        index = e.cell_index  # the cell that was running (run_cells)
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
    return _check_tagged(nb, name)


def _check_tagged(nb, name):
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
    try:
        nb = read_notebook(path)
    except NotebookError as e:  # not JSON, or JSON that is not a notebook
        raise RuntimeError(f"{e}; left as it was.") from None
    kernelspec = dict(nb.metadata.get("kernelspec", {}))
    execute_notebook(nb, path.parent, timeout, path.name)
    # Keep the notebook's own kernel name; nbclient would record the test kernel's.
    nb.metadata["kernelspec"] = kernelspec
    return nb


def _shutdown(km):
    # An asynchronous kernel manager: with a blocking one, nbclient's per-cell
    # time-out never fires (nbclient 0.11).
    if km.has_kernel:
        _in_a_thread(run_sync(km.shutdown_kernel), now=True)


def writable(path):
    """OSError now, before its cells run, when `path` cannot be replaced: read-only, immutable
    (root too is refused), or in a folder that cannot be written."""
    with open(path, "r+b"):
        pass
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(13, "its folder cannot be written", str(path.parent))


def write_atomically(nb, path):
    """`nb` written whole or not at all (lecture.tooling)."""
    write_text_atomically(path, nbformat.writes(nb) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Re-execute notebooks in place.")
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds a cell may run (default %(default)s)")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be a positive number of seconds")
    paths = [p.resolve() for p in args.notebooks] or numbered_notebooks()
    Stop.install()
    written, failed = [], []
    for path in paths:
        if Stop.signal:
            break
        start = time.perf_counter()
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"executing {shown} ...", end=" ", flush=True)
        try:
            writable(path)
            nb = execute(path, args.timeout)
            write_atomically(nb, path)
        except Interrupted:
            print("stopped")
            break
        except RuntimeError as e:
            print("FAILED")
            print(e, file=sys.stderr)
            failed.append(path)
            continue
        except OSError as e:
            print("FAILED")
            print(f"{path.name}: cannot be written ({e.strerror or type(e).__name__}); left as it was: "
                  "make it writable (chmod u+w; chattr -i where it is immutable)", file=sys.stderr)
            failed.append(path)
            continue
        written.append(path)
        print(f"done in {time.perf_counter() - start:.1f} s")
    if Stop.signal:
        names = lambda ps: ", ".join(p.name for p in ps) or "none"  # noqa: E731
        print(f"make execute: stopped by {Stop.name()}; written: {names(written)}; "
              f"left as they were: {names([p for p in paths if p not in written])}", file=sys.stderr)
        return 128 + Stop.signal
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
