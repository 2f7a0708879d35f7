"""The work units make test's workers share (conftest.py) check themselves: a name
singled out there that matches no collected test stops a whole run."""

from types import SimpleNamespace

from conftest import LONG_NOTEBOOKS, OWN_UNITS, stale_work_units


def items(*nodeids):
    return [SimpleNamespace(nodeid=n) for n in nodeids]


def test_a_renamed_test_is_caught_and_a_file_not_collected_is_not():
    unit = "tests/test_x.py::test_long["
    assert stale_work_units(items("tests/test_x.py::test_long[a]"), units=(unit,), long_notebooks=()) == []
    assert stale_work_units(items("tests/test_x.py::test_renamed[a]"), units=(unit,), long_notebooks=()) == [unit]
    assert stale_work_units(items("tests/test_y.py::test_other"), units=(unit,), long_notebooks=()) == []


def test_the_units_name_real_tests_and_notebooks():
    """Each name singled out matches tests that pytest collects from its file today."""
    import subprocess
    import sys

    from helpers import ROOT

    names = (*OWN_UNITS, *LONG_NOTEBOOKS)
    files = sorted({name.split("::")[0] for name in names})
    collected = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "--collect-only", "-q", *files],
                               cwd=ROOT, capture_output=True, text=True, timeout=300)
    nodeids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert nodeids, collected.stdout + collected.stderr
    for name in names:
        assert any(nodeid.startswith(name) for nodeid in nodeids), f"{name} names no collected test"
