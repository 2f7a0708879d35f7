"""`make setup` finds a supported Python itself (tools/find_python.py), or stops with one line."""

import pytest

import find_python


def fake_python(path, version=None):
    """An executable at `path` that answers as Python `version` ("3 13"), or, with
    None, as a pyenv shim for a version pyenv has not selected."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if version:
        path.write_text(f"#!/bin/sh\necho {version}\n")
    else:
        path.write_text(f"#!/bin/sh\necho 'pyenv: {path.name}: command not found' >&2\nexit 127\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A machine with nothing on PATH, no pyenv and no uv, until a test adds them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_the_newest_on_path_that_runs_wins_and_a_shim_that_does_not_run_is_passed_over(machine):
    fake_python(machine / "bin" / "python3.13")  # a shim: "command not found"
    fake_python(machine / "bin" / "python3.12", "3 12")
    fake_python(machine / "bin" / "python3", "3 11")
    assert find_python.find_python() == machine / "bin" / "python3.12"


def test_pyenvs_versions_are_read_newest_first_when_path_has_none(machine):
    fake_python(machine / "bin" / "python3", "3 11")
    fake_python(machine / "pyenv" / "versions" / "3.12.1" / "bin" / "python3", "3 12")
    fake_python(machine / "pyenv" / "versions" / "3.13.0" / "bin" / "python3", "3 13")
    fake_python(machine / "pyenv" / "versions" / "3.11.7" / "bin" / "python3", "3 11")
    assert find_python.find_python() == machine / "pyenv" / "versions" / "3.13.0" / "bin" / "python3"


def test_none_found_stops_with_one_line_naming_how_to_pass_one(machine):
    fake_python(machine / "bin" / "python3", "3 11")
    with pytest.raises(SystemExit) as stop:
        find_python.chosen()
    message = str(stop.value)
    assert "\n" not in message and "make setup PYTHON=" in message


def test_a_python_given_is_checked(machine):
    old = fake_python(machine / "bin" / "python3.11", "3 11")
    with pytest.raises(SystemExit, match="is Python 3.11; the lock"):
        find_python.chosen(str(old))
    with pytest.raises(SystemExit, match="does not run"):
        find_python.chosen(str(machine / "bin" / "nothing-here"))
    good = fake_python(machine / "bin" / "python3.14", "3 14")
    assert find_python.chosen("python3.14") == good
