"""The benchmark's own code, on tiny sizes, so that it cannot rot. No timing is
asserted here: the speed bars live in `make bench`."""

import json
import subprocess
import sys

from helpers import ROOT


def test_tiny_benchmark_writes_its_report_and_plot(tmp_path):
    result = subprocess.run([sys.executable, ROOT / "bench" / "run.py", "--tiny", "--out", tmp_path],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "cpu.json").read_text())
    assert (tmp_path / "cpu.png").read_bytes().startswith(b"\x89PNG")
    assert {"fit_jit_vs_eager", "selu_jit_vs_numpy", "matmul_jax_vs_numpy",
            "scan_compile_vs_unrolled"} <= set(report["speedups"])
    assert all(v > 0 for v in report["speedups"].values())
    for name, t in report["timings"].items():
        assert 0 < t["q1_s"] <= t["median_s"] <= t["q3_s"], name
        assert t["first_s"] > 0 and t["repeats"] >= 2
    assert set(report["compile_s"]) == {"fit_unrolled", "fit_scan"}
    assert report["matmul_gflops"]["matmul_numpy"] > 0
    assert "speed-up" in result.stdout and "lecture" in result.stdout
    assert "matmul" in result.stderr  # progress is shown while it runs
