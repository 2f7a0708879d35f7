"""Helpers of the project's scripts and tests, not of the lecture: the checkout's folder,
its notebooks listed and read one way, a file written whole or not at all, a free port on
this machine, kernels on Unix sockets, and processes that die with their parent.

A file is written to a temporary file beside it (`.NAME.XXXX.part`, which no glob of the
project's matches and git ignores), which is then renamed over it. A reader never sees
half a file; an interrupted write leaves the old file as it was and removes its
temporary file (only a SIGKILL can leave one)."""

import contextlib
import os
import re
import signal
import socket
import sys
import tempfile
from pathlib import Path

# The checkout this package is installed from (editable: `make setup`, `uv sync`), whose
# scripts and tests use it; a wheel installed elsewhere has no checkout, and nothing there uses it.
ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOKS = ROOT / "notebooks"
# A notebook's name: two digits (its place in the lecture), then words joined by hyphens
NOTEBOOK_NAME = re.compile(r"\d\d-[a-z0-9]+(-[a-z0-9]+)*\.ipynb")


class NotebookError(ValueError):
    """A notebook that cannot be read, or is no lesson; the message names the file and says why."""


def numbered_notebooks(folder=NOTEBOOKS):
    """The numbered notebooks of `folder`, in lecture order: what every tool and test runs on."""
    return sorted(Path(folder).glob("[0-9]*.ipynb"))


def misnamed_notebooks(folder=NOTEBOOKS):
    """One line for each notebook in `folder` whose name is not NN-words-joined-by-hyphens.ipynb
    (a space or capital breaks make's rules and the decks' links; no number leaves it out)."""
    return [f"{path.relative_to(Path(folder).parent)}: a notebook's name is two digits and words joined by "
            "hyphens (e.g. 08-sharding.ipynb), with no spaces or capitals: rename it"
            for path in sorted(Path(folder).glob("*.ipynb"))
            if not path.name.startswith(".") and not NOTEBOOK_NAME.fullmatch(path.name)]


def read_notebook(path, as_version=4):
    """The notebook at `path`, as nbformat reads it; NotebookError, in one line naming the
    file, for one that cannot be read or is not nbformat 4."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=as_version)
        if nb.nbformat != 4:
            raise ValueError(f"nbformat {nb.nbformat}, not 4")
    except (OSError, ValueError, AttributeError, nbformat.ValidationError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise NotebookError(f"{Path(path).name}: not a readable notebook ({reason})") from None
    return nb


def _mode(path):
    """The permissions the file keeps (or a new one gets, as open() would give it):
    mkstemp's temporary file is private to its owner."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def replacing(path):
    """The path of a temporary file beside `path`, for a writer that needs a path (a
    browser printing a PDF); renamed over `path` when the block ends, removed if it fails."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomically(path, text, newline=None):
    with replacing(path) as tmp, open(tmp, "w", newline=newline) as f:
        f.write(text)


def on_unix_sockets(km, folder):
    """`km` (a Jupyter kernel manager, before its kernel starts) with its kernel talking
    over Unix sockets in `folder`, not TCP ports on 127.0.0.1: no other local process can
    reach the kernel, and kernels started at once cannot be handed the same port (one
    then reads the other's messages: "Invalid Signature")."""
    km.transport, km.ip = "ipc", str(Path(folder) / "kernel")
    return km


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent(signum=signal.SIGTERM, parent=None):
    """Have Linux send this process `signum` when its parent dies, whatever ends the parent
    (SIGKILL included): a test run's servers and workers do not outlive it. Call it in the
    process itself, or as a child's preexec_fn with parent=os.getpid() captured before the
    fork (a parent already gone then ends the child at once). Elsewhere than Linux, nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, int(signum))  # PR_SET_PDEATHSIG
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def child_dies_with_us(signum=signal.SIGTERM):
    """A preexec_fn for subprocess.Popen: the child gets `signum` when this process dies."""
    parent = os.getpid()
    return lambda: die_with_parent(signum, parent)
