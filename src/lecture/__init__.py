"""Shared setup for the lecture's notebooks (Sta 663, Lecture 25: JAX).

Every notebook starts with one hidden cell, ``from lecture import setup; setup()``,
so that print options, JAX flags and the figure style live here and nowhere else.
The lecture's own code, for the notebooks beyond it, the exercises and the benchmark,
is in ``lecture.exported``. The package is the project's (pyproject.toml): `make setup`
installs it editable, `pip install .` as a wheel that carries the data set and the
notebooks whose code it exports.
"""

import importlib.util
import os
import re
import sys
import warnings
from pathlib import Path


def _project_folder(name):
    """A folder of the project: in a checkout (an editable install) the repository's own,
    in an installed wheel the copy inside this package (pyproject.toml's force-include)."""
    package = Path(__file__).resolve().parent
    shipped = package / name
    return shipped if shipped.is_dir() else package.parent.parent / name


NOTEBOOKS_DIR = _project_folder("notebooks")
DATA_DIR = _project_folder("data")
RIDGE_CSV = DATA_DIR / "ridge.csv"
RIDGE_COLUMNS = ["y", "x1", "x2", "x3", "x4", "x5"]
RIDGE_LEVELS = {"A", "B", "C", "D"}
KERNEL_NAME = "sta663-jax"  # the Jupyter kernel `make setup` installs (tools/setup_env.py)
KERNEL_DISPLAY = "Python 3 (Sta 663 JAX)"

_setup_done = False


class SetupError(RuntimeError):
    """The notebook cannot run as the lecture expects; the message says what to do."""


def setup():
    """Configure NumPy, JAX and matplotlib the way the lecture's slides were made."""
    global _setup_done
    try:
        import jax
        import numpy as np
        for name in ("matplotlib", "pandas"):  # found, not imported: see _when_imported
            if importlib.util.find_spec(name) is None:
                raise ImportError(name=name)
    except ImportError as e:
        raise SetupError(
            f"This kernel ({sys.executable}) cannot import {e.name!r}. Run `make setup`, "
            f"then choose the kernel {KERNEL_NAME!r} (or start JupyterLab with `make lab`)."
        ) from None

    # The slides print 5 significant digits, no scientific notation, and wrap
    # arrays at 60 characters (8 of 0.1, 0.2, ... or 5 of 0.19867, ... a row).
    np.set_printoptions(precision=5, suppress=True, linewidth=60)
    # SELU_np computes exp(x) on both branches of np.where, which overflows to
    # inf for large x before where() discards it; the slides show no warning.
    warnings.filterwarnings("ignore", "overflow encountered in exp", RuntimeWarning)

    # The lecture's random numbers come from JAX's original ("legacy") threefry
    # stream. JAX 0.5.0 made the partitionable stream the default, which gives
    # different (equally valid) numbers for the same key; select the old one so
    # that every key below reproduces the slides.
    jax.config.update("jax_threefry_partitionable", False)
    # Full float32 matmuls everywhere: recent GPUs would otherwise use TF32 and
    # print other digits than the CPU.
    jax.config.update("jax_default_matmul_precision", "highest")
    # Jaxprs print as plain text: terminal colour codes would show on slides.
    jax.config.update("jax_pprint_use_color", False)

    try:
        from IPython import get_ipython

        ip = get_ipython()
    except ImportError:
        ip = None
    if ip is not None:
        # An error shows as the slides show it, its one line `TypeError: ...`:
        # no traceback frames, no paths of the machine that ran the notebook.
        # (IPython's `%xmode minimal` and `%colors nocolor`, without their printout.)
        ip.InteractiveTB.set_mode(mode="Minimal")
        ip.colors = "nocolor"
        _show_errors_as_one_line(ip)
        _when_imported(ip, "pandas", _configure_pandas)
        _when_imported(ip, "matplotlib", lambda mpl: _configure_matplotlib(ip))
        if os.environ.get(TIMEIT_ONCE) == "1":
            _time_each_once(ip)
    else:  # a script (the benchmark's plot): at once
        _configure_matplotlib(None)
    _setup_done = True


def _configure_pandas(pd):
    # A DataFrame shows as its plain-text repr, as on the slides: an HTML table would
    # make Quarto load require.js and jQuery from the network.
    pd.set_option("display.notebook_repr_html", False)


def _configure_matplotlib(ip):
    """Figures as PNG (nbval does not compare PNG bytes), sized for a slide, readable
    without colour: Matplotlib's colour-blind-safe palette (tableau-colorblind10), and
    the lines of one plot told apart by their style as well (solid, dashed, dotted,
    dash-dot), so that a legend never rests on colour alone."""
    import matplotlib
    from cycler import cycler

    if ip is not None:
        ip.run_line_magic("matplotlib", "inline")  # after it: it sets rcParams of its own
        ip.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
    matplotlib.rcParams.update({
        "figure.figsize": (7.0, 3.6),
        "figure.dpi": FIGURE_DPI,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "font.size": FIGURE_FONT_PT,
        "axes.prop_cycle": cycler(color=CB_COLORS) + cycler(linestyle=["-", "--", ":", "-."]),
    })


# Figure text at the slides' legibility standard: 15 pt at 100 dpi is 20.8 px in the PNG, shown
# at 0.9 of its size or more on a slide (tests/test_slides.py measures it): 18 px, 2.5% of the
# 720 px slide. Tick labels, legends and titles are this size or larger (Matplotlib's defaults).
FIGURE_FONT_PT, FIGURE_DPI = 15, 100

# Four colours of Matplotlib's tableau-colorblind10 style, the ones at least 3:1 against
# the white figure (WCAG 1.4.11): blue, dark orange, dark grey, grey
CB_COLORS = ["#006BA4", "#C85200", "#595959", "#898989"]


def _when_imported(ip, name, configure):
    """`configure(module)` as soon as the kernel has imported `name`: now, or before the
    next cell runs. Not by importing it here: the exercises never plot, most notebooks
    never use pandas, and the two cost every kernel about 1.3 s. (A cell that imports
    one and uses it at once, a DataFrame or a figure shown by the very cell that first
    imports pandas or matplotlib, sees the defaults; no notebook here does that: their
    setup cells import both.)"""
    watched = ip.__dict__.setdefault("_lecture_watched", set())
    if name in watched:  # the setup ran before in this kernel
        return
    watched.add(name)

    def check(*_):
        module = sys.modules.get(name)
        if module is not None:
            ip.events.unregister("pre_run_cell", check)
            configure(module)

    ip.events.register("pre_run_cell", check)
    check()


# An error output stores its message once, free of what only the machine that ran
# it knows: JAX names the temporary file IPython compiled a cell to
# ("/tmp/ipykernel_3016/1285851855.py:1") and a function's address
# ("<function fit at 0x7f4ae2001bc0>"); they read "<cell>:1" and "<function fit>".
# Its traceback is that one line with the error's name in red, as IPython colours
# it: Quarto, given a coloured traceback, shows the traceback alone (given a plain
# one, it shows the name and message and then the traceback, the same line twice),
# and JupyterLab, nbconvert and GitHub show the traceback.
_CELL_FILE = re.compile(r"[^\s\"'`(]*ipykernel_\d+[/\\]\d+\.py")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")


def error_message(text):
    """An error's message as a notebook stores and shows it (see above)."""
    return _ADDRESS.sub(">", _CELL_FILE.sub("<cell>", text))


def error_line(ename, evalue):
    """The one-line traceback an error output stores: its name in red, then its message."""
    return f"\x1b[0;31m{ename}\x1b[0m: {evalue}"


def _show_errors_as_one_line(ip):
    show = ip._showtraceback  # the hook ipykernel's shell defines to send an error output
    if getattr(show, "one_line", False):
        return

    def one_line(etype, evalue, stb):
        message = error_message(str(evalue))
        return show(etype, message, [error_line(etype.__name__, message)])  # the shell stores str(evalue)

    one_line.one_line = True
    ip._showtraceback = one_line


# Under test only (conftest.py sets it), the lecture's `%timeit` cells time their
# statement once (`-n1 -r1`) instead of hundreds of times: their output is not compared
# (they carry nbval-ignore-output; `make bench` measures the lecture's timing claims),
# and their statements still run. Stored outputs come from `make execute`, without it.
TIMEIT_ONCE = "LECTURE_TIMEIT_ONCE"


def _time_each_once(ip):
    from IPython.core.magic import needs_local_scope

    timeit = ip.find_magic("timeit")
    if getattr(timeit, "once", False):
        return

    @needs_local_scope
    def once(line="", cell=None, local_ns=None):
        line = re.sub(r"(?:^|\s)-[nr]\s*\d+", " ", line).strip()
        return timeit(f"-n1 -r1 {line}", cell, local_ns=local_ns)

    once.once = True
    ip.register_magic_function(once, magic_kind="line_cell", magic_name="timeit")


# The lecture's fits estimate 8 coefficients (x1..x4 and one per level of x5): fewer rows
# than that, or a level that never occurs (one column fewer), is not the lecture's problem.
RIDGE_MIN_ROWS = 8
FLOAT32_MAX = 3.4028234663852886e38  # the notebooks compute in float32


def read_ridge_csv(path=RIDGE_CSV):
    """Read the regression data set, checking that it is the file the notebook expects."""
    import numpy as np
    import pandas as pd

    path = Path(path)
    remedy = "Run `make data` to (re)generate it."
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing. {remedy}")
    try:
        d = pd.read_csv(path)
    except Exception as e:  # empty file, bad quoting, binary junk ...
        raise ValueError(f"{path} is not a readable CSV file ({e}). {remedy}") from None
    if list(d.columns) != RIDGE_COLUMNS:
        raise ValueError(
            f"{path} has columns {list(d.columns)}, expected {RIDGE_COLUMNS}. {remedy}"
        )
    if d.empty:
        raise ValueError(f"{path} has a header but no rows. {remedy}")
    numeric = RIDGE_COLUMNS[:-1]
    bad = [c for c in numeric if not pd.api.types.is_numeric_dtype(d[c]) or pd.api.types.is_bool_dtype(d[c])
           or not np.isfinite(d[c].astype(float)).all()]
    if bad:
        raise ValueError(f"{path}: columns {bad} must hold finite numbers only, with no gaps. {remedy}")
    huge = [c for c in numeric if (d[c].abs() > FLOAT32_MAX).any()]
    if huge:
        raise ValueError(f"{path}: columns {huge} hold numbers beyond float32's range (about 3.4e38), "
                         f"in which the notebooks compute. {remedy}")
    if d["x5"].isna().all():
        raise ValueError(f"{path}: x5 is empty; it must hold one of {sorted(RIDGE_LEVELS)} in every row. {remedy}")
    levels = set(d["x5"].dropna().unique())
    if d["x5"].isna().any() or not levels <= RIDGE_LEVELS:
        found = sorted(map(str, levels - RIDGE_LEVELS)) + (["(empty)"] if d["x5"].isna().any() else [])
        raise ValueError(
            f"{path}: x5 must be one of {sorted(RIDGE_LEVELS)} in every row, found {found}. {remedy}"
        )
    if len(d) < RIDGE_MIN_ROWS or levels != RIDGE_LEVELS:
        raise ValueError(
            f"{path} has {len(d)} rows and x5 levels {sorted(levels)}: the lecture's fits need at least "
            f"{RIDGE_MIN_ROWS} rows and every level of {sorted(RIDGE_LEVELS)}. {remedy}"
        )
    for c in numeric:  # whole numbers are numbers too: the notebook's X is float32 either way
        d[c] = d[c].astype(float)
    return d


# -- kernel guard -------------------------------------------------------------
# `make setup` installs the kernel KERNEL_NAME, which loads this module as an
# IPython extension at start-up. Until the notebook's setup cell has run, any
# other cell stops with a plain message instead of printing other numbers.

_GUARD_MESSAGE = (
    "The shared setup has not run in this kernel, so this cell would not reproduce "
    "the lecture. Run the notebook's first code cell (`from lecture import setup; "
    "setup()`) first, or use Run > Run All Cells."
)


# What lets a cell through before the setup: the setup itself, first in its cell (after
# blank lines, comments and Quarto's `#|` options), as a student types it: the import and
# the call on lines of their own, or on one line with `;`, or `import lecture` and
# `lecture.setup()`. What follows it in the cell runs after the setup; nothing may come
# before it. An empty cell, or one of comments only, passes too.
_BLANK_OR_COMMENT = r"(?:[ \t]*(?:#[^\n]*)?\n)"
_THEN = r"[ \t]*(?:;[ \t]*|(?:#[^\n]*)?\n" + _BLANK_OR_COMMENT + r"*)"
_SETUP_CELL = re.compile(
    _BLANK_OR_COMMENT + r"*[ \t]*(?:from lecture import setup" + _THEN + r"setup\(\)"
    r"|import lecture" + _THEN + r"lecture\.setup\(\))[ \t]*(?:[;#][^\n]*)?(?:\n|\Z)"
)
_NOTHING = re.compile(_BLANK_OR_COMMENT + r"*[ \t]*(?:#[^\n]*)?\Z")
# And, exactly, the two cells otter-grader runs ahead of an exercise's own when it grades
# one (exercises/; otter.execute.preprocessor's add_cwd_to_path and INIT_CELL_SOURCE, for
# otter-grader 7.0.0): the submission's folder put on sys.path, and its grading mode
# with otter's logging. Neither touches what the lecture prints; anything added to
# either does not pass (tests/test_kernel.py formats otter's own templates).
_GRADER_CELL = re.compile(
    r'\Aimport sys\nsys\.path\.append\(r"[^"\n]*"\)\n?\Z'
    r'|\Afrom otter import Notebook as (\w+)\n\1\.init_grading_mode\("[^"\n]*"\)\n'
    r"\n# set up Otter's logging\nimport logging\nfrom otter import logging\n"
    r'logging\.set_level\(logging\.DEBUG\)\nlogging\.send_logs\("[^"\n]*", [\w.]+\)\n?\Z'
)


def _guard(lines):
    source = "".join(lines)
    if _setup_done or _NOTHING.match(source) or _SETUP_CELL.match(source) or _GRADER_CELL.match(source):
        return lines
    return [f"raise RuntimeError({_GUARD_MESSAGE!r})\n"]


def load_ipython_extension(ip):
    if _guard not in ip.input_transformers_post:
        ip.input_transformers_post.append(_guard)
