"""The benchmark's own code, on tiny sizes, so that it cannot rot. No timing is
asserted here: the speed bars live in `make bench`."""

import json
import shutil
import subprocess
import sys

import nbformat
import pytest

from helpers import ROOT

BENCH = ROOT / "bench" / "run.py"


def run_bench(*args):
    return subprocess.run([sys.executable, BENCH, "--tiny", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.long
def test_tiny_benchmark_writes_its_report_and_plot(tmp_path):
    result = run_bench("--out", tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "cpu.json").read_text())
    assert (tmp_path / "cpu.png").read_bytes().startswith(b"\x89PNG")
    timings = report["timings"]
    # Each speed-up is the ratio of the two medians it names (bench.SPEEDUPS).
    for name, (slow, fast) in {"fit_jit_vs_eager": ("fit_eager", "fit_jit_block"),
                               "mlp_scan_vs_loop": ("mlp_fit", "mlp_scan"),
                               "mlp_data_parallel_vs_loop": ("mlp_fit", "mlp_data_parallel")}.items():
        assert report["speedups"][name] == pytest.approx(timings[slow]["median_s"] / timings[fast]["median_s"])
    assert report["speedups"]["scan_compile_vs_unrolled"] == pytest.approx(
        report["compile_s"]["fit_unrolled"] / report["compile_s"]["fit_scan"])
    assert timings["mlp_data_parallel"]["devices"] == 8  # measured in its own 8-device process
    assert report["bars"] == {"fit_jit_vs_eager": 500, "selu_jit_vs_numpy": 10, "matmul_jax_vs_numpy": 0.8,
                              "scan_compile_vs_unrolled": 10}
    assert "speed-up" in result.stdout and "slides" in result.stdout
    assert "fit_simple: jit over eager" in result.stdout  # rows in words, the bar beside ours
    assert "matmul" in result.stderr  # progress is shown while it runs
    hosts = report["two_hosts"]  # measured where hosts can be simulated (root), else says why not
    assert set(hosts) in ({"skipped"}, {"steps", "one_process_steps_per_s", "two_hosts_steps_per_s", "ratio"})
    if "ratio" in hosts:
        assert hosts["ratio"] == pytest.approx(hosts["two_hosts_steps_per_s"] / hosts["one_process_steps_per_s"])
        assert "MLP on two hosts (2 processes x 2 devices" in result.stdout


def test_the_benchmark_runs_the_notebooks_own_cells(tmp_path):
    """Change the lecture's SELU in a copy of the notebooks, and the benchmark runs the
    changed cell: it times the notebooks' code, not a copy of it. (The changed SELU
    raises when the benchmark first calls it.)"""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns("*.py", ".*"))
    path = tmp_path / "notebooks" / "03-performance-jit.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.source.startswith("def SELU_jnp"))
    body = cell.source.splitlines()[-1]
    cell.source = cell.source.replace(body, '  raise RuntimeError("the edited lecture cell ran")')
    nbformat.write(nb, path)
    result = run_bench("--out", tmp_path, "--notebooks", tmp_path / "notebooks")
    assert result.returncode != 0
    assert "the edited lecture cell ran" in result.stderr


def test_make_bench_leaves_the_work_tree_clean():
    """A lecturer's `make bench` writes bench/results/, which git ignores; the committed
    reference run is bench/reference/ (make bench BENCH_OUT=bench/reference)."""
    for path in ("bench/results/cpu.json", "bench/results/cpu.png", "bench/results/gpu.json"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0, path
    tracked = subprocess.run(["git", "ls-files", "bench/reference"], cwd=ROOT, capture_output=True, text=True)
    assert sorted(tracked.stdout.split()) == ["bench/reference/cpu.json", "bench/reference/cpu.png"]


@pytest.fixture
def bench_with_a_canned_run(monkeypatch):
    """bench/run.py as a module, its measurements replaced by the committed reference run and
    its writes recorded: what main() decides from a report, without timing anything."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = json.loads((ROOT / "bench" / "reference" / "cpu.json").read_text())
    written = []
    monkeypatch.setattr(bench, "run", lambda tiny, notebooks: json.loads(json.dumps(report)))
    monkeypatch.setattr(bench, "write_text_atomically", lambda path, text: written.append(path))
    monkeypatch.setattr(bench, "plot", lambda report, path: written.append(path))
    monkeypatch.setattr(bench.Path, "mkdir", lambda self, **kw: None)
    return bench, report, written


def test_make_bench_writes_to_bench_results_by_default(bench_with_a_canned_run):
    bench, _, written = bench_with_a_canned_run
    assert bench.main([]) == 0
    assert written == [ROOT / "bench" / "results" / "cpu.json", ROOT / "bench" / "results" / "cpu.png"]


def test_make_bench_fails_when_a_bar_is_missed_and_says_which(bench_with_a_canned_run, monkeypatch, capsys):
    bench, report, _ = bench_with_a_canned_run
    assert bench.main([]) == 0 and "all bars met" in capsys.readouterr().out  # the reference run meets them
    report["speedups"]["selu_jit_vs_numpy"] = 2.5
    monkeypatch.setattr(bench, "run", lambda tiny, notebooks: report)
    assert bench.main([]) == 1
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "bars missed: SELU: jit over NumPy 2.50x < 10x"
    assert bench.main(["--no-check"]) == 0  # reported, not failed on


def test_ctrl_c_stops_the_benchmark_in_one_line_and_writes_nothing(tmp_path):
    import signal

    bench = subprocess.Popen([sys.executable, BENCH, "--tiny", "--out", tmp_path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        first = bench.stderr.readline()  # it is running: its first line of progress (an event, not a clock)
        assert first, bench.communicate(timeout=60)
        bench.send_signal(signal.SIGINT)
        _, err = bench.communicate(timeout=120)
    finally:
        bench.kill()
    assert bench.returncode == 130
    assert err.strip().splitlines()[-1] == "make bench: stopped (Ctrl-C); no report written"
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
