"""`make bench`: the lecture's timing claims, measured side by side on this machine.

Every comparison of the lecture runs in one process on the current JAX backend:
1000x1000 matmul and `3*x + x` (NumPy, JAX, JAX with `block_until_ready`), SELU on
1e6 values (NumPy, JAX eager, JAX jit), `fit_simple` eager against jitted, the
compile time of the unrolled jitted fit against a `lax.scan` fit, and the MLP's
1000 steps three ways: the lecture's Python loop over its jitted step, one
`lax.scan` program, and that program data-parallel over 8 devices (timed in a
process of its own, which must set its device count before JAX starts). The first
call (warm-up, compilation) is timed apart from the steady state; each
steady-state figure is the median time per call over repeats, with the
interquartile range as its spread.

What is timed is the lecture's own code: SELU, the losses and fits, the MLP and
its data come from the notebooks' cells tagged `export` (`lecture.exported`),
so the benchmark follows any change to them.

Writes bench/results/<backend>.json and .png (ignored by git; the committed reference run
is bench/reference/, written with --out bench/reference), prints a table with the lecture's
own figures beside ours, and checks the bars (exit status 1 if one is missed).

    python bench/run.py [--tiny] [--out DIR] [--no-check] [--notebooks DIR]
"""

import argparse
import json
import os
import platform
import statistics
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax  # importing starts no backend: run_data_parallel() still sets its devices first
import numpy as np

from lecture.tooling import NOTEBOOKS, ROOT, write_text_atomically

DATA_PARALLEL_DEVICES = 8

# The slides' own timings (seconds per call), from the lecture's machine.
LECTURE = {
    "matmul_numpy": 8.7e-3, "matmul_jax": 4.19e-3, "matmul_jax_block": 3.92e-3,
    "add_numpy": 536e-6, "add_jax": 529e-6, "add_jax_block": 496e-6,
    "selu_numpy": 4.38e-3, "selu_jax_eager": 1.78e-3, "selu_jax_jit": 370e-6,
    "fit_eager": 442e-3, "fit_jit": 307e-6, "fit_jit_block": 310e-6,
}
# speed-up name: (slower, faster) -- time of the first over time of the second
SPEEDUPS = {
    "matmul_jax_vs_numpy": ("matmul_numpy", "matmul_jax_block"),
    "add_jax_vs_numpy": ("add_numpy", "add_jax_block"),
    "selu_jit_vs_numpy": ("selu_numpy", "selu_jax_jit"),
    "selu_jit_vs_eager": ("selu_jax_eager", "selu_jax_jit"),
    "fit_jit_vs_eager": ("fit_eager", "fit_jit_block"),
    "mlp_scan_vs_loop": ("mlp_fit", "mlp_scan"),
    "mlp_data_parallel_vs_loop": ("mlp_fit", "mlp_data_parallel"),
    "sgd_epoch_batches_vs_full": ("sgd_batches", "sgd_full"),
}
BARS = {"fit_jit_vs_eager": 500, "selu_jit_vs_numpy": 10, "matmul_jax_vs_numpy": 0.8,
        "scan_compile_vs_unrolled": 10}
# What each row of the printed table is, in words (the JSON keeps the identifiers).
MEASUREMENTS = {
    "matmul_numpy": "x @ x, NumPy", "matmul_jax": "x @ x, JAX", "matmul_jax_block": "x @ x, JAX, waited for",
    "add_numpy": "3*x + x, NumPy", "add_jax": "3*x + x, JAX", "add_jax_block": "3*x + x, JAX, waited for",
    "selu_numpy": "SELU, NumPy", "selu_jax_eager": "SELU, JAX", "selu_jax_jit": "SELU, JAX jit",
    "fit_eager": "fit_simple, eager", "fit_jit": "fit_simple, jit", "fit_jit_block": "fit_simple, jit, waited for",
    "fit_scan_block": "fit, lax.scan, waited for", "mlp_fit": "MLP, Python loop of steps",
    "mlp_scan": "MLP, one lax.scan", "mlp_data_parallel": "MLP, scan on 8 devices",
    "sgd_batches": "SGD epoch, 10 batches of 50", "sgd_full": "SGD epoch, full batch",
}
SPEEDUP_WORDS = {
    "matmul_jax_vs_numpy": "x @ x: JAX over NumPy", "add_jax_vs_numpy": "3*x + x: JAX over NumPy",
    "selu_jit_vs_numpy": "SELU: jit over NumPy", "selu_jit_vs_eager": "SELU: jit over JAX",
    "fit_jit_vs_eager": "fit_simple: jit over eager", "mlp_scan_vs_loop": "MLP: scan over loop",
    "mlp_data_parallel_vs_loop": "MLP: 8 devices over loop",
    "scan_compile_vs_unrolled": "compiling: scan over unrolled",
    "sgd_epoch_batches_vs_full": "SGD epoch: full over batches",
}


def progress(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def measure(fn, repeats, min_time):
    """First-call time, then the median (and quartiles) of the time per call over
    `repeats` repeats of `number` calls, `number` chosen so a repeat lasts >= min_time."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        if (elapsed := time.perf_counter() - t0) >= min_time or number >= 10**6:
            break
        number *= 2 if elapsed * 2 >= min_time else 10
    per_call = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        per_call.append((time.perf_counter() - t0) / number)
    q1, median, q3 = statistics.quantiles(per_call, n=4) if repeats >= 2 else (per_call[0],) * 3
    return {"first_s": first, "median_s": statistics.median(per_call), "q1_s": q1, "q3_s": q3,
            "min_s": min(per_call), "max_s": max(per_call), "repeats": repeats, "number": number}


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def mlp_scan_fit(m, n):
    """The lecture's MLP step, `n` times as one jitted lax.scan."""
    return jax.jit(lambda params, x, y: jax.lax.scan(lambda p, _: (m.step(p, x, y), None), params, length=n)[0])


def data_parallel(tiny, notebooks):
    """Time the scan fit data-parallel, in a process of its own: the device count
    must be set before JAX starts, and the other measurements use one device."""
    cmd = [sys.executable, __file__, "--data-parallel-only", "--notebooks", str(notebooks)] + (["--tiny"] if tiny else [])
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"the data-parallel measurement failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def run_data_parallel(tiny, notebooks):
    """In its own process: the MLP's scan fit over DATA_PARALLEL_DEVICES CPU devices
    (or the accelerators present), batch split, parameters replicated."""
    jax.config.update("jax_num_cpu_devices", DATA_PARALLEL_DEVICES)
    from jax.sharding import NamedSharding, PartitionSpec as P

    from lecture import exported

    mlp = exported.mlp("model", "params", "x", "y", notebooks=notebooks)
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    x, y = jax.device_put((mlp.x, mlp.y), NamedSharding(mesh, P("data")))
    params = jax.device_put(mlp.params, NamedSharding(mesh, P()))
    n = 10 if tiny else 1000
    fit = mlp_scan_fit(mlp.model(), n)
    timing = measure(lambda: jax.block_until_ready(fit(params, x, y)), *((3, 0.005) if tiny else (7, 0.2)))
    return timing | {"devices": jax.device_count()}


def peak_gflops():
    """Cores x clock x single-precision FLOPs per cycle, as far as /proc/cpuinfo tells."""
    info = {"cores": os.cpu_count(), "model": platform.processor() or platform.machine()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info | {"peak_gflops": None, "note": "no /proc/cpuinfo"}
    fields = dict(l.split(":", 1) for l in text.splitlines() if ":" in l)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    mhz = float(fields.get("cpu MHz", 0) or 0)
    try:  # the highest clock the kernel reports, else the current one
        mhz = max(mhz, int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1000)
    except (OSError, ValueError):
        pass
    if "avx512f" in flags:
        fpc, why = 64, ("AVX-512: 2 FMA units x 16 float32 lanes x 2; an upper bound, "
                        "chips that split 512-bit work (AMD Zen 4) reach half")
    elif "avx2" in flags and "fma" in flags:
        fpc, why = 32, "AVX2: 2 FMA units x 8 float32 lanes x 2"
    elif "avx" in flags:
        fpc, why = 16, "AVX: 8 lanes x (add + mul)"
    else:
        fpc, why = 8, "SSE: 4 lanes x (add + mul)"
    info |= {"model": fields.get("model name", info["model"]), "clock_ghz": mhz / 1000,
             "flops_per_cycle": fpc, "assumes": why}
    info["peak_gflops"] = info["cores"] * info["clock_ghz"] * fpc if mhz else None
    return info


def run(tiny=False, notebooks=NOTEBOOKS):
    from lecture import exported

    # The lecture's own code, run from its notebooks' cells tagged `export` (each
    # runs the notebook's setup first: legacy PRNG, highest matmul precision), each
    # notebook's just before its section (an error in one stops the run there).
    selu = exported.selu("SELU_np", "SELU_jnp", notebooks=notebooks)
    import jax.numpy as jnp

    backend = jax.default_backend()
    repeats, min_time = (3, 0.005) if tiny else (7, 0.2)
    size, n_selu, n_fit, n_mlp = (100, 10_000, 10, 10) if tiny else (1000, 1_000_000, 250, 1000)
    results, compile_s = {}, {}

    def bench(name, fn, label):
        progress(f"{label} ...")
        results[name] = measure(fn, repeats, min_time)
        progress(f"{label}: {results[name]['median_s'] * 1e3:.3f} ms per call")

    key = jax.random.PRNGKey(1234)
    x_jnp = jax.random.normal(key, (size, size))
    x_np = np.array(x_jnp)
    bench("matmul_numpy", lambda: x_np @ x_np, f"matmul {size}x{size}, NumPy")
    bench("matmul_jax", lambda: x_jnp @ x_jnp, f"matmul {size}x{size}, JAX")
    bench("matmul_jax_block", lambda: (x_jnp @ x_jnp).block_until_ready(), f"matmul {size}x{size}, JAX, block_until_ready")
    jax.block_until_ready(x_jnp @ x_jnp)
    bench("add_numpy", lambda: 3 * x_np + x_np, "3*x + x, NumPy")
    bench("add_jax", lambda: 3 * x_jnp + x_jnp, "3*x + x, JAX")
    bench("add_jax_block", lambda: (3 * x_jnp + x_jnp).block_until_ready(), "3*x + x, JAX, block_until_ready")

    x = np.arange(float(n_selu))
    bench("selu_numpy", lambda: selu.SELU_np(x), f"SELU on {n_selu:g} values, NumPy")
    xj = jnp.arange(float(n_selu))
    bench("selu_jax_eager", lambda: selu.SELU_jnp(xj).block_until_ready(), f"SELU on {n_selu:g} values, JAX eager")
    selu_jit = jax.jit(selu.SELU_jnp)
    bench("selu_jax_jit", lambda: selu_jit(xj).block_until_ready(), f"SELU on {n_selu:g} values, JAX jit")

    # The regression example: fit_simple eager and jitted, and the scan fit.
    reg = exported.regression("b", "reg_loss", "fit_simple", "fit_scan_jit", notebooks=notebooks)
    b, loss = reg.b, reg.reg_loss
    fit_jit = jax.jit(reg.fit_simple, static_argnames=["loss", "λ", "n", "X", "y", "model"])  # as on the slide
    progress(f"compiling fit_simple unrolled over {n_fit} steps ...")
    compile_s["fit_unrolled"] = timed(lambda: fit_jit.lower(b, loss, n=n_fit).compile())
    progress(f"compiling fit_scan over {n_fit} steps ...")
    compile_s["fit_scan"] = timed(lambda: reg.fit_scan_jit.lower(b, loss, n=n_fit).compile())
    progress(f"compile: unrolled {compile_s['fit_unrolled']:.2f} s, scan {compile_s['fit_scan']:.3f} s")
    bench("fit_eager", lambda: reg.fit_simple(b, loss, n=n_fit).block_until_ready(), f"fit_simple eager, {n_fit} steps")
    bench("fit_jit", lambda: fit_jit(b, loss, n=n_fit), f"fit_simple jitted, {n_fit} steps")
    bench("fit_jit_block", lambda: fit_jit(b, loss, n=n_fit).block_until_ready(),
          f"fit_simple jitted, {n_fit} steps, block_until_ready")
    bench("fit_scan_block", lambda: jax.block_until_ready(reg.fit_scan_jit(b, loss, n=n_fit)),
          f"fit_scan jitted, {n_fit} steps, block_until_ready")

    # The MLP's steps: the lecture's Python loop over its jitted step, the same
    # steps as one lax.scan program, and that program data-parallel over 8 devices.
    mlp = exported.mlp("model", "params", "x", "y", notebooks=notebooks)
    m = mlp.model()
    bench("mlp_fit", lambda: jax.block_until_ready(m.fit(mlp.params, mlp.x, mlp.y, n=n_mlp)),
          f"MLP, {n_mlp} steps, the lecture's loop")
    scan_fit = mlp_scan_fit(m, n_mlp)
    bench("mlp_scan", lambda: jax.block_until_ready(scan_fit(mlp.params, mlp.x, mlp.y)),
          f"MLP, {n_mlp} steps, one lax.scan")
    progress(f"MLP, {n_mlp} steps, one lax.scan data-parallel over {DATA_PARALLEL_DEVICES} devices "
             "(its own process) ...")
    results["mlp_data_parallel"] = data_parallel(tiny, notebooks)
    progress(f"... {results['mlp_data_parallel']['median_s'] * 1e3:.3f} ms per call on "
             f"{results['mlp_data_parallel']['devices']} devices")

    # 09's mini-batch SGD (beyond the slides): the time of an epoch, ten steps on batches of
    # 50 rows against one step on all 500; the ratio is how many times longer the first takes.
    import optax

    sgd = exported.minibatch("minibatch_sgd", notebooks=notebooks)
    epochs, opt = (2 if tiny else 25), optax.sgd(0.1)
    sgd_fit = jax.jit(sgd.minibatch_sgd, static_argnums=0, static_argnames=("batch", "epochs"))
    for name, batch in (("sgd_batches", 50), ("sgd_full", 500)):
        bench(name, lambda batch=batch: jax.block_until_ready(sgd_fit(opt, key, batch=batch, epochs=epochs)),
              f"mini-batch SGD, {epochs} epochs, batch {batch}")
        results[name] = {k: v / epochs if k.endswith("_s") else v for k, v in results[name].items()}

    progress("MLP on two simulated hosts against one process with the same 4 devices ...")
    hosts = two_hosts(tiny, notebooks)
    progress("... " + (f"{hosts['ratio']:.3f}x the steps per second" if "ratio" in hosts else hosts["skipped"]))

    speedups = {k: results[a]["median_s"] / results[b]["median_s"] for k, (a, b) in SPEEDUPS.items()}
    speedups["scan_compile_vs_unrolled"] = compile_s["fit_unrolled"] / compile_s["fit_scan"]
    lecture_speedups = {k: LECTURE[a] / LECTURE[b] for k, (a, b) in SPEEDUPS.items() if a in LECTURE and b in LECTURE}
    cpu = peak_gflops()
    flop = 2 * size**3
    gflops = {k: flop / results[k]["median_s"] / 1e9 for k in ("matmul_numpy", "matmul_jax_block")}
    return {
        "backend": backend,
        "device": str(jax.devices()[0].device_kind),
        "jax": jax.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "tiny": tiny,
        "machine": cpu,
        "timings": results,
        "compile_s": compile_s,
        "speedups": speedups,
        "lecture_seconds": LECTURE,
        "lecture_speedups": lecture_speedups,
        "matmul_gflops": gflops,
        "two_hosts": hosts,
        "bars": BARS,
    }


def two_hosts(tiny, notebooks):
    """The distributed MLP's training steps per second on two hosts (two network namespaces
    on one link, 2 CPU devices each: notebooks/mlp_distributed.py as a cluster runs it)
    against one process with the same 4 devices, in one run; the ratio is two hosts over
    one. {"skipped": why} where hosts cannot be simulated (root and iproute2 are needed)."""
    import re

    from lecture import hosts

    why = hosts.unavailable()
    if why:
        return {"skipped": f"not measured: {why}"}
    script, steps = Path(notebooks) / "mlp_distributed.py", (100 if tiny else 1000)
    one = subprocess.run([sys.executable, script, "--processes", "1", "--local-devices", "4", "--steps", str(steps)],
                         capture_output=True, text=True, timeout=900, check=True)
    one_rate = float(re.search(r"([\d.]+) steps/s", one.stdout).group(1))
    with hosts.Hosts() as pair:
        running = [pair.popen(i, [sys.executable, script, "--coordinator", "node0:23470", "--num-processes", "2",
                                  "--process-id", str(i), "--local-devices", "2", "--steps", str(steps)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
        outputs = [p.communicate(timeout=900) for p in running]
    if any(p.returncode for p in running):
        raise RuntimeError("the two-host run failed: " + " | ".join(err.strip() for _, err in outputs))
    reports = [json.loads(line) for out, _ in outputs for line in out.splitlines() if line.startswith("{")]
    two_rate = min(r["steps_per_s"] for r in reports)  # the run goes at its slower process's pace
    return {"steps": steps, "one_process_steps_per_s": one_rate, "two_hosts_steps_per_s": two_rate,
            "ratio": two_rate / one_rate}


def table(report):
    t, L = report["timings"], report["lecture_seconds"]
    lines = [f"{'time per call':<30}{'ours (median [IQR])':>30}{'first call':>12}{'slides':>10}", "-" * 82]
    for name, r in t.items():
        ours = f"{fmt(r['median_s'])} [{fmt(r['q1_s'])}, {fmt(r['q3_s'])}]"
        lines.append(f"{MEASUREMENTS.get(name, name):<30}{ours:>30}{fmt(r['first_s']):>12}"
                     f"{fmt(L[name]) if name in L else '-':>10}")
    for name, s in report["compile_s"].items():
        lines.append(f"{'compiling ' + name:<30}{fmt(s):>30}")
    lines += ["", f"{'speed-up (times faster)':<32}{'ours':>9}{'bar':>9}{'met':>6}{'slides':>9}{'ours/slides':>13}",
              "-" * 78]
    for name, s in report["speedups"].items():
        lec = report["lecture_speedups"].get(name)
        bar = report["bars"].get(name)
        met = "" if bar is None else ("yes" if s >= bar else "NO")
        lines.append(f"{SPEEDUP_WORDS.get(name, name):<32}{s:>9.2f}{'' if bar is None else f'>= {bar:g}':>9}{met:>6}"
                     f"{'-' if lec is None else f'{lec:.2f}':>9}{'-' if lec is None else f'{s / lec:.2f}':>13}")
    m, g = report["machine"], report["matmul_gflops"]
    peak = m.get("peak_gflops")
    lines += ["", f"matmul GFLOP/s: NumPy {g['matmul_numpy']:.1f}, JAX {g['matmul_jax_block']:.1f}"
              + (f"; peak {peak:.0f} ({m['cores']} cores x {m['clock_ghz']:.2f} GHz x {m['flops_per_cycle']}"
                 f" float32 FLOPs/cycle: {m['assumes']}) -> NumPy {100 * g['matmul_numpy'] / peak:.0f}%,"
                 f" JAX {100 * g['matmul_jax_block'] / peak:.0f}% of peak" if peak else "; peak unknown")]
    h = report.get("two_hosts", {})
    if "ratio" in h:
        lines.append(f"MLP on two hosts (2 processes x 2 devices, gloo over a network link): "
                     f"{h['two_hosts_steps_per_s']:.0f} steps/s against {h['one_process_steps_per_s']:.0f} in one "
                     f"process with the same 4 devices: {h['ratio']:.3f}x")
    elif h:
        lines.append(f"MLP on two hosts: {h['skipped']}")
    return "\n".join(lines)


def fmt(seconds):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def plot(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in report["timings"] if n in report["lecture_seconds"]]
    ours = [report["timings"][n]["median_s"] for n in names]
    lec = [report["lecture_seconds"][n] for n in names]
    err = [[report["timings"][n]["median_s"] - report["timings"][n]["q1_s"] for n in names],
           [report["timings"][n]["q3_s"] - report["timings"][n]["median_s"] for n in names]]
    fig, ax = plt.subplots(figsize=(10, 5))
    pos = np.arange(len(names))
    where = report["backend"].upper() if report["device"] == report["backend"] else report["device"]
    ax.bar(pos - 0.2, ours, 0.4, yerr=err, label=f"ours ({where})")
    ax.bar(pos + 0.2, lec, 0.4, label="lecture's slides")
    ax.set_yscale("log")
    ax.set_ylabel("seconds per call (log scale)")
    ax.set_xticks(pos, [MEASUREMENTS.get(n, n) for n in names], rotation=35, ha="right")
    ax.set_title(f"The lecture's timings, JAX {report['jax']}" + (" (tiny sizes)" if report["tiny"] else ""))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description="The lecture's timing comparisons, side by side.")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes and few repeats (for the test suite)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--no-check", action="store_true", help="report the bars without failing on them")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="where the lecture's code is read from")
    parser.add_argument("--data-parallel-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # SIGTERM stops it as Ctrl-C does: what it started is ended on the way out
    # (subprocess.run kills its child; grading ends its process tree), temporary files removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.data_parallel_only:  # the child process of data_parallel()
        print(json.dumps(run_data_parallel(args.tiny, args.notebooks)))
        return 0
    started = time.perf_counter()
    report = run(tiny=args.tiny, notebooks=args.notebooks)
    report["wall_s"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / report["backend"]
    write_text_atomically(stem.with_suffix(".json"), json.dumps(report, indent=1) + "\n")
    plot(report, stem.with_suffix(".png"))
    print(table(report))
    print(f"\nwrote {stem.with_suffix('.json')} and {stem.with_suffix('.png')} in {report['wall_s']:.0f} s")
    missed = [f"{SPEEDUP_WORDS[k]} {report['speedups'][k]:.2f}x < {v:g}x" for k, v in BARS.items()
              if report["speedups"][k] < v]
    if missed and not args.tiny:
        print("bars missed: " + "; ".join(missed))
        return 0 if args.no_check else 1
    if not args.tiny:
        print("all bars met: " + ", ".join(f"{SPEEDUP_WORDS[k]} >= {v:g}x" for k, v in BARS.items()))
    return 0


def cli(argv=None):
    """main(), with Ctrl-C said in one line: what it started is ended on the way out, and
    nothing is written but a whole report."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("make bench: stopped (Ctrl-C); no report written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(cli())
