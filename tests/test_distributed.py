"""The lecture's MLP in 2 processes with jax.distributed, on 127.0.0.1.

Each run is bounded in time, and every process it started is gone afterwards,
whether the run succeeded, one process failed, time ran out or the coordinator
could not start."""

import os
import re
import socket
import subprocess
import sys

import pytest

import mlp_distributed
from helpers import ROOT

SCRIPT = ROOT / "notebooks" / "mlp_distributed.py"


def launch(*args, limit=180):
    result = subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True,
                            timeout=limit, cwd=ROOT)
    pids = [int(p) for p in re.search(r"process ids: ([\d ]+)", result.stdout).group(1).split()]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # every process the run started has ended
    return result


def one_device_loss(steps):
    """The lecture's own fit (06's cells, through lecture.exported), in this test's process:
    the reference the processes' losses are held to, not the one the script prints."""
    from lecture import exported

    mlp = exported.mlp("model", "params", "x", "y")
    m = mlp.model()
    return float(m.loss_fn(m.fit(mlp.params, mlp.x, mlp.y, n=steps), mlp.x, mlp.y))


@pytest.mark.long
def test_two_processes_agree_with_one_process():
    # 50 of the lecture's 1000 steps: the agreement is what is tested here (the
    # 1000-step loss, 0.01788, is the pytrees notebook's, which nbval compares).
    result = launch("--processes", 2, "--local-devices", 2, "--steps", 50)
    assert result.returncode == 0, result.stderr
    losses = [float(x) for x in re.findall(r"process \d: 2 of 4 devices, final loss (\d\.\d{7})\b", result.stdout)]
    assert len(losses) == 2
    assert losses == pytest.approx([one_device_loss(50)] * 2, abs=2e-7)  # printed to 7 decimals
    assert re.search(r"one process: final loss \d\.\d{7}; all agree within 1e-06", result.stdout)


def test_a_failing_process_ends_every_process():
    # Its --timeout (600 s) is far past this test's limit (180 s): the run must end because
    # the process failed, and say so, not wait for the time-out.
    result = launch("--processes", 2, "--crash-process", 1, "--timeout", 600)
    assert result.returncode == 1
    assert "process 1 failed" in result.stderr and "stopping on purpose" in result.stderr


def test_a_process_whose_coordinator_never_answers_stops_at_its_start_timeout_in_one_line():
    """One process of a multi-machine run (--coordinator), with nothing listening where
    process 0 should be: it ends at --start-timeout, with one line and no native stack frames."""
    with socket.socket() as closed:  # a port on this machine that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = subprocess.run([sys.executable, SCRIPT, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                             "--process-id", "1", "--start-timeout", "3"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"process 1: could not join the coordinator at 127.0.0.1:{port} within --start-timeout (3 s): "
        "is process 0 running there, with the port open between the machines?")
    assert not any(mlp_distributed.STACK_FRAME.search(line) for line in result.stderr.splitlines())


def test_a_run_past_its_time_is_ended():
    # --timeout counts from when every process has joined the coordinator, so however long
    # a busy machine takes to start them (--start-timeout, 120 s), 1 s of training is
    # always too short for a million steps (the processes train on both cores until ended).
    result = launch("--processes", 2, "--steps", 10**6, "--timeout", 1)
    assert result.returncode == 1
    assert "ran past --timeout (1 s, counted from when every process had joined) and was ended" in result.stderr


def test_processes_that_do_not_start_in_time_are_told_from_a_failed_start():
    # No machine starts Python, JAX and the coordinator in 0.1 s; a busier one is slower still.
    result = launch("--processes", 2, "--start-timeout", 0.1)
    assert result.returncode == 1
    assert "had not joined the coordinator within --start-timeout (0.1 s)" in result.stderr
    assert "could not start" not in result.stderr


def test_a_port_in_use_is_refused_before_anything_starts(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert mlp_distributed.main(["--processes", "2", "--port", str(port)]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == (f"127.0.0.1:{port} is in use (another run?): pick another --port, "
                           "or leave it out for a free one")
    assert "process ids" not in out  # nothing was started


@pytest.mark.parametrize("args, says", [
    (["--processes", "0"], "--processes 0: at least 1"),
    (["--processes", "-1"], "--processes -1: at least 1"),
    (["--local-devices", "0"], "--local-devices 0: at least 1"),
    (["--port", "70000"], "--port 70000: from 1 to 65535"),
    (["--timeout", "0"], "--timeout 0: more than 0 seconds"),
    (["--processes", "3"], "3 processes x 2 devices = 6 devices: the lecture's 128 rows must split evenly"),
    (["--coordinator", "127.0.0.1:1234", "--num-processes", "2", "--process-id", "2"], "--process-id 2: from 0 to 1"),
    (["--coordinator", "127.0.0.1", "--num-processes", "2", "--process-id", "0"], "give HOST:PORT"),
])
def test_nonsense_arguments_are_refused_before_anything_starts(capsys, args, says):
    with pytest.raises(SystemExit) as stop:
        mlp_distributed.main(args)
    assert stop.value.code == 2
    assert says in capsys.readouterr().err.strip().splitlines()[-1]


def test_a_dying_process_is_quoted_by_its_error_not_its_stack_frames():
    stderr = """E1201 12:00:00.000 coordination_service.cc:512] Coordination service error: UNAVAILABLE: task /job:jax_worker/task:1 heartbeat timeout
*** Check failure stack trace: ***
    @     0x7f1c2a3b4c5d  absl::log_internal::LogMessage::Die()
    @     0x7f1c2a3b4c6e  xla::CoordinationService::Shutdown()
#0 0x00007f1c2a000000 in raise ()
"""
    assert mlp_distributed.last_words(stderr) == [stderr.splitlines()[0]]
    assert mlp_distributed.last_words("") == ["(nothing)"]
