"""The lecture's exported code (lecture.exported): each entry point makes exactly the
names asked for, runs only the statements they need, and runs the notebook's own cells."""

import ast
import json
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from lecture import SetupError, exported
from helpers import ROOT

ENTRY_POINTS = {exported.selu: ("03-performance-jit", exported.SELU_NAMES),
                exported.regression: ("05-regression", exported.REGRESSION_NAMES),
                exported.mlp: ("06-pytrees-mlp", exported.MLP_NAMES),
                exported.minibatch: ("09-optax", exported.MINIBATCH_NAMES)}


def statements_for(notebook, *names):
    _, statements = exported.exported_statements(ROOT / "notebooks" / f"{notebook}.ipynb")
    return [ast.unparse(s) for _, s in exported.needed(statements, names)]


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_each_entry_point_says_what_it_returns_and_its_notebook_defines_it(entry):
    notebook, names = ENTRY_POINTS[entry]
    documented = set(re.findall(r"`(\w+)`", entry.__doc__))
    assert set(names) <= documented, "the docstring names everything the entry point makes"
    _, statements = exported.exported_statements(ROOT / "notebooks" / f"{notebook}.ipynb")
    bound = set().union(*(exported.defined(s) for _, s in statements))
    assert set(names) <= bound, f"{notebook}'s cells tagged export define every name offered"


def test_only_what_the_names_need_runs():
    data = statements_for("05-regression", "X")
    assert [s.split(" =")[0] for s in data] == ["d", "X"]  # the data read; nothing fitted
    eager = statements_for("05-regression", "b_hat")
    assert "b_hat = fit_simple(b, reg_loss)" in eager
    assert not [s for s in eager if "LinearRegression" in s or "fit_scan" in s], "no scikit-learn, no scan"
    # A statement that binds nothing (a cell's displayed value) never runs.
    assert not [s for s in statements_for("05-regression") if s in ("d", "X.shape", "lm.coef_")]
    # 06 binds `key` twice: params take the first, the data the second, as in the notebook.
    keys = [s for s in statements_for("06-pytrees-mlp", "params", "x") if s.startswith("key =")]
    assert keys == ["key = jax.random.PRNGKey(1234)", "key = jax.random.PRNGKey(12345)"]


def test_the_setup_cell_runs_its_imports_and_calls_and_only_the_assignments_needed():
    run = [ast.unparse(s) for _, s in exported.plan(ROOT / "notebooks" / "09-optax.ipynb", ["sgd_fit"])]
    assert run[:2] == ["from lecture import setup", "setup()"]
    assert "import matplotlib.pyplot as plt" in run and "import optax" in run
    assert [s for s in run if s.startswith("reg = exported.regression(")], "minibatch_sgd reads reg"
    assert not [s for s in run if s.startswith("mlp =")], "nothing here needs the MLP"


def test_a_name_not_offered_is_refused_naming_those_that_are():
    with pytest.raises(SetupError, match=r"06-pytrees-mlp exports init_params, params, model, x, y; not W"):
        exported.mlp("W")


def test_an_edited_lecture_cell_changes_what_the_other_notebooks_get(tmp_path):
    """The entry points read the notebook's cells at each call, in a fresh namespace:
    edit 06's init_params (biases of zeros, not ones) and mlp() makes the edited params;
    edit its data cell so that it no longer defines `y` and mlp() says so."""
    for name in ("03-performance-jit", "05-regression", "06-pytrees-mlp"):
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", tmp_path)
    path = tmp_path / "06-pytrees-mlp.ipynb"
    nb = nbformat.read(path, as_version=4)
    init = next(c for c in nb.cells if c.source.startswith("def init_params"))
    init.source = init.source.replace("jnp.ones(", "jnp.zeros(")
    data = next(c for c in nb.cells if c.source.endswith("y = x**2"))
    data.source = data.source.replace("y = x**2", "z = x**2")
    nbformat.write(nb, path)
    code = ("import json\nfrom lecture import SetupError, exported\n"
            f"p = exported.mlp('params', notebooks={str(tmp_path)!r}).params\n"
            "try:\n    exported.mlp('y', notebooks=" + repr(str(tmp_path)) + ")\n    missing = ''\n"
            "except SetupError as e:\n    missing = str(e)\n"
            "print(json.dumps({'biases': [float(l['b'].sum()) for l in p], 'missing': missing}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.splitlines()[-1])
    assert got["biases"] == [0.0, 0.0, 0.0]
    assert "cells tagged 'export' no longer define y" in got["missing"]
