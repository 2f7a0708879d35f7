"""The lecture's MLP trained data-parallel in several processes, with `jax.distributed`.

Each process brings its own devices; `jax.distributed.initialize` joins them into
one set, the mesh spans them all, and the lecture's own `model.step` (run from the
pytrees notebook) trains on the 128 data points split across every device. CPU
processes talk through JAX's gloo collectives.

On this machine, one command starts the processes and checks them:

    python notebooks/mlp_distributed.py --processes 2

It checks its arguments before it starts anything (counts of at least 1, a port
that is valid and free, the 128 data rows divisible by the devices), picks a free port
on 127.0.0.1 unless given one, starts each process with --local-devices CPU devices,
gives them --start-timeout seconds to start and join the coordinator and then
--timeout seconds to train, ends every process if one fails or time runs out (saying
which limit it was), and checks that all processes agree on the final loss, and that
it equals the one-process fit within 1e-6. When a process fails, its own error line is
quoted, not the stack frames that follow it.

One process of a run, as on each of several machines (see the README):

    python notebooks/mlp_distributed.py --coordinator HOST:PORT --num-processes N --process-id I
"""

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import jax  # importing starts no backend: the settings in train() still come first
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from lecture.tooling import child_dies_with_us, free_port
from lecture import exported  # the project's package (make setup); importing it starts no JAX backend

TOLERANCE = 1e-6  # final losses of processes and of the one-process fit agree within this
JOINED = "joined the coordinator"
ROWS = 128  # the lecture's MLP data (x and y of 06-pytrees-mlp), split across every device
# A line of a native stack trace (absl, glog, gdb-style), which says where, not what.
STACK_FRAME = re.compile(r"^\s*(?:@\s+0x|\*\*\* |#\d+\s|PC: @|0x[0-9a-f]{6,})")
CAUSE = re.compile(r"error|fail|abort|unavailable|refused|in use|terminat|invalid|timed? ?out|deadline", re.I)


def train(coordinator, num_processes, process_id, local_devices, steps, crash=False, start_timeout=120):
    """One process of the run: join the others within `start_timeout` seconds, train, report
    the final loss."""
    if local_devices:  # CPU devices of this process (GPUs, where present, are used as they are)
        jax.config.update("jax_num_cpu_devices", local_devices)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    # --start-timeout is this process's own limit: a watchdog ends it with one line, before
    # JAX's own time-out (a little later) aborts it with a fatal log and native stack frames.
    joined = threading.Event()

    def watchdog():
        if not joined.wait(start_timeout):
            stop(f"process {process_id}: could not join the coordinator at {coordinator} within --start-timeout "
                 f"({start_timeout:g} s): is process 0 running there, with the port open between the machines?")

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        # Process 0 serves the coordinator on that very address (127.0.0.1 here), nowhere else.
        jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id,
                                   coordinator_bind_address=coordinator if process_id == 0 else None,
                                   initialization_timeout=max(1, int(start_timeout) + 10))
    except Exception as e:
        stop(f"process {process_id}: could not join the coordinator at {coordinator}: {e}")
    joined.set()
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
    mlp = exported.mlp("model", "params", "x", "y")
    if len(mlp.x) != ROWS:
        raise ValueError(f"the lecture's data has {len(mlp.x)} rows, this script expects {ROWS}: update ROWS")
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


def port_in_use(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def last_words(stderr):
    """What a process said before it died: its error lines, not the stack frames after them."""
    lines = [line for line in stderr.splitlines() if line.strip() and not STACK_FRAME.search(line)]
    causes = [line for line in lines if CAUSE.search(line)]
    return (causes or lines)[-3:] or ["(nothing)"]


def _read(stream, lines, joined):
    for line in stream:
        lines.append(line)
        if joined is not None and line.strip() == JOINED:
            joined.set()


def end(processes):
    """End every process still running (its whole process group), and reap it. SIGKILL
    at once: jax.distributed takes SIGTERM as a preemption notice and keeps running."""
    for p in processes:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it may end meanwhile
                os.killpg(p.pid, signal.SIGKILL)
    for p in processes:
        p.wait()


def launch(n, local_devices, steps, timeout, port=None, crash_process=None, start_timeout=120):
    """Run `n` processes on 127.0.0.1; return the exit status (0: they agree)."""
    if port is not None and port_in_use(port):
        print(f"127.0.0.1:{port} is in use (another run?): pick another --port, or leave it out for a free one",
              file=sys.stderr)
        return 1
    coordinator = f"127.0.0.1:{port or free_port()}"
    print(f"coordinator {coordinator}: {n} processes x {local_devices} CPU devices, {steps} steps", flush=True)
    processes, outs, errs, joined, readers = [], [], [], [], []
    late = None
    try:
        for i in range(n):
            cmd = [sys.executable, __file__, "--coordinator", coordinator, "--num-processes", str(n),
                   "--process-id", str(i), "--local-devices", str(local_devices), "--steps", str(steps),
                   "--start-timeout", str(start_timeout + 5)]  # the launcher's own limit comes first
            cmd += ["--crash-process", str(crash_process)] if crash_process is not None else []
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True, preexec_fn=child_dies_with_us(signal.SIGKILL))
            processes.append(p)
            outs.append([]), errs.append([]), joined.append(threading.Event())
            readers += [threading.Thread(target=_read, args=(p.stdout, outs[i], joined[i]), daemon=True),
                        threading.Thread(target=_read, args=(p.stderr, errs[i], None), daemon=True)]
            readers[-2].start(), readers[-1].start()
        print("process ids: " + " ".join(str(p.pid) for p in processes), flush=True)
        # Two limits: starting (JAX, the coordinator, every process joining it) takes a few
        # seconds, more on a busy machine; the training's own limit counts from then on.
        start_deadline, run_deadline, failed = time.monotonic() + start_timeout, None, []
        while any(p.poll() is None for p in processes):
            failed = [i for i, p in enumerate(processes) if p.poll() not in (None, 0)]
            if failed:
                break
            if run_deadline is None and all(j.is_set() for j in joined):
                run_deadline = time.monotonic() + timeout
            if run_deadline is None and time.monotonic() > start_deadline:
                late = "start"
                break
            if run_deadline is not None and time.monotonic() > run_deadline:
                late = "run"
                break
            time.sleep(0.1)
    finally:
        end(processes)
        for r in readers:
            r.join()

    outputs = [("".join(o), "".join(e)) for o, e in zip(outs, errs)]
    if late or failed or any(p.returncode != 0 for p in processes):
        i = failed[0] if failed else 0
        if late == "start":
            waiting = [str(k) for k, j in enumerate(joined) if not j.is_set()]
            why = (f"and the others were ended: process{'es' if len(waiting) > 1 else ''} {', '.join(waiting)} "
                   f"had not joined the coordinator within --start-timeout ({start_timeout:g} s)")
            i = int(waiting[0])
        elif late == "run":
            why = f"ran past --timeout ({timeout:g} s, counted from when every process had joined) and was ended"
        elif not joined[0].is_set():
            i, why = 0, f"(the coordinator) could not start at {coordinator}"
        else:
            why = f"failed (exit status {processes[i].returncode})"
        print(f"process {i} {why}\nEvery process has been ended. The last words of process {i}:\n  "
              + "\n  ".join(last_words(outputs[i][1])), file=sys.stderr)
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
    mlp = exported.mlp("model", "params", "x", "y")
    m = mlp.model()
    return float(m.loss_fn(m.fit(mlp.params, mlp.x, mlp.y, n=steps), mlp.x, mlp.y))


def check(parser, args):
    """Every argument sensible before anything starts; parser.error (one line, exit 2) if not."""
    if args.coordinator:
        if args.num_processes is None or args.process_id is None:
            parser.error("--coordinator needs --num-processes and --process-id")
        host, _, port = args.coordinator.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            parser.error(f"--coordinator {args.coordinator}: give HOST:PORT, the port from 1 to 65535")
        processes = args.num_processes
        if processes < 1:
            parser.error(f"--num-processes {processes}: at least 1")
        if not 0 <= args.process_id < processes:
            parser.error(f"--process-id {args.process_id}: from 0 to {processes - 1} for {processes} processes")
    else:
        processes = args.processes
        if processes < 1:
            parser.error(f"--processes {processes}: at least 1")
        if args.port is not None and not 1 <= args.port <= 65535:
            parser.error(f"--port {args.port}: from 1 to 65535")
        if not args.timeout > 0:
            parser.error(f"--timeout {args.timeout:g}: more than 0 seconds")
    if not args.start_timeout > 0:
        parser.error(f"--start-timeout {args.start_timeout:g}: more than 0 seconds")
    if args.local_devices < 1:
        parser.error(f"--local-devices {args.local_devices}: at least 1")
    if args.steps < 1:
        parser.error(f"--steps {args.steps}: at least 1")
    devices = processes * args.local_devices
    if args.coordinator is None and ROWS % devices:
        parser.error(f"{processes} processes x {args.local_devices} devices = {devices} devices: the lecture's "
                     f"{ROWS} rows must split evenly across them (use a divisor of {ROWS}: 1, 2, 4, 8, ...)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2, help="launch this many processes here (default 2)")
    parser.add_argument("--local-devices", type=int, default=2, help="CPU devices per process (default 2)")
    parser.add_argument("--steps", type=int, default=1000, help="the lecture's 1000 steps")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds the training may take once every process has joined (default 120)")
    parser.add_argument("--start-timeout", type=float, default=120,
                        help="seconds the processes may take to start and join the coordinator (default 120)")
    parser.add_argument("--port", type=int, help="the coordinator's port (default: a free one)")
    parser.add_argument("--coordinator", help="HOST:PORT of process 0: run one process of a run")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--crash-process", type=int, help=argparse.SUPPRESS)  # the tests' failing process
    args = parser.parse_args(argv)
    check(parser, args)
    if args.coordinator:
        train(args.coordinator, args.num_processes, args.process_id, args.local_devices, args.steps,
              crash=args.crash_process == args.process_id, start_timeout=args.start_timeout)
        return 0
    return launch(args.processes, args.local_devices, args.steps, args.timeout, args.port, args.crash_process,
                  args.start_timeout)


if __name__ == "__main__":
    sys.exit(main())
