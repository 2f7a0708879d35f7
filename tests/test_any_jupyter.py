"""Any Jupyter: the project installed as a wheel (as `pip install .` installs it, not
editable, no `make`) into a fresh virtual environment, and the lecture notebooks run
by a plain kernel of that environment (no project kernel, no guard) in a folder that
holds nothing of the project but the notebooks, printing what they store.

No network: the fresh environment borrows the lock's packages from .venv (a .pth
file naming .venv's site-packages, whose own .pth files, the editable install's
among them, Python then does not read). What it imports of the project is the wheel's.
"""

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import lockfile

from helpers import ROOT, cell_text, find_cell, read
from test_exported import ENTRY_POINTS

ENTRY_POINT_NOTEBOOKS = {notebook for notebook, _ in ENTRY_POINTS.values()}

pytestmark = pytest.mark.long
# The lecture notebooks this test can afford to run under nbval here (about 10 s):
# keys, and pytrees with the MLP. The regression notebook's data set and exported code
# are checked against its stored outputs without running it.
RUN = ["02-prng", "06-pytrees-mlp"]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("any-jupyter")
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(wheels), str(ROOT)], check=True)
    env = tmp / "env"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "borrowed-lock.pth").write_text(sysconfig.get_path("purelib") + "\n")
    uv = lockfile.find_uv()  # in the lock; pip (its --python) where there is none
    install = [uv, "pip", "install", "--quiet", "--python", python] if uv else \
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*install, "--no-deps", *wheels.glob("*.whl")], check=True)
    work = tmp / "elsewhere"  # a folder with the notebooks only: no src/, no ../data
    work.mkdir()
    for name in RUN:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", work)
    return python, work


def test_the_installed_package_is_the_wheels_with_its_data_and_notebooks(fresh):
    python, work = fresh
    code = ("import json, lecture, lecture.exported as e\n"
            "r = e.regression('d', 'X')\n"
            "print(json.dumps({'lecture': lecture.__file__, 'csv': str(lecture.RIDGE_CSV),"
            " 'd': repr(r.d), 'X': repr(r.X.shape),"
            " 'notebooks': sorted(p.stem for p in lecture.NOTEBOOKS_DIR.glob('*.ipynb'))}))")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=work, timeout=120)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.splitlines()[-1])
    assert Path(got["lecture"]).is_relative_to(python.parent.parent), "the wheel's lecture, not the checkout's"
    assert Path(got["csv"]).is_relative_to(Path(got["lecture"]).parent), "the data set ships in the package"
    stored = read(ROOT / "notebooks" / "05-regression.ipynb")
    assert got["d"] == cell_text(find_cell(stored, "d = read_ridge_csv()"))  # what the notebook prints
    assert got["X"] == cell_text(find_cell(stored, "X.shape"))
    # The wheel carries each notebook an entry point of lecture.exported reads (pyproject.toml).
    assert got["notebooks"] == sorted(ENTRY_POINT_NOTEBOOKS)


def test_a_plain_kernel_elsewhere_runs_the_lecture_notebooks_and_prints_what_is_stored(fresh):
    python, work = fresh
    (work / "pytest.ini").write_text("[pytest]\n")  # not the project's settings
    result = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--nbval",
         "--nbval-current-env", f"--nbval-sanitize-with={ROOT / 'tests' / 'sanitize.cfg'}",
         *[f"{name}.ipynb" for name in RUN]],
        capture_output=True, text=True, cwd=work, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
