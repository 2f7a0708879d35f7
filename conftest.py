"""The test run's header (the installed JAX against the lock) and the headless
browser the deck and JupyterLab tests share. (nbval's sanitizers are in
tests/sanitize.cfg, passed with --nbval-sanitize-with in pytest.ini.)"""

import os
import re
from importlib import metadata
from pathlib import Path

import pytest

from browser import NO_CHROMIUM, chromium, find_chromium

ROOT = Path(__file__).resolve().parent


def locked_versions(names=("jax", "jaxlib")):
    """The versions that requirements.txt pins for `names`."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
        if m and m.group(1).lower() in names:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def pytest_report_header(config):
    lines = []
    for name, pinned in locked_versions().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed == pinned:
            lines.append(f"{name} {installed} (as locked)")
        else:
            lines.append(
                f"WARNING: {name} {installed or 'is not installed'} differs from the lock "
                f"({name}=={pinned}): stored outputs can differ for that reason alone. "
                "Run `make setup`, or re-execute deliberately with `make execute`."
            )
    return lines


@pytest.fixture(scope="module")
def browser():
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail(NO_CHROMIUM)
        pytest.skip(NO_CHROMIUM)
    with chromium() as b:
        yield b
