"""The lecture's MLP trained data-parallel in several processes, with `jax.distributed`.

Each process brings its own devices; `jax.distributed.initialize` joins them into
one set, the mesh spans them all, and the lecture's own `model.step` (run from the
pytrees notebook) trains on the 128 data points split across every device. CPU
processes talk through JAX's gloo collectives.

On this machine, one command starts the processes and checks them:

    python notebooks/mlp_distributed.py --processes 2

It picks a free port on 127.0.0.1, starts each process with --local-devices CPU
devices, waits at most --timeout seconds, ends every process if one fails or time
runs out, and checks that all processes agree on the final loss, and that it
equals the one-process fit within 1e-6.

One process of a run, as on each of several machines (see the README):

    python notebooks/mlp_distributed.py --coordinator HOST:PORT --num-processes N --process-id I
"""

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax  # importing starts no backend: the settings in train() still come first
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lecture import lecture_code  # noqa: E402  (beside this script; it does not start JAX)

TOLERANCE = 1e-6  # final losses of processes and of the one-process fit agree within this
JOINED = "joined the coordinator"


def train(coordinator, num_processes, process_id, local_devices, steps, crash=False):
    """One process of the run: join the others, train, report the final loss."""
    if local_devices:  # CPU devices of this process (GPUs, where present, are used as they are)
        jax.config.update("jax_num_cpu_devices", local_devices)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        # Process 0 serves the coordinator on that very address (127.0.0.1 here), nowhere else.
        jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id,
                                   coordinator_bind_address=coordinator if process_id == 0 else None,
                                   initialization_timeout=60)
    except Exception as e:
        stop(f"process {process_id}: could not join the coordinator at {coordinator}: {e}")
    print(JOINED, flush=True)
    if crash:
        stop(f"process {process_id}: stopping on purpose (--crash-process)")
    try:
        loss = fit_data_parallel(steps)
    except Exception as e:
        stop(f"process {process_id}: {type(e).__name__}: {e}")
    print(json.dumps({"process": process_id, "devices": jax.device_count(),
                      "local_devices": jax.local_device_count(), "loss": loss}), flush=True)
    jax.distributed.shutdown()


def stop(message):
    """Exit at once with an error. A plain exit would first wait at jax.distributed's
    shutdown barrier for the other processes, which may never come."""
    print(message, file=sys.stderr, flush=True)
    os._exit(1)


def fit_data_parallel(steps):
    """The lecture's MLP and data, over a mesh of every process's devices."""
    mlp = lecture_code("06-pytrees-mlp")  # the lecture's init_params, model, params, x and y
    mesh = jax.make_mesh((jax.device_count(),), ("data",))

    def global_array(value, spec):
        """`value`, identical in every process, laid over the mesh as `spec` says."""
        value = np.asarray(value)
        return jax.make_array_from_callback(value.shape, NamedSharding(mesh, spec), lambda i: value[i])

    x, y = global_array(mlp.x, P("data")), global_array(mlp.y, P("data"))
    params = jax.tree.map(lambda p: global_array(p, P()), mlp.params)
    m = mlp.model()
    for _ in range(steps):  # the lecture's fit, waiting for each step's collectives
        params = jax.block_until_ready(m.step(params, x, y))
    return float(m.loss_fn(params, x, y).addressable_data(0))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def end(processes):
    """End every process still running (its whole process group), and reap it. SIGKILL
    at once: jax.distributed takes SIGTERM as a preemption notice and keeps running."""
    for p in processes:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it may end meanwhile
                os.killpg(p.pid, signal.SIGKILL)
    for p in processes:
        p.wait()


def launch(n, local_devices, steps, timeout, port=None, crash_process=None):
    """Run `n` processes on 127.0.0.1; return the exit status (0: they agree)."""
    coordinator = f"127.0.0.1:{port or free_port()}"
    print(f"coordinator {coordinator}: {n} processes x {local_devices} CPU devices, {steps} steps", flush=True)
    processes = []
    try:
        for i in range(n):
            cmd = [sys.executable, __file__, "--coordinator", coordinator, "--num-processes", str(n),
                   "--process-id", str(i), "--local-devices", str(local_devices), "--steps", str(steps)]
            cmd += ["--crash-process", str(crash_process)] if crash_process is not None else []
            processes.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True, start_new_session=True))
        print("process ids: " + " ".join(str(p.pid) for p in processes), flush=True)
        deadline, failed = time.monotonic() + timeout, []
        while any(p.poll() is None for p in processes):
            failed = [i for i, p in enumerate(processes) if p.poll() not in (None, 0)]
            if failed or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        end(processes)

    outputs = [p.communicate() for p in processes]
    if failed or any(p.returncode != 0 for p in processes):
        i = failed[0] if failed else 0
        if JOINED not in outputs[0][0]:
            i, why = 0, (f"(the coordinator) could not start at {coordinator}: "
                         "is the port in use, or the address not this machine's?")
        elif not failed:
            why = f"ran past --timeout ({timeout:g} s) and was ended"
        else:
            why = f"failed (exit status {processes[i].returncode})"
        last = [line for line in outputs[i][1].splitlines() if line.strip()][-3:] or ["(nothing)"]
        print(f"process {i} {why}\nEvery process has been ended. The last words of process {i}:\n  "
              + "\n  ".join(last), file=sys.stderr)
        return 1

    reports = [json.loads(line) for out, _ in outputs for line in out.splitlines() if line.startswith("{")]
    for r in reports:
        print(f"process {r['process']}: {r['local_devices']} of {r['devices']} devices, final loss {r['loss']:.7f}")
    reference = one_process_loss(steps)
    losses = [r["loss"] for r in reports]
    agree = len(reports) == n and all(abs(loss - reference) < TOLERANCE for loss in losses)
    print(f"one process: final loss {reference:.7f}; "
          f"{'all agree' if agree else 'they DISAGREE'} within {TOLERANCE:g}")
    return 0 if agree else 1


def one_process_loss(steps):
    """The lecture's own fit on one device, for comparison."""
    mlp = lecture_code("06-pytrees-mlp")
    m = mlp.model()
    return float(m.loss_fn(m.fit(mlp.params, mlp.x, mlp.y, n=steps), mlp.x, mlp.y))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2, help="launch this many processes here (default 2)")
    parser.add_argument("--local-devices", type=int, default=2, help="CPU devices per process (default 2)")
    parser.add_argument("--steps", type=int, default=1000, help="the lecture's 1000 steps")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before every process is ended")
    parser.add_argument("--port", type=int, help="the coordinator's port (default: a free one)")
    parser.add_argument("--coordinator", help="HOST:PORT of process 0: run one process of a run")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--crash-process", type=int, help=argparse.SUPPRESS)  # the tests' failing process
    args = parser.parse_args(argv)
    if args.coordinator:
        if args.num_processes is None or args.process_id is None:
            parser.error("--coordinator needs --num-processes and --process-id")
        train(args.coordinator, args.num_processes, args.process_id, args.local_devices, args.steps,
              crash=args.crash_process == args.process_id)
        return 0
    return launch(args.processes, args.local_devices, args.steps, args.timeout, args.port, args.crash_process)


if __name__ == "__main__":
    sys.exit(main())
