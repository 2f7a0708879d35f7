"""Helpers of the project's scripts and tests, not of the lecture: a file written whole
or not at all, a free port on this machine, and kernels on Unix sockets.

A file is written to a temporary file beside it (`.NAME.XXXX.part`, which no glob of the
project's matches and git ignores), which is then renamed over it. A reader never sees
half a file; an interrupted write leaves the old file as it was and removes its
temporary file (only a SIGKILL can leave one)."""

import contextlib
import os
import socket
import tempfile
from pathlib import Path


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
