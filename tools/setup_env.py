"""`make setup`: the project's virtual environment, its lock and its Jupyter kernel.

Runs with whatever `python3` is on PATH (3.11 will do: it needs only the standard
library) and builds the environment on Python 3.12 or newer: the interpreter named by
`--python` (`make setup PYTHON=...`), else the one tools/find_python.py finds, newest
first; one line and a stop where there is none. An existing `.venv` on another
Python than the one chosen is made anew. Safe to run again: uv (or pip) installs
only what the lock changed, and the kernel spec is rewritten in place.
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import find_python

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.txt"
LAB_FILES = ROOT / "tools" / "jupyterlab"


def lecture_module():
    """The lecture package (src/lecture/), which names the kernel. Loaded from its file,
    the one place the project does so: this runs with the system Python, before the
    environment exists (the package needs only the standard library until its setup()
    is called)."""
    spec = importlib.util.spec_from_file_location("lecture", ROOT / "src" / "lecture" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lecture = lecture_module()
KERNEL_NAME, KERNEL_DISPLAY = lecture.KERNEL_NAME, lecture.KERNEL_DISPLAY


def venv_python():
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(*cmd):
    subprocess.run([str(c) for c in cmd], check=True)


def install_kernel(python):
    """A kernel spec inside the venv (found by the venv's JupyterLab) that runs the
    venv's Python, where the lecture package is installed, and loads its
    run-the-setup-first guard."""
    run(python, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME,
        "--display-name", KERNEL_DISPLAY)
    spec_file = VENV / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    spec = json.loads(spec_file.read_text())
    spec["argv"] = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                    "--IPKernelApp.extensions=lecture"]
    spec.pop("env", None)
    spec_file.write_text(json.dumps(spec, indent=1) + "\n")


def install_jupyterlab_settings():
    """The project's JupyterLab settings (tools/jupyterlab/), for this environment's
    JupyterLab only: the settings' defaults (overrides.json), and the page configuration
    (page_config.json) that switches off jupyterlab-quarto's math plugin, which loads
    MathJax and a polyfill from two CDNs whenever a markdown cell renders; and the server's
    default kernel, the project's."""
    settings = VENV / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    page_config = VENV / "etc" / "jupyter" / "labconfig" / "page_config.json"
    for source, target in ((LAB_FILES / "overrides.json", settings), (LAB_FILES / "page_config.json", page_config)):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text())
    install_lesson_style()
    # A new notebook, or one without a kernel, gets the project's kernel rather than python3.
    server = VENV / "etc" / "jupyter" / "jupyter_server_config.json"  # the environment-wide level
    server.parent.mkdir(parents=True, exist_ok=True)
    server.write_text(json.dumps({"MappingKernelManager": {"default_kernel_name": KERNEL_NAME}}, indent=1) + "\n")


LESSON_EXTENSION = "sta663-lesson"
# A JupyterLab extension of the project's, written here rather than built: a module
# federation container (what JupyterLab loads from an extension's remoteEntry.js) whose
# "./style" module adds tools/jupyterlab/lesson.css to the page, and whose "./extension"
# module has no plugins.
REMOTE_ENTRY = """var _JUPYTERLAB;
(_JUPYTERLAB = void 0 === _JUPYTERLAB ? {} : _JUPYTERLAB)[%(name)s] = {
  init: function () {},
  get: function (module) {
    if (module === "./extension") {
      return Promise.resolve(function () { return {__esModule: true, default: []}; });
    }
    if (module === "./style") {
      return Promise.resolve(function () {
        var style = document.createElement("style");
        style.id = %(name)s;
        style.textContent = %(css)s;
        document.head.appendChild(style);
        return {};
      });
    }
    return Promise.reject(new Error("Module " + module + " does not exist in container."));
  }
};
"""


def install_lesson_style():
    """tools/jupyterlab/lesson.css, as a JupyterLab extension of this environment's."""
    folder = VENV / "share" / "jupyter" / "labextensions" / LESSON_EXTENSION
    (folder / "static").mkdir(parents=True, exist_ok=True)
    css = (LAB_FILES / "lesson.css").read_text()
    script = REMOTE_ENTRY % {"name": json.dumps(LESSON_EXTENSION), "css": json.dumps(css)}
    (folder / "static" / "remoteEntry.js").write_text(script)
    (folder / "package.json").write_text(json.dumps({
        "name": LESSON_EXTENSION, "version": "1.0.0",
        "description": "The lecture's notebooks read as a lesson: slide layout hidden (tools/jupyterlab/lesson.css)",
        "jupyterlab": {"_build": {"load": "static/remoteEntry.js", "extension": "./extension",
                                  "style": "./style"}}}, indent=1) + "\n")


def lock_entry(name):
    """The lock's lines for one package: its pin and its hashes."""
    lines = LOCK.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}=="))
    end = start
    while lines[end].endswith("\\"):
        end += 1
    return "\n".join(lines[start:end + 1]) + "\n"


def install_with_uv(python):
    """The lock installed by uv, itself pinned in the lock: it downloads and byte-compiles
    in parallel (make setup 26-37 s on 2 cores with an empty cache, 41-45 s with pip),
    and links the 1.3 GB of files from its cache as it does by default (hardlinks on
    Linux, copies where the cache is on another file system): copying them cost 6 s more
    on the 2-core machine (8 s more system time). False when uv cannot do it (no uv for
    this platform, or an index that only pip's configuration names): then pip does it."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as pin:
        pin.write(lock_entry("uv"))
        pin.flush()
        got_uv = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                 "--no-deps", "--require-hashes", "-r", pin.name]).returncode == 0
    uv = python.parent / "uv"
    if got_uv and subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), "--require-hashes",
                                  "--compile-bytecode", "-r", str(LOCK)]).returncode == 0:
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
    """The project's own package (pyproject.toml), editable: src/ on the environment's
    path, so that `import lecture` finds the checkout's code from any folder. Built by
    the lock's hatchling, without build isolation (nothing unpinned is fetched), and
    without dependencies (the lock has installed them)."""
    uv = python.parent / "uv"
    if uv.exists() and subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), "--no-deps",
                                       "--no-build-isolation", "--editable", str(ROOT)]).returncode == 0:
        return
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
        "--no-build-isolation", "--editable", ROOT)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build .venv from the lock.")
    parser.add_argument("--python", help="the interpreter to build on (default: the newest supported one found)")
    args = parser.parse_args(argv)
    base = find_python.chosen(args.python)
    want = find_python.version_of(base)
    python = venv_python()
    if python.exists() and find_python.version_of(python) != want:
        print(f"{VENV.relative_to(ROOT)} is on another Python; making it anew", flush=True)
        shutil.rmtree(VENV)
    if not python.exists():
        print(f"creating {VENV.relative_to(ROOT)} with {base} (Python {'.'.join(map(str, want))})", flush=True)
        run(base, "-m", "venv", VENV)
    print(f"installing {LOCK.name} into {VENV.relative_to(ROOT)}", flush=True)
    # Every distribution must match a hash in the lock (pip-compile --generate-hashes).
    if not install_with_uv(python):
        install_with_pip(python)
    install_project(python)
    install_kernel(python)
    install_jupyterlab_settings()


if __name__ == "__main__":
    main()
