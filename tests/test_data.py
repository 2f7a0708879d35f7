"""The data generator and the loader's checks."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import ROOT

import generate_ridge
from lecture import RIDGE_COLUMNS, RIDGE_LEVELS, read_ridge_csv

COMMITTED = ROOT / "data" / "ridge.csv"


def test_generator_rebuilds_the_committed_file_byte_for_byte(tmp_path):
    out = tmp_path / "ridge.csv"
    subprocess.run([sys.executable, ROOT / "data" / "generate_ridge.py", "--out", out], check=True)
    assert out.read_bytes() == COMMITTED.read_bytes()


def test_generator_is_deterministic():
    assert generate_ridge.to_csv(generate_ridge.generate()) == generate_ridge.to_csv(generate_ridge.generate())
    assert generate_ridge.to_csv(generate_ridge.generate(seed=1)) != generate_ridge.to_csv(generate_ridge.generate())


def test_structure_matches_the_lecture_data_set():
    d = read_ridge_csv(COMMITTED)
    assert list(d.columns) == RIDGE_COLUMNS
    assert len(d) == 500
    for c in ["x1", "x2", "x3", "x4"]:
        assert abs(d[c].mean()) < 0.15 and 0.85 < d[c].std() < 1.15
    shares = d.x5.value_counts(normalize=True)
    assert set(shares.index) == RIDGE_LEVELS
    assert shares["D"] < 0.15 and all(0.2 < shares[k] < 0.4 for k in "ABC")


def test_least_squares_recovers_the_generating_coefficients():
    d = read_ridge_csv(COMMITTED)
    X = pd.get_dummies(d.drop("y", axis=1)).to_numpy(dtype=np.float64)
    coef, *_ = np.linalg.lstsq(X, d.y.to_numpy(), rcond=None)
    truth = [*generate_ridge.COEFS.values(), *generate_ridge.LEVELS.values()]
    np.testing.assert_allclose(coef, truth, atol=0.05)
    residual_sd = np.std(d.y.to_numpy() - X @ coef)
    assert abs(residual_sd - generate_ridge.NOISE_SD) < 0.02


def test_missing_file_names_make_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="make data"):
        read_ridge_csv(tmp_path / "ridge.csv")


@pytest.mark.parametrize(
    "content, problem",
    [
        ("", "not a readable CSV"),
        ("a,b\n1,2\n", "columns"),
        ("y,x1,x2,x3,x4,x5\n1,2,3,4,oops,A\n", "numbers only"),
        ("y,x1,x2,x3,x4,x5\n1.0,2.0,inf,4.0,5.0,A\n", "finite numbers only"),
        ("y,x1,x2,x3,x4,x5\n1.0,2.0,3.0,,5.0,A\n", "with no gaps"),
        ("y,x1,x2,x3,x4,x5\n1.0,2.0,3.0,4.0,5.0,Z\n", r"x5 must be one of .* found \['Z'\]"),
        ("y,x1,x2,x3,x4,x5\n1.0,2.0,3.0,4.0,5.0,A\n2.0,2.0,3.0,4.0,5.0,\n", r"found \['\(empty\)'\]"),
        ("y,x1,x2,x3,x4,x5\n", "a header but no rows"),
        ("y,x1,x2,x3,x4,x5\n1.0,2.0,3.0,4.0,5.0,\n", "x5 is empty"),
        ("y,x1,x2,x3,x4,x5\n1.0,2.0,1e300,4.0,5.0,A\n", r"columns \['x2'\] hold numbers beyond float32's range"),
        ("y,x1,x2,x3,x4,x5\n1.0,2.0,3.0,4.0,5.0,A\n", "has 1 rows .* at least 8 rows and every level"),
    ],
)
def test_malformed_file_says_what_is_wrong_and_names_make_data(tmp_path, content, problem):
    path = tmp_path / "ridge.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=problem) as e:
        read_ridge_csv(path)
    assert "make data" in str(e.value)


def test_whole_numbers_are_numbers_and_every_level_is_needed(tmp_path):
    path = tmp_path / "ridge.csv"
    rows = [f"{i},{i % 3},{-i},{2 * i},{i % 5},{'ABCD'[i % 4]}" for i in range(12)]
    path.write_text("y,x1,x2,x3,x4,x5\n" + "\n".join(rows) + "\n")
    d = read_ridge_csv(path)
    assert len(d) == 12 and all(d[c].dtype == np.float64 for c in RIDGE_COLUMNS[:-1])
    path.write_text("y,x1,x2,x3,x4,x5\n" + "\n".join(r for r in rows if not r.endswith("D")) + "\n")
    with pytest.raises(ValueError, match=r"levels \['A', 'B', 'C'\]: the lecture's fits need"):
        read_ridge_csv(path)
