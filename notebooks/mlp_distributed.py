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

One process of a run, as on each of several machines (docs/maintainer.md, "Many machines"):

    python notebooks/mlp_distributed.py --coordinator HOST:PORT --num-processes N --process-id I
    srun python notebooks/mlp_distributed.py --slurm          (cluster/mlp_distributed.sbatch)

Such a process is supervised: the training runs in a child process, and this one reports
in one line why it ended when it did not end well (its own limits: --start-timeout to
join, --stall-timeout between steps; JAX's heartbeat, --heartbeat-timeout, when a peer or
the network is lost), never with the native stack frames JAX prints when it aborts. A host
whose own name resolves to a loopback address (Debian's `127.0.1.1 hostname`) is told
apart before it joins: a process other than 0 gives gloo the address that reaches the
coordinator instead (saying so), process 0 stops at once naming the fix.
"""

import argparse
import contextlib
import ipaddress
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
PROGRESS = "step"  # a worker's line after every PROGRESS_EVERY steps: the supervisor's sign of life
PROGRESS_EVERY = 10
LOST = re.compile(r"heartbeat|tasks have crashed|PollForError|coordination|distributed service|unavailable|socket closed"
                  r"|connection reset|connection refused|broken pipe|gloo", re.I)
ROWS = 128  # the lecture's MLP data (x and y of 06-pytrees-mlp), split across every device
# A line of a native stack trace (absl, glog, gdb-style), which says where, not what.
STACK_FRAME = re.compile(r"^\s*(?:@\s+0x|\*\*\* |#\d+\s|PC: @|0x[0-9a-f]{6,})")
# absl's prefix of a log line: "F1205 23:58:24.780641    8167 client.h:86] "
LOG_PREFIX = re.compile(r"^[EFWI]\d{4} [\d:.]+\s+\d+ \S+\] ")
# A line that only says where in XLA's source a message came from.
SOURCE_LOCATION = re.compile(r"^\s*(external/|=== |RPC: )|\.(cc|h):\d+\]?\s*$")
CAUSE = re.compile(r"error|fail|abort|unavailable|refused|in use|terminat|invalid|timed? ?out|deadline", re.I)


def train(coordinator, num_processes, process_id, local_devices, steps, crash=False, start_timeout=120,
          heartbeat_timeout=10, host_address=None):
    """One process of the run (a worker): join the others within `start_timeout` seconds, train,
    report the final loss. `coordinator` None: a SLURM job step, which JAX reads itself
    (jax.distributed.initialize() with no arguments)."""
    if local_devices:  # CPU devices of this process (GPUs, where present, are used as they are)
        jax.config.update("jax_num_cpu_devices", local_devices)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    who = f"process {process_id if process_id is not None else os.environ.get('SLURM_PROCID', '?')}"
    at = coordinator or slurm_coordinator()  # (where JAX will look for it, for the messages)
    address = gloo_address(who, at, process_id, num_processes, host_address)
    if address:
        tell_gloo(who, address)
    # --start-timeout is this process's own limit: a watchdog ends it with one line, before
    # JAX's own time-out (a little later) aborts it with a fatal log and native stack frames.
    joined = threading.Event()

    def watchdog():
        if not joined.wait(start_timeout):
            stop(f"{who}: could not join the coordinator at {at} within "
                 f"--start-timeout ({start_timeout:g} s): is process 0 running there, with the port open between "
                 "the machines?")

    threading.Thread(target=watchdog, daemon=True).start()
    limits = dict(initialization_timeout=max(1, int(start_timeout) + 10), heartbeat_timeout_seconds=heartbeat_timeout,
                  shutdown_timeout_seconds=max(10, 2 * heartbeat_timeout))
    try:
        if coordinator is None:
            jax.distributed.initialize(**limits)  # SLURM's variables, read by JAX (srun sets them)
        else:
            # Process 0 serves the coordinator on that very address, nowhere else (or on the
            # address --host-address names for this machine).
            bind = None
            if process_id == 0:
                bind = f"{host_address}:{coordinator.rpartition(':')[2]}" if host_address else coordinator
            jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id,
                                       coordinator_bind_address=bind, **limits)
    except Exception as e:
        stop(f"{who}: could not join the coordinator at {at}: {e}")
    joined.set()
    who = f"process {jax.process_index()}"
    print(JOINED, flush=True)
    if crash:
        stop(f"{who}: stopping on purpose (--crash-process)")
    try:
        loss, rate = fit_data_parallel(steps)
    except Exception as e:
        stop(f"{who}: {type(e).__name__}: {e}")
    print(json.dumps({"process": jax.process_index(), "host": socket.gethostname(), "devices": jax.device_count(),
                      "local_devices": jax.local_device_count(), "loss": loss, "steps_per_s": rate}), flush=True)
    jax.distributed.shutdown()


def slurm_coordinator():
    """HOST:PORT of a SLURM job step's coordinator, as JAX derives it from SLURM's variables
    (the first node of SLURM_STEP_NODELIST, a port from SLURM_JOB_ID); None outside SLURM."""
    try:
        from jax._src.clusters.slurm_cluster import SlurmCluster
    except ImportError:  # JAX moved it: the check below is skipped, JAX still reads SLURM itself
        return None
    return SlurmCluster.get_coordinator_address(None, None) if SlurmCluster.is_env_present() else None


def is_loopback(address):
    return address is None or ipaddress.ip_address(address).is_loopback


def gloo_address(who, coordinator, process_id, num_processes, host_address):
    """The address gloo should give its peers for this host, where its own hostname would
    give them a loopback address (None: let gloo resolve the hostname, as it does). Stops
    with one line where no such address can be told."""
    if host_address:
        return host_address
    if coordinator is None or (num_processes or 2) < 2:
        return None
    host, _, port = coordinator.rpartition(":")
    try:
        coordinator_ip = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    except OSError as e:
        stop(f"{who}: the coordinator's host {host!r} does not resolve here ({e.strerror or e}): "
             "add it to /etc/hosts or give its address")
    name = socket.gethostname()
    try:
        mine = socket.gethostbyname(name)
    except OSError:
        mine = None
    if not is_loopback(mine):
        return None  # the hostname resolves to an address the peers can reach
    if is_loopback(coordinator_ip) and host in ("localhost", coordinator_ip):
        return None  # every process on this machine (the coordinator at 127.0.0.1)
    if process_id == 0 or is_loopback(coordinator_ip):
        stop(f"{who}: this host's name {name!r} resolves to {mine or 'nothing'}, a loopback address the other "
             "machines cannot reach, and process 0 cannot tell which of its addresses they can: add a line "
             f"`ADDRESS {name}` to /etc/hosts (ADDRESS: this machine's address on the network the hosts share), "
             "or run with --host-address ADDRESS")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((coordinator_ip, int(port)))  # sends nothing: the route's source address
        local = probe.getsockname()[0]
    print(f"note: {who}: this host's name {name!r} resolves to {mine}, a loopback address its peers cannot reach; "
          f"gloo uses {local}, the address that reaches the coordinator (to say so yourself: a line "
          f"`{local} {name}` in /etc/hosts, or --host-address {local})", flush=True)
    return local


def tell_gloo(who, address):
    """Have JAX's gloo collectives advertise `address` to their peers instead of this host's
    name. JAX has no setting for it (jaxlib's make_gloo_tcp_collectives takes a hostname,
    which JAX does not pass), so the call is wrapped where JAX makes it."""
    from jax._src import xla_bridge

    make = getattr(xla_bridge._jax, "make_gloo_tcp_collectives", None)
    try:
        if make is None:
            raise AttributeError("make_gloo_tcp_collectives")
        xla_bridge._jax.make_gloo_tcp_collectives = (
            lambda distributed_client, hostname=None, interface=None: make(distributed_client=distributed_client,
                                                                          hostname=address))
    except (AttributeError, TypeError):
        stop(f"{who}: this JAX does not let its gloo collectives be given an address: add a line "
             f"`{address} {socket.gethostname()}` to /etc/hosts")


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
    started = None
    for i in range(1, steps + 1):  # the lecture's fit, waiting for each step's collectives
        params = jax.block_until_ready(m.step(params, x, y))
        if i == 1:
            started = time.perf_counter()  # the steps after the first, which compiled
        if i % PROGRESS_EVERY == 0:
            print(f"{PROGRESS} {i}", flush=True)
    rate = (steps - 1) / (time.perf_counter() - started) if steps > 1 else None
    return float(m.loss_fn(params, x, y).addressable_data(0)), rate


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
                   "--start-timeout", str(start_timeout + 5), "--worker"]  # the launcher's own limit comes first
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
        rate = f", {r['steps_per_s']:.0f} steps/s" if r.get("steps_per_s") else ""
        print(f"process {r['process']}: {r['local_devices']} of {r['devices']} devices, final loss {r['loss']:.7f}{rate}")
    reference = one_process_loss(steps)
    losses = [r["loss"] for r in reports]
    agree = len(reports) == n and all(abs(loss - reference) < TOLERANCE for loss in losses)
    print(f"one process: final loss {reference:.7f}; "
          f"{'all agree' if agree else 'they DISAGREE'} within {TOLERANCE:g}")
    return 0 if agree else 1


def supervise(argv, who, start_timeout, stall_timeout):
    """One process of a multi-machine run, supervised: its worker (this script with --worker)
    trains in a child process; its lines are passed on as they come (the training's progress
    only counted). The worker is ended if it has not joined within --start-timeout (it stops
    itself first), or if no step finishes for --stall-timeout; when it ends badly, one line
    says why: its own line where it wrote one, else what JAX's last words mean, never a
    native stack frame. Returns the exit status."""
    worker = subprocess.Popen([sys.executable, __file__, *argv, "--worker"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True,
                              preexec_fn=child_dies_with_us(signal.SIGKILL))
    errors, joined, alive = [], threading.Event(), [time.monotonic()]

    def relay():
        for line in worker.stdout:
            alive[0] = time.monotonic()
            if line.startswith(PROGRESS):
                continue
            if line.strip() == JOINED:
                joined.set()
            print(line, end="", flush=True)

    readers = [threading.Thread(target=relay, daemon=True),
               threading.Thread(target=_read, args=(worker.stderr, errors, None), daemon=True)]
    for r in readers:
        r.start()
    why, start_deadline = None, time.monotonic() + start_timeout + 15  # the worker's own watchdog first
    try:
        while worker.poll() is None:
            if not joined.is_set() and time.monotonic() > start_deadline:
                why = f"{who}: had not joined the coordinator within --start-timeout ({start_timeout:g} s); ended"
                break
            if joined.is_set() and time.monotonic() - alive[0] > stall_timeout:
                why = (f"{who}: no training step finished for --stall-timeout ({stall_timeout:g} s): a peer has "
                       "stopped, or the network between the hosts is down; ended")
                break
            time.sleep(0.1)
    finally:
        end([worker])
        for r in readers:
            r.join()
    if why is None and worker.returncode == 0:
        return 0
    print(why or cause("".join(errors), worker.returncode, who), file=sys.stderr, flush=True)
    return 1


def cause(stderr, returncode, who):
    """Why a worker ended, in one line: its own line where it wrote one (`process N: ...`)."""
    own = [line for line in stderr.splitlines() if line.startswith("process ")]
    if own:
        return own[-1]
    words = last_words(stderr)
    how = f"signal {signal.Signals(-returncode).name}" if returncode < 0 else f"exit status {returncode}"
    unhealthy = re.search(r"stopped sending heartbeats\):\s*([\d,\s]+?)\s*\n", stderr)
    lost = [LOG_PREFIX.sub("", line).strip() for line in stderr.splitlines()
            if LOST.search(line) and not STACK_FRAME.search(line) and not SOURCE_LOCATION.search(line)]
    if unhealthy or lost:
        said = (f"JAX's coordination service found process {', '.join(unhealthy.group(1).split())} silent "
                "(no heartbeat)" if unhealthy else f"JAX said: {lost[0].split('. ')[0][:160]}")
        return (f"{who}: lost its peers and was stopped ({how}): a peer process ended, or the network between "
                f"the hosts went down; {said}")
    return f"{who}: ended ({how}): {words[-1].strip()[:200]}"


def one_process_loss(steps):
    """The lecture's own fit on one device, for comparison."""
    mlp = exported.mlp("model", "params", "x", "y")
    m = mlp.model()
    return float(m.loss_fn(m.fit(mlp.params, mlp.x, mlp.y, n=steps), mlp.x, mlp.y))


def check(parser, args):
    """Every argument sensible before anything starts; parser.error (one line, exit 2) if not."""
    if args.slurm:
        if args.coordinator:
            parser.error("--slurm takes the coordinator from SLURM's variables: leave out --coordinator")
        missing = [v for v in ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID")
                   if v not in os.environ]
        if missing:
            parser.error(f"--slurm runs under srun, which sets {', '.join(missing)}: "
                         "submit cluster/mlp_distributed.sbatch with sbatch")
        processes = int(os.environ["SLURM_NTASKS"])
    elif args.coordinator:
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
    for name in ("stall_timeout", "heartbeat_timeout"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} {getattr(args, name):g}: more than 0 seconds")
    devices = processes * args.local_devices
    if args.coordinator is None and not args.slurm and ROWS % devices:
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
    parser.add_argument("--slurm", action="store_true",
                        help="one process of a SLURM job step (srun): JAX reads the coordinator and ids from SLURM")
    parser.add_argument("--host-address",
                        help="this machine's address as the others reach it (default: what its hostname resolves to)")
    parser.add_argument("--heartbeat-timeout", type=int, default=10,
                        help="seconds without a heartbeat after which JAX takes a process for lost (default 10)")
    parser.add_argument("--stall-timeout", type=float, default=60,
                        help="seconds a supervised process may go without finishing a training step (default 60)")
    parser.add_argument("--crash-process", type=int, help=argparse.SUPPRESS)  # the tests' failing process
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # a supervised (or launched) process
    argv = sys.argv[1:] if argv is None else list(map(str, argv))
    args = parser.parse_args(argv)
    check(parser, args)
    if args.worker:
        train(None if args.slurm else args.coordinator, args.num_processes, args.process_id, args.local_devices,
              args.steps, crash=args.crash_process is not None and args.crash_process == args.process_id,
              start_timeout=args.start_timeout, heartbeat_timeout=args.heartbeat_timeout,
              host_address=args.host_address)
        return 0
    if args.coordinator or args.slurm:
        who = f"process {os.environ['SLURM_PROCID'] if args.slurm else args.process_id} ({socket.gethostname()})"
        return supervise(argv, who, args.start_timeout, args.stall_timeout)
    return launch(args.processes, args.local_devices, args.steps, args.timeout, args.port, args.crash_process,
                  args.start_timeout)


if __name__ == "__main__":
    sys.exit(main())
