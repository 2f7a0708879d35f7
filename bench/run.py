"""`make bench`: the lecture's timing claims, measured side by side on this machine.

Every comparison of the lecture runs in one process on the current JAX backend:
1000x1000 matmul and `3*x + x` (NumPy, JAX, JAX with `block_until_ready`), SELU on
1e6 values (NumPy, JAX eager, JAX jit), `fit_simple` eager against jitted, the
compile time of the unrolled jitted fit against a `lax.scan` fit, and the MLP's
1000 steps. The first call (warm-up, compilation) is timed apart from the steady
state; each steady-state figure is the median time per call over repeats, with
the interquartile range as its spread.

Writes bench/results/<backend>.json and .png, prints a table with the lecture's
own figures beside ours, and checks the bars (exit status 1 if one is missed).

    python bench/run.py [--tiny] [--out DIR] [--no-check]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "notebooks"))

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
}
BARS = {"fit_jit_vs_eager": 500, "selu_jit_vs_numpy": 10, "matmul_jax_vs_numpy": 0.8,
        "scan_compile_vs_unrolled": 10}


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


def run(tiny=False):
    import jax

    from lecture import read_ridge_csv, setup

    setup()  # the notebooks' settings: legacy PRNG, highest matmul precision
    import jax.numpy as jnp
    import pandas as pd

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

    def selu_np(x, a=1.67, l=1.05):
        return l * np.where(x > 0, x, a * np.exp(x) - a)

    def selu_jnp(x, a=1.67, l=1.05):
        return l * jnp.where(x > 0, x, a * jnp.exp(x) - a)

    x = np.arange(float(n_selu))
    with np.errstate(over="ignore"):
        bench("selu_numpy", lambda: selu_np(x), f"SELU on {n_selu:g} values, NumPy")
    xj = jnp.arange(float(n_selu))
    bench("selu_jax_eager", lambda: selu_jnp(xj).block_until_ready(), f"SELU on {n_selu:g} values, JAX eager")
    selu_jit = jax.jit(selu_jnp)
    bench("selu_jax_jit", lambda: selu_jit(xj).block_until_ready(), f"SELU on {n_selu:g} values, JAX jit")

    # The regression example: fit_simple eager and jitted, and the scan fit.
    d = read_ridge_csv()
    X = jnp.array(pd.get_dummies(d.drop("y", axis=1)).to_numpy(dtype=np.float32))
    y = jnp.array(d.y.to_numpy(dtype=np.float32))

    def reg_loss(b, lam=0.0):
        return jnp.mean((y - (X @ b).squeeze()) ** 2)

    def fit_simple(b, loss, lam=0.0, n=n_fit, lr=0.01):
        grad = jax.grad(loss)
        for _ in range(n):
            b -= lr * grad(b, lam)
        return b

    def fit_scan(b, loss, lam=0.0, n=n_fit, lr=0.01):
        val_grad = jax.value_and_grad(loss)

        def step(b, _):
            val, g = val_grad(b, lam)
            return b - lr * g, val

        return jax.lax.scan(step, b, length=n)

    b = jax.random.normal(key, (X.shape[1], 1))
    fit_jit = jax.jit(fit_simple, static_argnames=["loss", "lam", "n"])
    progress(f"compiling fit_simple unrolled over {n_fit} steps ...")
    compile_s["fit_unrolled"] = timed(lambda: fit_jit.lower(b, reg_loss).compile())
    progress(f"compiling fit_scan over {n_fit} steps ...")
    compile_s["fit_scan"] = timed(lambda: jax.jit(fit_scan, static_argnames=["loss", "n"]).lower(b, reg_loss).compile())
    progress(f"compile: unrolled {compile_s['fit_unrolled']:.2f} s, scan {compile_s['fit_scan']:.3f} s")
    bench("fit_eager", lambda: fit_simple(b, reg_loss).block_until_ready(), f"fit_simple eager, {n_fit} steps")
    bench("fit_jit", lambda: fit_jit(b, reg_loss), f"fit_simple jitted, {n_fit} steps")
    bench("fit_jit_block", lambda: fit_jit(b, reg_loss).block_until_ready(), f"fit_simple jitted, {n_fit} steps, block_until_ready")
    scan_jit = jax.jit(fit_scan, static_argnames=["loss", "n"])
    bench("fit_scan_block", lambda: jax.block_until_ready(scan_jit(b, reg_loss)), f"fit_scan jitted, {n_fit} steps, block_until_ready")

    # The MLP: 1000 jitted steps of the pytree model.
    def init_params(widths, key):
        params = []
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            key, new_key = jax.random.split(key)
            params.append(dict(W=jax.random.normal(new_key, (n_in, n_out)) * np.sqrt(2 / n_in),
                               b=jnp.ones((n_out,))))
        return params

    def forward(params, x):
        *hidden, last = params
        for layer in hidden:
            x = jax.nn.relu(x @ layer["W"] + layer["b"])
        return x @ last["W"] + last["b"]

    @partial(jax.jit, static_argnames=["lr"])
    def step(params, x, y, lr=0.0001):
        grads = jax.grad(lambda p: jnp.mean((forward(p, x) - y) ** 2))(params)
        return jax.tree.map(lambda p, g: p - lr * g, params, grads)

    def mlp_fit(params, x, y):
        for _ in range(n_mlp):
            params = step(params, x, y)
        return jax.block_until_ready(params)

    params = init_params([1, 128, 128, 1], key)
    xm = jax.random.uniform(jax.random.PRNGKey(12345), (128, 1), minval=-1.0, maxval=1.0)
    bench("mlp_fit", lambda: mlp_fit(params, xm, xm**2), f"MLP, {n_mlp} steps")

    speedups = {k: results[a]["median_s"] / results[b]["median_s"] for k, (a, b) in SPEEDUPS.items()}
    speedups["scan_compile_vs_unrolled"] = compile_s["fit_unrolled"] / compile_s["fit_scan"]
    lecture_speedups = {k: LECTURE[a] / LECTURE[b] for k, (a, b) in SPEEDUPS.items()}
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
        "bars": BARS,
    }


def table(report):
    t, L = report["timings"], report["lecture_seconds"]
    lines = [f"{'measurement':<22}{'ours (median, IQR)':>30}{'first call':>13}{'lecture':>11}",
             "-" * 76]
    for name, r in t.items():
        ours = f"{fmt(r['median_s'])} [{fmt(r['q1_s'])}, {fmt(r['q3_s'])}]"
        lines.append(f"{name:<22}{ours:>30}{fmt(r['first_s']):>13}{fmt(L[name]) if name in L else '-':>11}")
    for name, s in report["compile_s"].items():
        lines.append(f"{'compile ' + name:<22}{fmt(s):>30}")
    lines += ["", f"{'speed-up':<28}{'ours':>10}{'lecture':>10}{'ours/lecture':>14}{'bar':>8}", "-" * 70]
    for name, s in report["speedups"].items():
        lec = report["lecture_speedups"].get(name)
        bar = report["bars"].get(name)
        lines.append(f"{name:<28}{s:>10.2f}{lec if lec is None else round(lec, 2)!s:>10}"
                     f"{'-' if lec is None else f'{s / lec:.2f}':>14}{'' if bar is None else f'>= {bar:g}':>8}")
    m, g = report["machine"], report["matmul_gflops"]
    peak = m.get("peak_gflops")
    lines += ["", f"matmul GFLOP/s: NumPy {g['matmul_numpy']:.1f}, JAX {g['matmul_jax_block']:.1f}"
              + (f"; peak {peak:.0f} ({m['cores']} cores x {m['clock_ghz']:.2f} GHz x {m['flops_per_cycle']}"
                 f" float32 FLOPs/cycle: {m['assumes']}) -> NumPy {100 * g['matmul_numpy'] / peak:.0f}%,"
                 f" JAX {100 * g['matmul_jax_block'] / peak:.0f}% of peak" if peak else "; peak unknown")]
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
    ax.bar(pos - 0.2, ours, 0.4, yerr=err, label=f"ours ({report['backend']}: {report['device']})")
    ax.bar(pos + 0.2, lec, 0.4, label="lecture's slides")
    ax.set_yscale("log")
    ax.set_ylabel("seconds per call (log scale)")
    ax.set_xticks(pos, names, rotation=35, ha="right")
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
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report = run(tiny=args.tiny)
    report["wall_s"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / report["backend"]
    tmp = stem.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    os.replace(tmp, stem.with_suffix(".json"))
    plot(report, stem.with_suffix(".png"))
    print(table(report))
    print(f"\nwrote {stem.with_suffix('.json')} and {stem.with_suffix('.png')} in {report['wall_s']:.0f} s")
    missed = [f"{k} = {report['speedups'][k]:.2f} < {v:g}" for k, v in BARS.items() if report["speedups"][k] < v]
    if missed and not args.tiny:
        print("bars missed: " + "; ".join(missed))
        return 0 if args.no_check else 1
    if not args.tiny:
        print("all bars met: " + ", ".join(f"{k} >= {v:g}" for k, v in BARS.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
