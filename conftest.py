"""The test run's header (the installed JAX against the lock), the work units of
`make test`'s workers, and what the tests share: the built exercises and a headless
browser. (nbval's sanitizers are in tests/sanitize.cfg, passed with
--nbval-sanitize-with in pytest.ini.)"""

import fcntl
import os
import shutil
from importlib import metadata

import pytest

import lockfile
from browser import NO_CHROMIUM, chromium, find_chromium
from lecture import TIMEIT_ONCE
from lecture.tooling import ROOT, die_with_parent


# Every kernel the tests start (nbval's, JupyterLab's, the grader's) inherits this: the
# lecture's %timeit cells then time their statement once (the lecture package says why).
os.environ.setdefault(TIMEIT_ONCE, "1")

# A test run dies with whatever started it (make, a shell, CI), however that ends: pytest
# and each of its workers get SIGTERM when their parent dies, the servers the tests start
# get it when their worker dies, and kernels end when their server or worker is gone
# (ipykernel watches its parent). Nothing of a stopped run is left running.
die_with_parent()


def locked_versions(names=("jax", "jaxlib")):
    """The versions that the lock pins for `names`."""
    return {name: versions[0] for name, versions in lockfile.pins().items() if name in names}


def installed(name):
    """The version of `name` that can be imported: None when it is not installed, or when
    files its RECORD lists are missing (a metadata entry alone is not an install)."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    # Its RECORD read as written: importlib.metadata's `files` leaves out the missing ones.
    if lockfile.missing_from_record(dist.read_text("RECORD") or "", dist.locate_file("")):
        return None
    return dist.version


def pytest_report_header(config):
    """What can be imported, against the lock: the test run's first lines."""
    lines = []
    for name, pinned in locked_versions().items():
        found = installed(name)
        if found == pinned:
            lines.append(f"{name} {found} (as locked)")
        else:
            lines.append(
                f"WARNING: {name} {found or 'cannot be imported (not installed, or files missing)'} differs from "
                f"the lock ({name}=={pinned}): stored outputs can differ for that reason alone. "
                "Run `make setup`, or re-execute deliberately with `make execute`."
            )
    return lines


# `make test` runs `pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder`, four
# workers on two cores (the Makefile's WORKERS), since the JupyterLab, browser, grading
# and multi-process tests spend much of their time waiting on other processes: in a
# set-up clone on the 2-core machine, one version took 253 s with three workers and
# 209-250 s with four (five runs; the machine's speed varies 10-15% from run to run).
# A file's tests run together on one worker (a notebook's cells share one kernel),
# except these long parametrized tests: each parameter is a work unit of its own, so
# that the workers share them.
# (pytest-xdist's own `xdist_group` marks do not group under pytest 9.2:
# pytest-xdist issue #1386.) The JupyterLab tests stay one unit, on one worker: each
# worker that ran one would start its own JupyterLab server and load JupyterLab in its
# own page, about 10 CPU-seconds each, for tests that mostly wait on their kernels.
OWN_UNITS = (
    "tests/test_exercises.py::test_the_solution_passes_every_check_and_the_untouched_student_version_fails_each[",
    "tests/test_exercises.py::test_hostile_submissions_get_no_marks_reach_nothing_and_leave_nothing",
)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: absent under -p no:xdist
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnits(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return nodeid if nodeid.startswith(OWN_UNITS) else nodeid.split("::")[0]

    return WorkUnits(config, log)


# Notebooks whose nbval run is as long as a long test (05's unrolled jit compile, 12's
# sampler): their cells are handed out with the long tests.
LONG_NOTEBOOKS = ("notebooks/05-regression.ipynb::", "notebooks/12-blackjax.ipynb::")


def stale_work_units(items, units=OWN_UNITS, long_notebooks=LONG_NOTEBOOKS):
    """The names singled out above that match no collected test of a file this run
    collected: renamed tests, whose work units would silently merge again."""
    files = {item.nodeid.split("::")[0] for item in items}
    return [name for name in (*units, *long_notebooks) if name.split("::")[0] in files
            and not any(item.nodeid.startswith(name) for item in items)]


def pytest_collection_modifyitems(config, items):
    """The long tests first, so that no worker is left with one of them at the
    end while the other has nothing to do (in that order with --no-loadscope-reorder)."""
    whole_run = not config.option.file_or_dir and not config.option.keyword  # as make test runs
    stale = stale_work_units(items) if whole_run else []
    if stale:
        raise pytest.UsageError(f"conftest.py singles out {stale}, which match no collected test: "
                                "rename them there with the tests")
    items.sort(key=lambda item: item.get_closest_marker("long") is None and not item.nodeid.startswith(LONG_NOTEBOOKS))


@pytest.fixture(scope="session")
def built_exercises(tmp_path_factory):
    """The exercises built as `make exercises` builds them, once for the whole run:
    the first worker to need them builds them in the run's shared temporary folder."""
    import exercises

    if "PYTEST_XDIST_WORKER" not in os.environ:  # one process: nothing to share
        out = tmp_path_factory.mktemp("exercises")
        exercises.build(out=out)
        return out
    shared = tmp_path_factory.getbasetemp().parent  # this run's, shared by its workers
    out = shared / "exercises"
    with open(shared / "exercises.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / ".built").exists():
            exercises.build(out=out)
            (out / ".built").touch()
    return out


REVEAL = ROOT / "slides" / "node_modules" / "reveal.js" / "dist" / "reveal.js"
NO_DECKS = ("no decks: rendering them needs Quarto, or Node.js and npm for reveal.js "
            "(apt-get install nodejs npm; brew install node), then `make slides`")


def pytest_runtest_setup(item):
    """Tests marked `decks` need rendered decks: without Quarto or reveal.js (Node.js) there
    are none, and they skip saying so, except in CI (`CI` set), where they fail."""
    if item.get_closest_marker("decks") and not (shutil.which("quarto") or REVEAL.is_file()):
        if os.environ.get("CI"):
            pytest.fail(NO_DECKS)
        pytest.skip(NO_DECKS)


@pytest.fixture(scope="session")  # one Chromium per worker, whatever order its tests come in
def browser():
    if find_chromium() is None:  # the decks and JupyterLab are checked in it: a missing browser fails them
        pytest.fail(NO_CHROMIUM)
    with chromium() as b:
        yield b
