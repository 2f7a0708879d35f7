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
    assert OWN_UNITS and LONG_NOTEBOOKS
    for name in (*OWN_UNITS, *LONG_NOTEBOOKS):
        assert name.split("::")[0].endswith((".py", ".ipynb")), name
