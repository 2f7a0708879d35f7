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
    code = ("import sys; sys.modules['jax'] = None\n"
            f"sys.path.insert(0, {str(ROOT / 'notebooks')!r})\n"
            "import lecture; lecture.setup()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "SetupError" in result.stderr
    assert "make setup" in result.stderr and KERNEL in result.stderr


@pytest.mark.parametrize("code, passes", [
    ('from otter import Notebook as notebook_X7\nnotebook_X7.init_grading_mode("./tests")\n', True),
    ('import sys\nsys.path.append(r"/tmp/x/autograder/submission")', True),
    ('import sys\nsys.path.append(r"/tmp/x")\nimport jax', False),
    ('import otter\ngrader = otter.Notebook("02-prng.ipynb")', False),
])
def test_before_the_setup_only_otters_own_grading_cells_pass(monkeypatch, code, passes):
    """otter-grader runs two cells ahead of an exercise's own when it grades one."""
    import lecture

    monkeypatch.setattr(lecture, "_setup_done", False)
    lines = code.splitlines(keepends=True)
    assert (lecture._guard(lines) == lines) is passes
