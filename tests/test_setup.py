"""Setting up: `make setup` refuses a platform JAX has no wheels for, in one line, before
it does anything; and the set-up without make (`uv sync`, then `uv run lecture-lab`), run
on a fresh clone as a student runs it, on Python 3.12 where the machine has it, ends in
the same kernel, guard and JupyterLab settings as `make setup`, and the lecture runs there."""

import json
import os
import re
import platform
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

import find_python
import lockfile
import setup_env
from helpers import ROOT, end_process_group
from lecture import KERNEL_DISPLAY, KERNEL_NAME

UV = lockfile.find_uv()


@pytest.mark.parametrize("system, machine, bits, shown", [
    ("Darwin", "x86_64", 64, "macOS on an Intel processor"),
    ("Linux", "i686", 32, "32-bit Linux on i686"),
    ("Linux", "x86_64", 32, "32-bit Linux on x86_64"),
    ("Windows", "ARM64", 64, "Windows on ARM64"),
    ("Linux", "ppc64le", 64, "Linux on ppc64le"),
    ("FreeBSD", "amd64", 64, "FreeBSD on amd64"),
])
def test_a_platform_without_jax_wheels_gets_one_line(system, machine, bits, shown):
    line = setup_env.platform_problem(system, machine, bits)
    assert "\n" not in line
    assert f"JAX 0.12 publishes no wheels for {shown}" in line
    assert "Linux container" in line and "WSL" in line and "hosted Jupyter" in line


@pytest.mark.parametrize("system, machine", sorted(setup_env.PLATFORMS))
def test_the_supported_platforms_pass(system, machine):
    assert setup_env.platform_problem(system, machine, 64) is None


def test_make_setup_stops_before_doing_anything(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(setup_env, "VENV", tmp_path / ".venv")
    with pytest.raises(SystemExit) as stop:
        setup_env.main([])
    assert str(stop.value).startswith("make setup: JAX 0.12 publishes no wheels for macOS on an Intel processor")
    assert not (tmp_path / ".venv").exists()
    assert capsys.readouterr().out == ""


# The README's quick-start commands that this module runs as written, on a fresh clone
# (tests/test_docs.py checks that with .ci/run's they are the quick start's every command).
RUN_AS_WRITTEN = ["uv sync", "uv run lecture-lab", "make lab"]


def serves_the_lecture(command, clone, env, tmp_path):
    """`command` (a shell line, as the README writes it) serves JupyterLab on 127.0.0.1 with
    the project's kernel for new notebooks; it is stopped after."""
    import secrets
    import time
    import urllib.error
    import urllib.request

    token = secrets.token_hex(16)
    log = tmp_path / f"{command.replace(' ', '-')}.log"
    with log.open("w") as out:
        server = subprocess.Popen(command, shell=True, cwd=clone, stdout=out, stderr=subprocess.STDOUT,
                                  env=env | {"JUPYTER_TOKEN": token, "BROWSER": "true"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # bounds a broken run; it is up in seconds
        while not (m := re.search(r"http://127\.0\.0\.1:(\d+)/lab", log.read_text())):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        # Jupyter prints its address, then listens (a moment later): ask until it answers.
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/api/kernelspecs?token={token}",
                                            timeout=60) as answer:
                    specs = json.loads(answer.read())
                break
            except urllib.error.URLError as e:
                assert isinstance(e.reason, ConnectionRefusedError) and server.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, f"{command}: no answer at port {m.group(1)}"
                time.sleep(0.2)
        assert specs["default"] == KERNEL_NAME and KERNEL_NAME in specs["kernelspecs"], command
    finally:
        end_process_group(server, grace=60)


def python_312_or_current():
    """An interpreter of Python 3.12, the oldest supported, where the machine has one (pyenv's
    and uv's are found as make setup finds them); else the one running the tests."""
    for python in find_python.candidates():
        if find_python.version_of(python) == (3, 12):
            return python
    return sys.executable


# What a student's kernel does after `uv sync`: the guard refuses a cell before the setup,
# the setup runs, the lecture's first PRNG value prints.
KERNEL_CHECK = textwrap.dedent("""
    import json, sys
    from jupyter_client.manager import start_new_kernel
    km, kc = start_new_kernel(kernel_name=sys.argv[1])
    results = []
    for code in ["import jax", "from lecture import setup; setup()",
                 "import jax, sys; print(sys.version_info[:2], float(jax.random.normal(jax.random.PRNGKey(1234))))"]:
        out = []
        reply = kc.execute_interactive(code, timeout=120, output_hook=lambda m: out.append(m["content"]))
        results.append([reply["content"]["status"], out])
    km.shutdown_kernel(now=True)
    print(json.dumps(results))
""")


@pytest.mark.long
def test_uv_sync_on_a_fresh_clone_ends_as_make_setup_does(tmp_path):
    clone = tmp_path / "my lecture"  # a student's folder name, space included
    subprocess.run(["git", "clone", "--quiet", ROOT, clone], check=True)
    python = python_312_or_current()
    uv_only = tmp_path / "bin"  # uv on PATH, as a student who installed it has it
    uv_only.mkdir()
    (uv_only / "uv").symlink_to(UV)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_", "PYTHONPATH"))}
    env |= {"PATH": f"{uv_only}:{env['PATH']}", "UV_PYTHON": str(python)}  # uv's choice of Python, said in advance
    # The README's first command, as written
    synced = subprocess.run(RUN_AS_WRITTEN[0], shell=True, cwd=clone, env=env, capture_output=True, text=True,
                            timeout=900)
    assert synced.returncode == 0, synced.stderr
    venv_python = clone / ".venv" / "bin" / "python"
    assert find_python.version_of(venv_python) == find_python.version_of(python)

    # The package is the clone's, editable, and its kernel and JupyterLab settings are installed.
    where = subprocess.run([venv_python, "-c", "import lecture; print(lecture.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    assert where == str(clone / "src" / "lecture" / "__init__.py")
    specs = json.loads(subprocess.run([clone / ".venv" / "bin" / "jupyter", "kernelspec", "list", "--json"],
                                      capture_output=True, text=True, check=True, env=env).stdout)["kernelspecs"]
    spec = specs[KERNEL_NAME]
    assert spec["resource_dir"].startswith(str(clone / ".venv"))
    assert spec["spec"]["display_name"] == KERNEL_DISPLAY
    assert "--IPKernelApp.extensions=lecture" in spec["spec"]["argv"]
    # Every file the package adds to the environment, as hatch_build.py makes it: the same
    # for uv sync and make setup (whose .venv has them too; JupyterLab may since have added
    # to its page configuration, so that one is compared by its setting).
    import importlib.util

    spec = importlib.util.spec_from_file_location("hatch_build", ROOT / "hatch_build.py")
    hatch_build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hatch_build)
    for relative, text in hatch_build.jupyter_files().items():
        assert (clone / ".venv" / relative).read_text() == text, relative
        installed = (ROOT / ".venv" / relative).read_text()
        if relative.endswith("page_config.json"):
            assert json.loads(installed)["disabledExtensions"] == json.loads(text)["disabledExtensions"]
        else:
            assert installed == text, relative

    # The kernel, as JupyterLab starts it: the guard, then the setup, then the lecture.
    ran = subprocess.run([venv_python, "-c", KERNEL_CHECK, KERNEL_NAME], capture_output=True, text=True,
                         cwd=clone / "notebooks", env=env, timeout=300)
    assert ran.returncode == 0, ran.stderr
    (guard, guard_out), (setup, _), (first, first_out) = json.loads(ran.stdout.strip().splitlines()[-1])
    assert guard == "error" and "shared setup has not run" in json.dumps(guard_out)
    assert setup == "ok" and first == "ok"
    assert "-0.5401982" in json.dumps(first_out)  # the lecture's first draw (02)

    # The README's JupyterLab commands, as written: each serves the project with its kernel.
    for command in RUN_AS_WRITTEN[1:]:
        serves_the_lecture(command, clone, env, tmp_path)

    # make setup on that clone: it takes the environment over, then a second run only checks;
    # files gone from a package are put back; a pyproject.toml the lock no longer matches stops it.
    def make_setup():
        return subprocess.run([sys.executable, clone / "tools" / "setup_env.py", "--python", python], cwd=clone,
                              env=env, capture_output=True, text=True, timeout=900)

    first = make_setup()
    assert first.returncode == 0, first.stdout + first.stderr
    assert (clone / ".venv" / ".setup-done").is_file()
    again = make_setup()
    assert again.returncode == 0 and again.stdout.splitlines() == [
        f"make setup: .venv is up to date (Python {'.'.join(map(str, find_python.version_of(python)))}, uv.lock)"]
    site = next((clone / ".venv" / "lib").glob("python3*/site-packages"))
    shutil.rmtree(site / "jax")
    repaired = make_setup()
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "make setup: files are missing from .venv: jax (jax/__init__.py); reinstalling" in repaired.stdout
    assert (site / "jax" / "__init__.py").is_file()
    pyproject = clone / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('exercises = ["otter-grader"]',
                                                       'exercises = ["otter-grader", "requests"]'))
    stale = make_setup()
    assert stale.returncode != 0
    assert stale.stderr.strip().splitlines() == ["make setup: uv.lock does not match pyproject.toml (changed since "
                                                 "`make lock`): run `make lock`, review the diff, then `make setup`"]
    subprocess.run(["git", "checkout", "--quiet", "pyproject.toml"], cwd=clone, check=True)

    # A lecture notebook under nbval with that environment, as `make test` runs it
    nbval = subprocess.run([venv_python, "-m", "pytest", "-q", "notebooks/02-prng.ipynb"], cwd=clone, env=env,
                           capture_output=True, text=True, timeout=600)
    assert nbval.returncode == 0, nbval.stdout[-3000:]


def make_without(tmp_path, *targets):
    """`make TARGETS` with nothing on PATH: no Node.js, npm or Quarto (the recipes run in /bin/sh)."""
    empty = tmp_path / "empty-path"
    empty.mkdir(exist_ok=True)
    return subprocess.run([shutil.which("make"), "--no-print-directory", *targets], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": str(empty), "HOME": os.environ.get("HOME", "/")})


def test_without_node_only_the_decks_stop_and_say_what_to_install(tmp_path):
    stopped = make_without(tmp_path, "need-node")
    assert stopped.returncode != 0
    assert stopped.stdout.strip().splitlines() == [
        "make slides: the decks need Node.js and npm for reveal.js (apt-get install nodejs npm; brew install node; "
        "winget install OpenJS.NodeJS), or Quarto"]
    # make test runs everything else: it renders no decks and fetches no reveal.js (dry run)
    planned = make_without(tmp_path, "-n", "test")
    assert planned.returncode == 0, planned.stderr
    assert "npm ci" not in planned.stdout and "render_slides" not in planned.stdout
    assert "no decks to test" in planned.stdout and "pytest" in planned.stdout
    # nor does make setup or make lab
    for target in ("setup", "lab"):
        plan = make_without(tmp_path, "-n", target)
        assert plan.returncode == 0 and "npm ci" not in plan.stdout, plan.stdout + plan.stderr


def test_make_setup_makes_the_environment_anew_on_another_python(tmp_path, monkeypatch, capsys):
    """PYTHON= naming an interpreter of another version than .venv's: .venv is removed and
    made again on it, then installed (here recorded, not run)."""
    from test_find_python import fake_python

    venv = tmp_path / ".venv"
    fake_python(venv / "bin" / "python", "3 12")
    other = fake_python(tmp_path / "bin" / "python3.13", "3 13")
    made, installed = [], []
    monkeypatch.setattr(setup_env, "VENV", venv)
    monkeypatch.setattr(setup_env, "STAMP", venv / ".setup-done")
    monkeypatch.setattr(setup_env, "ROOT", tmp_path)
    monkeypatch.setattr(setup_env, "digest", lambda: "inputs")
    monkeypatch.setattr(setup_env, "damaged", lambda: {})

    def make_venv(*cmd):
        made.append(cmd)
        fake_python(venv / "bin" / "python", "3 13")

    monkeypatch.setattr(setup_env, "run", make_venv)
    monkeypatch.setattr(setup_env, "install_with_uv", lambda python, reinstall=(): installed.append(python) or True)
    setup_env.main(["--python", str(other)])
    out = capsys.readouterr().out
    assert ".venv is on another Python; making it anew" in out
    assert made == [(other, "-m", "venv", venv)] and installed == [venv / "bin" / "python"]
    assert (venv / ".setup-done").is_file()
    setup_env.main(["--python", str(other)])  # and then it is up to date
    assert capsys.readouterr().out.strip() == "make setup: .venv is up to date (Python 3.13, uv.lock)"


@pytest.mark.parametrize("tool, line", [
    ("setup_env", "make setup: stopped (Ctrl-C); run `make setup` again to finish (it installs only what is missing)"),
    ("exercises", "make grade: stopped (Ctrl-C) before the table was written; run it again"),
])
def test_ctrl_c_is_one_line_not_a_traceback(tool, line, monkeypatch, capsys):
    import importlib

    module = importlib.import_module(tool)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    if tool == "setup_env":
        monkeypatch.setattr(module, "setup", interrupted)
        with pytest.raises(SystemExit) as stop:
            module.main([])
        assert str(stop.value) == line
    else:
        monkeypatch.setattr(module, "main", interrupted)
        assert module.cli(["grade", "x.ipynb"]) == 130
        assert capsys.readouterr().err.strip() == line


def test_an_unreachable_package_index_is_named_in_one_line(monkeypatch):
    with socket.socket() as closed:  # a port on this machine that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setattr(setup_env, "INDEX", ("127.0.0.1", port))
    line = setup_env.index_unreachable()
    assert line.startswith("make setup: the package index (127.0.0.1) cannot be reached (")
    assert "UV_INDEX_URL" in line and "\n" not in line


@pytest.mark.parametrize("python, says", [
    ("/nonexistent", "make setup: PYTHON=/nonexistent does not run; name an interpreter of Python 3.12 or newer"),
    (sys._base_executable, None),  # the interpreter the environment was made from
])
def test_make_setup_on_a_set_up_clone_checks_the_python_it_is_given(tmp_path, python, says):
    """A set-up clone does not skip `make setup PYTHON=...`: a wrong one is refused in one line,
    the environment's own one finds it up to date."""
    done = subprocess.run([shutil.which("make"), "--no-print-directory", "setup", f"PYTHON={python}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    if says:
        assert done.returncode != 0 and done.stderr.splitlines()[0] == says
    else:
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().startswith("make setup: .venv is up to date")
