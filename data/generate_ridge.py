"""Generate data/ridge.csv, the project's own data set for the regression notebook.

It has the structure of the lecture's data set (500 rows; x1..x4 standard normal;
x5 a category A-D; y linear in them plus a little noise), but its values are ours:
the lecture's own file is not redistributable. The seed is fixed and the numbers
are written with Python's shortest round-trip repr, so `make data` rebuilds the
committed file byte for byte (with the pinned NumPy).

    python data/generate_ridge.py [--out PATH]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

# The file's columns and x5's levels are the regression notebook's contract,
# written once in the lecture package (which checks them when reading the file).
import lecture
from lecture.tooling import write_text_atomically

SEED = 663
N_ROWS = 500
COEFS = {"x1": 1.0, "x2": 2.0, "x3": 0.0, "x4": -3.0}
EFFECTS = [0.5, 0.1, -0.3, 1.0]  # effect of each level of x5 (A, B, C, D)
LEVELS = dict(zip(sorted(lecture.RIDGE_LEVELS), EFFECTS))
LEVEL_PROBS = [0.30, 0.32, 0.31, 0.07]
NOISE_SD = 0.1
COLUMNS = lecture.RIDGE_COLUMNS
DEFAULT_OUT = Path(__file__).resolve().parent / "ridge.csv"


def generate(seed=SEED, n=N_ROWS):
    """Return the rows of the data set as (y, x1, x2, x3, x4, x5) tuples."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    x5 = rng.choice(list(LEVELS), size=n, p=LEVEL_PROBS)
    noise = rng.normal(0.0, NOISE_SD, size=n)
    y = x @ np.array(list(COEFS.values())) + np.array([LEVELS[c] for c in x5]) + noise
    return [(y[i], *x[i], x5[i]) for i in range(n)]


def to_csv(rows):
    lines = [",".join(COLUMNS)]
    for *nums, level in rows:
        lines.append(",".join([*(repr(float(v)) for v in nums), str(level)]))
    return "\n".join(lines) + "\n"


def write(path=DEFAULT_OUT):
    """Write the CSV atomically: a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, to_csv(generate()), newline="")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="where to write (default: %(default)s)")
    args = parser.parse_args(argv)
    path = write(args.out)
    print(f"wrote {path} ({N_ROWS} rows, seed {SEED})")


if __name__ == "__main__":
    sys.exit(main())
