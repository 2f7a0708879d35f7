"""Write a file whole or not at all: the text goes to a temporary file beside it
(`.NAME.XXXX.part`, which no glob of the project's matches and git ignores), which is
then renamed over it. A reader never sees half a file; an interrupted write leaves the
old file as it was and removes its temporary file (only a SIGKILL can leave one)."""

import os
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


def write_text_atomically(path, text, newline=None):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", newline=newline) as f:
            f.write(text)
        os.chmod(tmp, _mode(path))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
