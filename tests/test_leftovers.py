"""A test run that is stopped from outside, however (here: SIGKILL, which no handler sees),
leaves nothing running: its JupyterLab server and the kernel it started die with it.

The run is `pytest` on the JupyterLab test that runs 04 from the Run menu, in a process of
its own. Every process it starts inherits a marker in its environment, which is how this
test finds them: first it waits for the kernel (the event that the server and Chromium are
up and working), then it kills the run and waits for every marked process to be gone."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from helpers import ROOT, wait_for

MARKER = "LECTURE_TEST_RUN"


def marked(token):
    """{pid: command line} of the processes whose environment carries MARKER=token."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if f"{MARKER}={token}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            pass
    return found


def test_a_killed_test_run_leaves_no_server_or_kernel_running(tmp_path):
    token = uuid.uuid4().hex
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:xdist", "-q",
                            "tests/test_lab.py", "-k", "test_a_student_runs_every_cell_from_the_run_menu"],
                           cwd=ROOT, env=os.environ | {MARKER: token}, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        kernels = wait_for(lambda: {p: c for p, c in marked(token).items() if "ipykernel_launcher" in c},
                           "no kernel of the run's JupyterLab appeared")
        servers = {p: c for p, c in marked(token).items() if "jupyterlab" in c}
        assert servers, marked(token)
        run.send_signal(signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 120  # they go within a second or two; this only bounds a failure
        while left := marked(token):
            assert time.monotonic() < deadline, f"left running after the run was killed: {left}"
            time.sleep(0.2)
    finally:
        for pid in marked(token):
            os.kill(pid, signal.SIGKILL)
        run.kill()
        run.wait()
    assert kernels and servers
