"""The distributed MLP across two hosts over a real network: two Linux network namespaces
(lecture.hosts), each with its own address (10.S.0.1, 10.S.0.2), hostname (node0, node1)
and /etc/hosts, joined by one virtual link. The coordinator is reached over that link,
never through 127.0.0.1; nothing leaves the namespaces the test made, which are removed
after it. Run the way a cluster user runs it: one supervised process per host with
--coordinator, or under SLURM's variables as srun sets them. Then the faults: a peer
killed, the link taken down, a coordinator that never comes up; each survivor ends within
its stated bound (docs/maintainer.md, "Many machines") with one line and no native stack frame.

Needs root, `ip` and `unshare` (CI has them); elsewhere every test here is skipped with
the reason."""

import json
import re
import subprocess
import sys
import time

import pytest

import mlp_distributed
from helpers import ROOT
from lecture import hosts as simulated
from test_distributed import one_device_loss

SCRIPT = ROOT / "notebooks" / "mlp_distributed.py"
STEPS = 50
HEARTBEAT = 5  # seconds (the script's --heartbeat-timeout); the bounds below follow from it
WHY = simulated.unavailable()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")


def start(hosts, i, *args, port, coordinator=None):
    cmd = [sys.executable, SCRIPT, "--coordinator", coordinator or f"node0:{port}", "--num-processes", 2,
           "--process-id", i, "--local-devices", 2, "--heartbeat-timeout", HEARTBEAT, *args]
    return hosts.popen(i, cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def finish(processes, limit=240):
    """(exit status, stdout, stderr) of each; `limit` only bounds a hung run."""
    outputs = [p.communicate(timeout=limit) for p in processes]
    return [(p.returncode, *out) for p, out in zip(processes, outputs)]


def report(out):
    (line,) = [line for line in out.splitlines() if line.startswith("{")]
    return json.loads(line)


def no_native_frames(err):
    return not any(mlp_distributed.STACK_FRAME.search(line) for line in err.splitlines())


def test_two_hosts_agree_with_one_process_over_the_network():
    with simulated.Hosts() as hosts:
        port = 23456
        done = finish([start(hosts, i, "--steps", STEPS, port=port) for i in (0, 1)])
    for code, out, err in done:
        assert code == 0, err
    reports = [report(out) for _, out, _ in done]
    assert [r["host"] for r in reports] == ["node0", "node1"]
    assert all(r["devices"] == 4 and r["local_devices"] == 2 for r in reports)
    assert reports[0]["loss"] == reports[1]["loss"]
    assert abs(reports[0]["loss"] - one_device_loss(STEPS)) < mlp_distributed.TOLERANCE
    assert hosts.addresses[0].startswith("10.") and not hosts.addresses[0].startswith("127.")


def test_a_host_whose_name_resolves_to_loopback_uses_the_address_that_reaches_the_coordinator():
    with simulated.Hosts(loopback_names={"node1"}) as hosts:
        done = finish([start(hosts, i, "--steps", STEPS, port=23457) for i in (0, 1)])
        address = hosts.addresses[1]
    (code0, out0, err0), (code1, out1, err1) = done
    assert code0 == code1 == 0, err0 + err1
    assert (f"note: process 1: this host's name 'node1' resolves to 127.0.1.1, a loopback address its peers "
            f"cannot reach; gloo uses {address}, the address that reaches the coordinator") in out1
    assert report(out0)["loss"] == report(out1)["loss"]


def test_process_0_on_a_host_named_as_loopback_stops_at_once_naming_the_fix():
    with simulated.Hosts(loopback_names={"node0"}) as hosts:
        (code, out, err), = finish([start(hosts, 0, "--steps", STEPS, port=23458)], limit=60)
    assert code == 1
    line = err.strip().splitlines()[-1]
    assert line.startswith("process 0: this host's name 'node0' resolves to 127.0.1.1, a loopback address")
    assert "/etc/hosts" in line and "--host-address" in line
    assert no_native_frames(err)


def test_under_slurm_jax_reads_the_job_from_srun_s_variables():
    """The batch script's command (cluster/mlp_distributed.sbatch): `--slurm`,
    jax.distributed.initialize() with no arguments, each process given what srun gives it
    (two nodes, one task each)."""
    job = 4242  # JAX's port: 61440 + job % 4096
    with simulated.Hosts() as hosts:
        processes = []
        for i in (0, 1):
            env = {"SLURM_JOB_ID": str(job), "SLURM_STEP_NODELIST": "node[0-1]", "SLURM_NTASKS": "2",
                   "SLURM_PROCID": str(i), "SLURM_LOCALID": "0", "SLURM_NODEID": str(i), "SLURM_STEP_NUM_NODES": "2",
                   "SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "node[0-1]", "SLURM_NTASKS_PER_NODE": "1"}
            cmd = ["env", *(f"{k}={v}" for k, v in env.items()), sys.executable, *batch_script_command(),
                   "--steps", STEPS, "--heartbeat-timeout", HEARTBEAT]
            processes.append(hosts.popen(i, cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT))
        done = finish(processes)
    for code, out, err in done:
        assert code == 0, err
    reports = [report(out) for _, out, _ in done]
    assert [r["process"] for r in reports] == [0, 1] and reports[0]["loss"] == reports[1]["loss"]
    assert abs(reports[0]["loss"] - one_device_loss(STEPS)) < mlp_distributed.TOLERANCE


def batch_script_command():
    """What cluster/mlp_distributed.sbatch has srun run, after its interpreter."""
    (line,) = [line for line in (ROOT / "cluster" / "mlp_distributed.sbatch").read_text().splitlines()
               if line.startswith("srun ")]
    words = line.split()
    return words[words.index(".venv/bin/python") + 1:]


def wait_until_training(process, limit=120):
    """Read the supervised process's lines until it has joined (an event, not a clock)."""
    deadline = time.monotonic() + limit
    for line in process.stdout:
        if line.strip() == mlp_distributed.JOINED:
            return
        assert time.monotonic() < deadline
    raise AssertionError(f"it ended before joining: {process.stderr.read()}")


@pytest.mark.parametrize("fault", ["peer killed", "link down"])
def test_a_fault_during_training_ends_the_survivors_with_one_line(fault):
    """Process 1 killed (SIGKILL), or the link cut, once both train a million steps: every
    process still running ends within JAX's heartbeat (5 s here) plus the time to notice,
    or at the latest at --stall-timeout (20 s here), with one line."""
    with simulated.Hosts() as hosts:
        running = [start(hosts, i, "--steps", 10**6, "--stall-timeout", 20, port=23459) for i in (0, 1)]
        for p in running:
            wait_until_training(p)
        if fault == "peer killed":
            hosts.kill(1)  # every process on host 1, the training worker included
            survivors = [running[0]]
        else:
            hosts.link_down(1)
            survivors = running
        ended = time.monotonic()
        done = [(p.wait(timeout=180), p.stdout.read(), p.stderr.read()) for p in survivors]
        took = time.monotonic() - ended
    for code, out, err in done:
        assert code == 1
        lines = [line for line in err.strip().splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert re.match(r"process \d \(node\d\): (lost its peers and was stopped|no training step finished)", lines[0])
        assert no_native_frames(err)
    print(f"{fault}: survivors ended {took:.1f} s after the fault:", *(e.strip() for _, _, e in done), sep="\n  ")


def test_a_coordinator_that_never_comes_up_ends_the_waiting_host_with_one_line():
    with simulated.Hosts() as hosts:
        (code, out, err), = finish([start(hosts, 1, "--start-timeout", 5, port=23460)], limit=120)
    assert code == 1
    lines = err.strip().splitlines()
    assert lines == ["process 1: could not join the coordinator at node0:23460 within --start-timeout (5 s): "
                     "is process 0 running there, with the port open between the machines?"]
