"""`make execute` writes a notebook only after it ran completely, and stops when told."""

import os
import signal
import subprocess
import sys
import time

import pytest

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from helpers import ROOT
from lecture import KERNEL_NAME


def run_execute(path):
    return subprocess.run([sys.executable, ROOT / "tools" / "execute.py", path],
                          capture_output=True, text=True, timeout=120)


def test_a_failing_cell_leaves_the_notebook_untouched_and_is_named(tmp_path):
    path = tmp_path / "broken.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("1 / 0"), new_code_cell("x")]), path)
    before = path.read_bytes()
    result = run_execute(path)
    assert result.returncode == 1
    assert "cell 1 failed; the notebook was not written" in result.stderr
    assert "ZeroDivisionError" in result.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.ipynb"]  # no temporary left behind


def test_a_tagged_cell_that_stops_raising_is_an_error(tmp_path):
    path = tmp_path / "quiet.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1 + 1", metadata={"tags": ["raises-exception"]})]), path)
    before = path.read_bytes()
    result = run_execute(path)
    assert result.returncode == 1 and "raised nothing" in result.stderr
    assert path.read_bytes() == before


def test_a_good_notebook_is_written_with_its_outputs(tmp_path):
    path = tmp_path / "good.ipynb"
    nb = new_notebook(cells=[new_code_cell("print('hi')"), new_code_cell("1 / 0", metadata={"tags": ["raises-exception"]})])
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "x", "language": "python"}
    nbformat.write(nb, path)
    assert run_execute(path).returncode == 0
    done = nbformat.read(path, as_version=4)
    assert done.cells[0].outputs[0].text == "hi\n"
    assert [c.execution_count for c in done.cells] == [1, 2]
    assert done.cells[1].outputs[0].ename == "ZeroDivisionError"
    assert done.metadata.kernelspec.name == KERNEL_NAME


def test_a_cell_past_its_time_out_is_named_and_the_others_still_run(tmp_path):
    """The cell named is the one that was running, whatever execution counts the file stores
    from its last run (the last cell here stores 36). The limit is far above what `x = 1`
    needs on any machine, and the sleep far above the limit."""
    slow, good = tmp_path / "slow.ipynb", tmp_path / "good.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1", execution_count=1),
                                       new_code_cell("import time; time.sleep(600)", execution_count=2),
                                       new_code_cell("x", execution_count=36)]), slow)
    nbformat.write(new_notebook(cells=[new_code_cell("print('hi')")]), good)
    before = slow.read_bytes()
    result = subprocess.run([sys.executable, ROOT / "tools" / "execute.py", "--timeout", "15", slow, good],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "cell 1 ran past the 15 s time-out; the notebook was not written" in result.stderr
    assert slow.read_bytes() == before
    assert nbformat.read(good, as_version=4).cells[0].outputs[0].text == "hi\n"


def test_a_notebook_that_cannot_be_written_is_named_and_the_others_still_run(tmp_path):
    locked, good = tmp_path / "locked.ipynb", tmp_path / "good.ipynb"
    for path in (locked, good):
        nbformat.write(new_notebook(cells=[new_code_cell("print('hi')")]), path)
    before = locked.read_bytes()
    if os.geteuid() == 0:  # root writes a read-only file: make it immutable instead
        if subprocess.run(["chattr", "+i", locked], capture_output=True).returncode != 0:
            pytest.skip("chattr +i does not work on this file system, and root writes read-only files")
    else:
        locked.chmod(0o444)
    try:
        result = run_execute_all(locked, good)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", locked], check=True)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("locked.ipynb: cannot be written (") and "left as it was" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert locked.read_bytes() == before
    assert nbformat.read(good, as_version=4).cells[0].outputs[0].text == "hi\n"


def run_execute_all(*paths):
    return subprocess.run([sys.executable, ROOT / "tools" / "execute.py", *paths],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_stops_at_once_ends_the_kernel_and_leaves_every_notebook_as_it_was(tmp_path, signum):
    running, next_one = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    started = tmp_path / "kernel.pid"
    nbformat.write(new_notebook(cells=[
        new_code_cell(f"import os, pathlib; pathlib.Path({str(started)!r}).write_text(str(os.getpid()))"),
        new_code_cell("import time; time.sleep(600)")]), running)
    nbformat.write(new_notebook(cells=[new_code_cell("print('hi')")]), next_one)
    before = {p: p.read_bytes() for p in (running, next_one)}
    proc = subprocess.Popen([sys.executable, ROOT / "tools" / "execute.py", running, next_one],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Wait for the event (the kernel is running the first notebook), not for a time:
        # the bound is generous only so that a broken run cannot hang the suite.
        deadline = time.monotonic() + 120
        while not started.exists() or not started.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.05)
        kernel = int(started.read_text())
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum
    assert err.strip().splitlines()[-1] == (f"make execute: stopped by {name}; written: none; "
                                            "left as they were: a.ipynb, b.ipynb")
    assert {p: p.read_bytes() for p in (running, next_one)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ipynb", "b.ipynb", "kernel.pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(kernel, 0)  # the kernel has ended


def test_a_file_that_is_not_a_notebook_is_named_in_one_line_and_the_others_still_run(tmp_path):
    bad, good = tmp_path / "bad.ipynb", tmp_path / "good.ipynb"
    bad.write_text('{"cells": [')
    nbformat.write(new_notebook(cells=[new_code_cell("print('hi')")]), good)
    result = subprocess.run([sys.executable, ROOT / "tools" / "execute.py", bad, good],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    (line,) = [l for l in result.stderr.splitlines() if "bad.ipynb" in l]
    assert line.startswith("bad.ipynb: not a readable notebook (") and line.endswith("; left as it was.")
    assert len(result.stderr.strip().splitlines()) == 1
    assert bad.read_text() == '{"cells": ['
    assert nbformat.read(good, as_version=4).cells[0].outputs[0].text == "hi\n"


def test_what_a_kill_during_a_write_leaves_is_seen_by_no_notebook_glob(tmp_path, monkeypatch):
    import execute

    path = tmp_path / "07-what-next.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), path)
    before = path.read_bytes()

    class Killed(BaseException):
        pass

    def killed(*args):
        raise Killed

    monkeypatch.setattr(execute.os, "replace", killed)
    with pytest.raises(Killed):
        execute.write_atomically(new_notebook(cells=[new_code_cell("2")]), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["07-what-next.ipynb"]  # cleaned up on the way out
    monkeypatch.setattr(execute.os, "unlink", lambda p: None)  # SIGKILL: no way out at all
    with pytest.raises(Killed):
        execute.write_atomically(new_notebook(cells=[new_code_cell("2")]), path)
    (left,) = [p for p in tmp_path.iterdir() if p != path]
    assert left.name.startswith(".07-what-next.ipynb.") and left.suffix == ".part"
    assert sorted(tmp_path.glob("*.ipynb")) == sorted(tmp_path.glob("[0-9]*.ipynb")) == [path]
    assert path.read_bytes() == before
