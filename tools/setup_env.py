"""`make setup`: the project's virtual environment from its lock, with the lecture's
Jupyter kernel.

Runs with whatever `python3` is on PATH (3.11 will do: it needs only the standard
library) and builds the environment on Python 3.12 or newer: the interpreter named by
`--python` (`make setup PYTHON=...`), else the one tools/find_python.py finds, newest
first; one line and a stop where there is none, and one line and a stop on a platform
JAX publishes no wheels for. An existing `.venv` on another Python than the one chosen
is made anew. Then `uv sync --locked`, exactly what a student without make runs: uv.lock
installed with every file's hash checked, the project's package editable, and with it
(hatch_build.py) the kernel `sta663-jax` and the JupyterLab settings. uv is itself
pinned in the lock; where uv cannot run, pip installs requirements.txt (the same lock,
exported) instead.

Run again (every `make` target that needs the environment runs it), it is fast and
trusts nothing it has not checked: it installs again when the lock, pyproject.toml,
hatch_build.py or the JupyterLab files changed since the last install (their digest is
in .venv/.setup-done), when another interpreter is asked for (`PYTHON=`), or when a file
that an installed package's RECORD lists is missing (those packages are reinstalled);
otherwise it says the environment is up to date, in one line. A pyproject.toml that the
lock no longer matches, a package index that cannot be reached, and Ctrl-C each end it
with one line.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile

import find_python
import lockfile
from lockfile import ROOT

VENV = ROOT / ".venv"
LOCK = lockfile.REQUIREMENTS  # uv.lock exported for pip (tools/lock.py)
STAMP = VENV / ".setup-done"
# What an install is made from: a change to any of them installs again.
# (pyproject.toml's [tool.uv] cache-keys name the same files, for uv's own rebuild of the package.)
INPUTS = ["uv.lock", "requirements.txt", "pyproject.toml", "hatch_build.py",
          *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tools" / "jupyterlab").glob("*"))]
INDEX = ("pypi.org", 443)  # the package index uv and pip read (unless configured otherwise)

# The platforms JAX 0.12 publishes wheels for, as platform.system() and .machine() name
# them, and as pyproject.toml's [tool.uv] environments lists them for the lock.
PLATFORMS = {("Linux", "x86_64"): "Linux x86_64", ("Linux", "aarch64"): "Linux aarch64",
             ("Darwin", "arm64"): "macOS on Apple silicon", ("Windows", "AMD64"): "Windows x86_64"}
INSTEAD = ("use a Linux container (Docker or Podman), WSL on Windows, or a hosted Jupyter "
           "(your course's JupyterHub, Colab)")


def platform_problem(system=None, machine=None, bits=None):
    """One line naming a platform JAX 0.12 has no wheels for, and what to do instead; None on
    a supported one."""
    system = system or platform.system()
    machine = machine or platform.machine()
    bits = bits or struct.calcsize("P") * 8
    names = {"Darwin": "macOS", "Windows": "Windows", "Linux": "Linux"}
    shown = f"{names.get(system, system)} on {machine or 'an unknown processor'}"
    if system == "Darwin" and machine == "x86_64":
        shown = "macOS on an Intel processor"
    if bits != 64:
        shown = f"{bits}-bit {shown}"
    if bits == 64 and (system, machine) in PLATFORMS:
        return None
    return (f"make setup: JAX 0.12 publishes no wheels for {shown}, so the lecture cannot be installed here; "
            f"{INSTEAD}. Supported: {', '.join(PLATFORMS.values())}, 64-bit, Python 3.12-3.14")


def venv_python():
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(*cmd):
    subprocess.run([str(c) for c in cmd], check=True)


def get_uv(python):
    """uv, as the lock pins it, installed into the environment by pip (the one package
    that is; `uv sync` then keeps it, as the lock holds it); None when that fails."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as pin:
        pin.write(next(entry for name, _, _, entry in lockfile.requirements() if name == "uv"))
        pin.flush()
        got = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              "--no-deps", "--require-hashes", "-r", pin.name]).returncode == 0
    uv = python.parent / ("uv.exe" if os.name == "nt" else "uv")
    return uv if got and uv.exists() else None


def install_with_uv(python, reinstall=()):
    """`uv sync --locked`: uv.lock installed into .venv, every file's hash checked, the
    project's package editable (built by the lock's hatchling: build-constraint-dependencies)
    with its kernel spec and JupyterLab settings, and nothing else left in it; byte-compiled
    and linked from uv's cache (hardlinks on Linux) in parallel. --locked: a lock that no
    longer matches pyproject.toml stops it (`make lock`). False when uv cannot do it: then
    pip does it."""
    uv = get_uv(python)
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(VENV))
    if uv is None:
        print("make setup: uv could not be installed (above); pip installs the lock instead", flush=True)
        return False
    if subprocess.run([str(uv), "lock", "--locked", "--offline", "--quiet"], cwd=ROOT, env=env,
                      capture_output=True).returncode != 0:
        sys.exit("make setup: uv.lock does not match pyproject.toml (changed since `make lock`): run `make lock`, "
                 "review the diff, then `make setup`")
    again = [arg for name in reinstall for arg in ("--reinstall-package", name)]
    if subprocess.run([str(uv), "sync", "--locked", "--quiet", "--compile-bytecode", "--python", str(python),
                       *again], cwd=ROOT, env=env).returncode == 0:
        return True
    print("make setup: uv could not install the lock (above); pip installs it instead", flush=True)
    return False


def install_with_pip(python):
    # The pip a venv starts with can be too old for the lock: pip 23.2 (Python 3.11.7's)
    # resolves jupyter-events' `jsonschema[format-nongpl]` to a release the lock does not pin.
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade", "pip")
    # pip byte-compiles one file at a time; compileall -j 0 does the same on every core
    # (about 10 s of 53 saved on 2 cores). Not compiling at all costs far more later:
    # the first test run's many processes then compile the same modules at once.
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--require-hashes", "-r", LOCK)
    # (A file that does not compile is skipped, as pip skips it.)
    subprocess.run([str(python), "-m", "compileall", "-qq", "-j", "0", str(VENV / "lib")], check=False)


def digest():
    """One digest of what an install is made from."""
    h = hashlib.sha256()
    for name in INPUTS:
        h.update(name.encode() + b"\0" + (ROOT / name).read_bytes() + b"\0")
    return h.hexdigest()


def site_packages():
    found = sorted(VENV.glob("lib/python3*/site-packages")) + [VENV / "Lib" / "site-packages"]
    return next((p for p in found if p.is_dir()), None)


def damaged():
    """{distribution: a file its RECORD lists that is missing} for .venv's packages (a stat of
    each listed file: a fraction of a second)."""
    site = site_packages()
    broken = {}
    if site is None:
        return {"(site-packages)": str(VENV)}
    for dist_info in site.glob("*.dist-info"):
        record = dist_info / "RECORD"
        name = lockfile.normalize(dist_info.name.split("-")[0])
        missing = lockfile.missing_from_record(record.read_text(), site) if record.is_file() else str(record)
        if missing:
            broken[name] = missing
    return broken


def read_stamp():
    try:
        return json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}


def index_unreachable():
    """A line saying the package index cannot be reached, or None when it can."""
    import socket

    try:
        socket.create_connection(INDEX, timeout=10).close()
        return None
    except OSError as e:
        return (f"make setup: the package index ({INDEX[0]}) cannot be reached ({e.strerror or e}): check the "
                "network, or name your index or proxy (UV_INDEX_URL / PIP_INDEX_URL, HTTPS_PROXY), and run it again")


def main(argv=None):
    try:
        return setup(argv)
    except KeyboardInterrupt:
        sys.exit("make setup: stopped (Ctrl-C); run `make setup` again to finish (it installs only what is missing)")
    except subprocess.CalledProcessError as e:
        sys.exit(index_unreachable() or f"make setup: `{' '.join(map(str, e.cmd[:3]))} ...` failed (above)")


def setup(argv=None):
    parser = argparse.ArgumentParser(description="Build .venv from the lock, or check that it is built.")
    parser.add_argument("--python", help="the interpreter to build on (default: the newest supported one found)")
    parser.add_argument("--quiet", action="store_true", help="say nothing when .venv is up to date")
    args = parser.parse_args(argv)
    problem = platform_problem()
    if problem:
        sys.exit(problem)
    base = find_python.chosen(args.python)
    want = find_python.version_of(base)
    python = venv_python()
    if python.exists() and find_python.version_of(python) != want:
        print(f"{VENV.relative_to(ROOT)} is on another Python; making it anew", flush=True)
        shutil.rmtree(VENV)
    if not python.exists():
        print(f"creating {VENV.relative_to(ROOT)} with {base} (Python {'.'.join(map(str, want))})", flush=True)
        run(base, "-m", "venv", VENV)
    stamp, now = read_stamp(), {"inputs": digest(), "base": os.path.realpath(base)}
    broken = damaged()
    if stamp == now and not broken:
        if not args.quiet:
            print(f"make setup: {VENV.relative_to(ROOT)} is up to date (Python {'.'.join(map(str, want))}, uv.lock)")
        return
    if broken and stamp:
        shown = ", ".join(f"{name} ({path})" for name, path in sorted(broken.items())[:5])
        print(f"make setup: files are missing from {VENV.relative_to(ROOT)}: {shown}; reinstalling", flush=True)
    STAMP.unlink(missing_ok=True)  # the install below is not done until it has ended
    print(f"installing uv.lock into {VENV.relative_to(ROOT)}", flush=True)
    # Every distribution must match a hash in the lock.
    if not install_with_uv(python, sorted(broken)):
        if (problem := index_unreachable()):  # pip would fail the same way
            sys.exit(problem)
        install_with_pip(python)
        lockfile.install_editable(python)  # src/ on the path, with hatch_build.py's kernel and settings
    broken = damaged()
    if broken:
        sys.exit(f"make setup: still missing after the install: {', '.join(sorted(broken))}; remove .venv and run it again")
    STAMP.write_text(json.dumps(now) + "\n")


if __name__ == "__main__":
    main()
