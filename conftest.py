"""What the nbval run needs to compare a fresh execution with the stored outputs.

Sanitizers mask only what truly varies from run to run or machine to machine:
object addresses and the temporary file names IPython gives each cell. Timing
cells are not masked here; they carry the `nbval-ignore-output` tag.
"""

import re
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

SANITIZERS = {
    # <function fit at 0x7f1468aa6b60>, <matplotlib.lines.Line2D at 0x7f...>
    r"\bat 0x[0-9a-fA-F]+": "at 0xADDRESS",
    # "tracing the function fit at /tmp/ipykernel_3016/1285851855.py:1"
    r"[^\s\"'`]*ipykernel_\d+[/\\]\d+\.py": "<cell>",
}


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


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        patterns = getattr(item.parent, "sanitize_patterns", None)
        if patterns is not None:
            patterns.update(SANITIZERS)
