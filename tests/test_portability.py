"""The maintainer guide's claim for machines other than this one: the MLP notebook (06), whose
initial loss sits on a rounding edge (5.6400149), passes nbval unchanged on a CPU limited
to AVX2 or to SSE4.2 (no FMA), and on one core with one thread. Each is a real nbval run
of 06 in a process of its own, with XLA told so."""

import os
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT

ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
SETTINGS = {
    "avx2": ({"XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}, []),
    "sse4.2": ({"XLA_FLAGS": "--xla_cpu_max_isa=SSE4_2"}, []),
    "one-core-one-thread": ({"XLA_FLAGS": ONE_THREAD, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
                            [shutil.which("taskset"), "-c", "0"]),
}


@pytest.mark.parametrize("setting", SETTINGS)
def test_the_mlp_notebook_prints_the_same_digits(setting):
    env, prefix = SETTINGS[setting]
    if prefix and prefix[0] is None:
        pytest.fail("taskset (util-linux) is needed to run on one core")
    run = subprocess.run([*prefix, sys.executable, "-m", "pytest", "-p", "no:xdist", "-q",
                          "notebooks/06-pytrees-mlp.ipynb"], cwd=ROOT, env=os.environ | env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
