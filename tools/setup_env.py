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
exported) instead. Safe to run again: only what the lock changed is installed.
"""

import argparse
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import find_python

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.txt"  # uv.lock exported for pip (tools/lock.py)

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


def lock_entry(name):
    """The lock's lines for one package: its pin and its hashes."""
    lines = LOCK.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}=="))
    end = start
    while lines[end].endswith("\\"):
        end += 1
    return "\n".join(lines[start:end + 1]) + "\n"


def get_uv(python):
    """uv, as the lock pins it, installed into the environment by pip (the one package
    that is; `uv sync` then keeps it, as the lock holds it); None when that fails."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as pin:
        pin.write(lock_entry("uv"))
        pin.flush()
        got = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              "--no-deps", "--require-hashes", "-r", pin.name]).returncode == 0
    uv = python.parent / ("uv.exe" if os.name == "nt" else "uv")
    return uv if got and uv.exists() else None


def install_with_uv(python):
    """`uv sync --locked`: uv.lock installed into .venv, every file's hash checked, the
    project's package editable (built by the lock's hatchling: build-constraint-dependencies)
    with its kernel spec and JupyterLab settings, and nothing else left in it; byte-compiled
    and linked from uv's cache (hardlinks on Linux) in parallel. --locked: a lock that no
    longer matches pyproject.toml stops it (`make lock`). False when uv cannot do it: then
    pip does it."""
    uv = get_uv(python)
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(VENV))
    if uv and subprocess.run([str(uv), "sync", "--locked", "--quiet", "--compile-bytecode",
                              "--python", str(python)], cwd=ROOT, env=env).returncode == 0:
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


def install_project(python):
    """The project's own package (pyproject.toml), editable, after pip has installed the lock:
    src/ on the environment's path, and hatch_build.py's kernel spec and JupyterLab
    settings. Built by the lock's hatchling, without build isolation (nothing unpinned is
    fetched), and without dependencies (the lock has installed them)."""
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
        "--no-build-isolation", "--editable", ROOT)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build .venv from the lock.")
    parser.add_argument("--python", help="the interpreter to build on (default: the newest supported one found)")
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
    print(f"installing uv.lock into {VENV.relative_to(ROOT)}", flush=True)
    # Every distribution must match a hash in the lock.
    if not install_with_uv(python):
        install_with_pip(python)
        install_project(python)


if __name__ == "__main__":
    main()
