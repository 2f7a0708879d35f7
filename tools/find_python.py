"""The Python interpreter that `make setup` and `make lock` build on.

JAX 0.11 and newer run on Python 3.12 and newer only, so the system `python3` (3.11
on some machines) may be too old. Without `PYTHON=...` this looks, newest first, for
`python3.14`, `python3.13`, `python3.12` and `python3` on PATH, then the interpreters
that pyenv and uv have installed, and takes the first that runs and is supported. A
candidate that does not run (a pyenv shim for a version pyenv does not have selected
answers "command not found") is passed over. Standard library only: this runs before
the environment exists.

    python3 tools/find_python.py        prints the chosen interpreter, or one line and exit 1
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SUPPORTED = ((3, 12), (3, 13), (3, 14))  # the Pythons that JAX 0.12's wheels (and the lock) serve
OLDEST = ".".join(map(str, SUPPORTED[0]))
NONE_FOUND = (f"make setup: no Python {OLDEST} or newer found (python3.14, python3.13, python3.12 on PATH, "
              f"pyenv's or uv's); install one and run `make setup PYTHON=/path/to/python{OLDEST}`")


def version_of(python):
    """(major, minor) of the interpreter at `python`, or None when it does not run."""
    try:
        out = subprocess.run([str(python), "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    try:
        major, minor = map(int, out.stdout.split())
    except ValueError:
        return None
    return major, minor


def _version_key(path):
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", str(path))
    return tuple(int(g or 0) for g in m.groups()) if m else (0, 0, 0)


def pyenv_pythons():
    """pyenv's installed interpreters, newest first (its versions folder, read directly:
    pyenv's shims only run the version pyenv has selected)."""
    roots = [os.environ.get("PYENV_ROOT")]
    if shutil.which("pyenv"):
        try:
            roots.append(subprocess.run(["pyenv", "root"], capture_output=True, text=True,
                                        timeout=30).stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    roots.append(str(Path.home() / ".pyenv"))
    found = []
    for root in dict.fromkeys(r for r in roots if r):
        for version in (Path(root) / "versions").glob("3.*"):
            python = version / "bin" / "python3"
            if python.exists():
                found.append(python)
    return sorted(found, key=_version_key, reverse=True)


def uv_pythons():
    """uv's installed interpreters, newest first."""
    if not shutil.which("uv"):
        return []
    try:
        out = subprocess.run(["uv", "python", "list", "--only-installed", "--output-format", "json"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    import json
    try:
        entries = json.loads(out.stdout) if out.returncode == 0 else []
    except ValueError:
        return []
    paths = [Path(e["path"]) for e in entries if e.get("path") and e.get("implementation") == "cpython"]
    return sorted(paths, key=_version_key, reverse=True)


def candidates():
    for name in ("python3.14", "python3.13", "python3.12", "python3"):
        path = shutil.which(name)
        if path:
            yield Path(path)
    yield from pyenv_pythons()
    yield from uv_pythons()


def find_python():
    """The first supported interpreter, as a path; None when there is none."""
    for python in candidates():
        if version_of(python) in SUPPORTED:
            return python
    return None


def check(python):
    """`python` (a name or a path) resolved and checked; exits with one line when it is
    not there or not a supported version."""
    path = shutil.which(str(python)) or str(python)
    version = version_of(path)
    if version is None:
        sys.exit(f"make setup: PYTHON={python} does not run; name an interpreter of Python {OLDEST} or newer")
    if version not in SUPPORTED:
        shown = ".".join(map(str, version))
        sys.exit(f"make setup: PYTHON={python} is Python {shown}; the lock (JAX 0.12) needs one of "
                 + ", ".join(".".join(map(str, v)) for v in SUPPORTED))
    return Path(path)


def chosen(python=None):
    """The interpreter given (checked), else the one found; exits with one line when none."""
    if python:
        return check(python)
    found = find_python()
    if found is None:
        sys.exit(NONE_FOUND)
    return found


if __name__ == "__main__":
    print(chosen(sys.argv[1] if len(sys.argv) > 1 else None))
