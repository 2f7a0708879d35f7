"""The lecture's kernel and the shared setup fail plainly when misused."""

import subprocess
import sys

import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import start_new_kernel

from helpers import ROOT
from lecture import KERNEL_NAME as KERNEL



@pytest.fixture
def kernel():
    """A fresh kernel for each test, so that none depends on another's state."""
    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.fail(f"kernel {KERNEL!r} is not installed in this environment: run `make setup`")
    km, kc = start_new_kernel(kernel_name=KERNEL, cwd=str(ROOT / "notebooks"))
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run(kc, code):
    errors = []
    reply = kc.execute_interactive(
        code, timeout=60,
        output_hook=lambda msg: errors.append(msg["content"]) if msg["msg_type"] == "error" else None,
    )
    return reply["content"]["status"], errors


@pytest.mark.parametrize("code", ["import jax\nkey = jax.random.PRNGKey(1234)",
                                  "# the lecture, slide 3\nimport jax\nkey = jax.random.PRNGKey(1234)",
                                  "import lecture\nkey = 1"])
def test_a_cell_run_before_the_setup_says_so(kernel, code):
    status, errors = run(kernel, code)
    assert status == "error"
    assert errors[0]["ename"] == "RuntimeError"
    assert "shared setup has not run" in errors[0]["evalue"]


def test_after_the_setup_cells_run_as_in_the_lecture(kernel):
    assert run(kernel, "#| include: false\nfrom lecture import setup\nsetup()")[0] == "ok"
    code = "import jax\nkey = jax.random.PRNGKey(1234)\nassert abs(float(jax.random.normal(key)) + 0.5402) < 1e-4"
    assert run(kernel, code)[0] == "ok"


def test_setup_in_a_kernel_without_jax_names_the_fix():
    code = "import sys; sys.modules['jax'] = None\nimport lecture; lecture.setup()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "SetupError" in result.stderr
    assert "make setup" in result.stderr and KERNEL in result.stderr


def otters_cells():
    """The two cells otter-grader 7.0.0 runs ahead of an exercise's own, from its own templates."""
    from otter.execute.preprocessor import INIT_CELL_SOURCE

    init = INIT_CELL_SOURCE.format(notebook_name="notebook_X7", test_dir="./tests",
                                   logging_server_host="localhost", logging_server_port=None)
    return [init, 'import sys\nsys.path.append(r"/tmp/x/autograder/submission")']


def passes_the_guard(monkeypatch, code):
    import lecture

    monkeypatch.setattr(lecture, "_setup_done", False)
    lines = code.splitlines(keepends=True)
    return lecture._guard(lines) == lines


@pytest.mark.parametrize("code", [
    "from lecture import setup\nsetup()",
    "#| include: false\nfrom lecture import setup\nsetup()\n\nimport jax\nimport numpy as np",
    "from lecture import setup; setup()",  # the one-liner the guard's message names
    "from lecture import setup;setup()  # the lecture's setup",
    "import lecture; lecture.setup()",
    "import lecture\nlecture.setup()",
    "# comments first\n\nfrom lecture import setup\n\nsetup()\nx = 1",
    "", "\n  \n# only a comment\n",
])
def test_the_setup_passes_before_the_setup_as_a_student_types_it(monkeypatch, code):
    assert passes_the_guard(monkeypatch, code)


@pytest.mark.parametrize("code", [
    "import jax\nfrom lecture import setup\nsetup()",  # code above the setup would run first
    "print(jax.random.normal(key)); from lecture import setup; setup()",
    "from lecture import setup\nprint(1)\nsetup()",
    "from lecture import setup",  # imported, not run
    "setup()",
    "import lecture\nkey = 1",
    "from lecture import setuptools\nsetup()",
])
def test_code_before_the_setup_is_refused(monkeypatch, code):
    assert not passes_the_guard(monkeypatch, code)


def test_before_the_setup_otters_own_grading_cells_pass_exactly(monkeypatch):
    """otter-grader runs two cells ahead of an exercise's own when it grades one; the same
    cells with anything added, or otter imported otherwise, do not pass."""
    for cell in otters_cells():
        assert passes_the_guard(monkeypatch, cell), cell
        assert not passes_the_guard(monkeypatch, cell.rstrip("\n") + "\nimport jax\n")
        assert not passes_the_guard(monkeypatch, "import jax\n" + cell)
    assert not passes_the_guard(monkeypatch, "from otter import Notebook as nb\nimport jax\nprint(jax.numpy.ones(3))")
    assert not passes_the_guard(monkeypatch, 'import otter\ngrader = otter.Notebook("02-prng.ipynb")')


def test_the_one_liner_in_the_guards_message_runs_in_the_kernel(kernel):
    status, errors = run(kernel, "import jax")
    assert status == "error" and "from lecture import setup; setup()" in errors[0]["evalue"]
    assert run(kernel, "from lecture import setup; setup()")[0] == "ok"
    assert run(kernel, "import jax\nassert abs(float(jax.random.normal(jax.random.PRNGKey(1234))) + 0.5402) < 1e-4")[0] == "ok"
