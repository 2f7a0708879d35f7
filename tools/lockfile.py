"""The lock, read one way everywhere: uv.lock's pins, requirements.txt's entries (the same
lock exported for pip), and the uv that makes and installs them. Standard library only:
`make setup` imports it before the environment exists.

    pins()                  {name: [versions]}, names normalised as PyPI does (PEP 503)
    requirements()          [(name, version, marker, entry text)] of requirements.txt
    find_uv()               the environment's uv (the lock's), else one on PATH, else None
    install_editable(python, uv)   the project's package into an environment whose lock is in
    missing_from_record(record, site)  the first file a package's RECORD lists that is not there
"""

import csv
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV_LOCK = ROOT / "uv.lock"
REQUIREMENTS = ROOT / "requirements.txt"


def normalize(name):
    """A distribution's name as PyPI compares them (PEP 503): `Jupyter_Server` is `jupyter-server`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock=UV_LOCK):
    """{name: [versions]} that uv.lock pins (two for a package whose version differs by
    Python: sphinx), the project itself left out."""
    found = {}
    for package in tomllib.loads(Path(lock).read_text())["package"]:
        if "version" in package and not package.get("source", {}).get("editable"):
            found.setdefault(normalize(package["name"]), []).append(package["version"])
    return {name: sorted(versions) for name, versions in found.items()}


def requirements(path=REQUIREMENTS):
    """requirements.txt's entries: (name, version, environment marker or "", the entry's
    lines with its hashes)."""
    lines = Path(path).read_text().splitlines()
    entries = []
    for i, line in enumerate(lines):
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]*?))?\s*\\?$", line)
        if not m:
            continue
        end = i
        while lines[end].rstrip().endswith("\\"):
            end += 1
        entries.append((normalize(m.group(1)), m.group(2), m.group(3) or "", "\n".join(lines[i:end + 1]) + "\n"))
    return entries


def find_uv():
    """The environment's uv (the version the lock pins), else one on PATH; None when there is none."""
    for uv in (ROOT / ".venv" / "bin" / "uv", ROOT / ".venv" / "Scripts" / "uv.exe"):
        if uv.exists():
            return uv
    found = shutil.which("uv")
    return Path(found) if found else None


def install_editable(python, uv=None):
    """The project's package, editable, into the environment of `python`, whose packages the
    lock has installed: built by its hatchling without build isolation (nothing unpinned is
    fetched) and without dependencies. By uv where given, else by that environment's pip."""
    if uv:
        cmd = [str(uv), "pip", "install", "--quiet", "--python", str(python)]
    else:
        cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*cmd, "--no-deps", "--no-build-isolation", "--editable", str(ROOT)], check=True)


def missing_from_record(record, site):
    """The first file an installed package's RECORD (its text) lists that is not under `site`
    (its site-packages), or None: metadata alone is not an install (`rm -rf .../jax` leaves
    jax's dist-info). make setup checks .venv with it, the test header what can be imported."""
    for row in csv.reader(record.splitlines()):
        if row and not os.path.lexists(os.path.normpath(Path(site) / row[0])):
            return row[0]
    return None
