"""The lecture's own code, for the notebooks beyond it, the exercises and the benchmark.

A cell tagged `export` in a lecture notebook holds a definition of the lecture's (SELU,
the regression's data, losses and fits, the MLP's parameters, model and data). What is
imported from here runs those very cells, read from the notebook (in the spirit of
d2l's `#@save`), never a copy that could drift from what the slides show:

    from lecture.exported import regression
    reg = regression("X", "y", "reg_loss")   # reg.X, reg.y, reg.reg_loss

Each entry point takes the names it should make (all of its names when given none)
and runs only the statements those names need, in the notebook's order: the setup
cell's imports and calls (`setup()`), then what the names need of the setup cell's
other statements and of the exported cells. `regression("X")` reads the data and fits
nothing; `regression("b_hat")` runs the eager `fit_simple`, as the slides do.
"""

import ast
import contextlib
import json
import types
from pathlib import Path

from lecture import NOTEBOOKS_DIR, SetupError

EXPORT_TAG = "export"


def selu(*names, notebooks=NOTEBOOKS_DIR):
    """03-performance-jit's SELU: `SELU_np` (NumPy) and `SELU_jnp` (jax.numpy)."""
    return _make("03-performance-jit", SELU_NAMES, names, notebooks)


def regression(*names, notebooks=NOTEBOOKS_DIR):
    """05-regression's code on data/ridge.csv:
    `d` (the data frame), `X` (500 x 8, float32), `y`, `b` (the starting coefficients),
    `model`, `reg_loss`, `ridge_loss`, `lasso_loss`, `fit` (the loop that records the
    losses), `fit_simple`, `fit_scan` and `fit_scan_jit` (defined, not run), and what the
    slides compute with them: `lm` (scikit-learn's fit), `b_hat` (the eager `fit_simple`
    of `reg_loss`), `b_hat_scan` and `losses_scan` (its `lax.scan` version)."""
    return _make("05-regression", REGRESSION_NAMES, names, notebooks)


def mlp(*names, notebooks=NOTEBOOKS_DIR):
    """06-pytrees-mlp's MLP: `init_params`, `params` (its [1, 128, 128, 1] layers from
    key 1234), `model` (the class: forward, loss_fn, step, fit) and its data `x`, `y`
    (128 points of y = x**2)."""
    return _make("06-pytrees-mlp", MLP_NAMES, names, notebooks)


def minibatch(*names, notebooks=NOTEBOOKS_DIR):
    """09-optax's mini-batch SGD on 05's regression (beyond the slides): `minibatch_sgd`,
    called as minibatch_sgd(opt, key, batch=50, epochs=25), which returns the fitted b
    and the loss on all rows after each epoch, shuffling with a key split from `key` for
    each epoch, and `sgd_fit`, it jitted (the optimizer and the batch size static)."""
    return _make("09-optax", MINIBATCH_NAMES, names, notebooks)


SELU_NAMES = ("SELU_np", "SELU_jnp")
MINIBATCH_NAMES = ("minibatch_sgd", "sgd_fit")
REGRESSION_NAMES = ("d", "X", "y", "b", "model", "reg_loss", "ridge_loss", "lasso_loss", "fit",
                    "fit_simple", "fit_scan", "fit_scan_jit", "lm", "b_hat", "b_hat_scan", "losses_scan")
MLP_NAMES = ("init_params", "params", "model", "x", "y")


def _make(notebook, offered, names, notebooks):
    names = names or offered
    unknown = [n for n in names if n not in offered]
    if unknown:
        raise SetupError(f"{notebook} exports {', '.join(offered)}; not {', '.join(unknown)}")
    path = Path(notebooks) / f"{notebook}.ipynb"
    namespace = {"__name__": f"lecture.exported[{notebook}]"}
    with contextlib.chdir(path.parent):
        for where, statement in plan(path, names):
            exec(compile(ast.Module([statement], []), where, "exec"), namespace)
    missing = [n for n in names if n not in namespace]
    if missing:  # an export cell was edited away from what the entry point promises
        raise SetupError(f"{path.name}'s cells tagged {EXPORT_TAG!r} no longer define {', '.join(missing)}")
    return types.SimpleNamespace(**{n: namespace[n] for n in names})


def plan(path, names):
    """What making `names` from the notebook at `path` runs, in order, each statement with
    where it comes from: the setup cell's imports and calls, and what the names need."""
    setup_cell, statements = exported_statements(path)
    where = f"{Path(path).name}, setup cell"
    setup_statements = [(where, st) for st in ast.parse(setup_cell, where).body]
    always = [i for i, (_, st) in enumerate(setup_statements) if isinstance(st, (ast.Import, ast.ImportFrom, ast.Expr))]
    return needed(setup_statements + statements, names, always)


def exported_statements(path):
    """The notebook's setup cell (its first code cell) and the top-level statements of
    its cells tagged `export`, each with where it comes from."""
    try:
        cells = [c for c in json.loads(Path(path).read_text())["cells"] if c["cell_type"] == "code"]
    except (OSError, ValueError, KeyError) as e:
        raise SetupError(f"cannot read the lecture's code from {path} ({e})") from None
    exported = [c for c in cells[1:] if EXPORT_TAG in c.get("metadata", {}).get("tags", [])]
    if not exported:
        raise SetupError(f"{Path(path).name} has no cells tagged {EXPORT_TAG!r}")
    statements = []
    for cell in exported:
        where = f"{Path(path).name}, cell {cell.get('id')}"
        statements += [(where, s) for s in ast.parse("".join(cell["source"]), where).body]
    return "".join(cells[0]["source"]), statements


def defined(statement):
    """The names a top-level statement binds."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in statement.names}
    targets = {ast.Assign: lambda s: s.targets, ast.AugAssign: lambda s: [s.target],
               ast.AnnAssign: lambda s: [s.target]}.get(type(statement), lambda s: [])(statement)
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def used(statement):
    """The names a statement reads, in its body, defaults and decorators (more than it
    needs at worst: a name bound inside a function counts too, which costs nothing)."""
    names = {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    if isinstance(statement, ast.AugAssign):
        names |= defined(statement)
    return names


def needed(statements, names, always=()):
    """The statements that make `names`, in order: the statements `always` (indices),
    for each name the last statement that binds it, and, for each statement kept, the
    last earlier one that binds each name it reads. Other statements that bind nothing
    (a cell's displayed value) never run."""
    keep = set(always)

    def require(name, before):
        for i in range(before - 1, -1, -1):
            if name in defined(statements[i][1]):
                if i not in keep:
                    keep.add(i)
                    for n in used(statements[i][1]):
                        require(n, i)
                return

    for i in sorted(always):
        for n in used(statements[i][1]):
            require(n, i)
    for name in names:
        require(name, len(statements))
    return [statements[i] for i in sorted(keep)]
