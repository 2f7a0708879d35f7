"""Small helpers shared by the project's tests."""

import re

from lecture.tooling import ROOT, numbered_notebooks, read_notebook

NOTEBOOKS = numbered_notebooks()
# What only the machine that ran a notebook knows, in an output or on a slide: IPython's
# temporary cell files, temporary and home folders, installed packages, object addresses.
MACHINE_ONLY = re.compile(r"ipykernel_\d+|/tmp/|/root/|/home/|site-packages|\b0x[0-9a-fA-F]{6,}")


def read(path):
    return read_notebook(path)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def output_text(output):
    """All the text an output shows: streams, text/plain, an error's name and value."""
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return f"{output.ename}: {output.evalue}"
    return output.get("data", {}).get("text/plain", "")


def cell_text(cell):
    return "".join(output_text(o) for o in cell.get("outputs", []))


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def find_cell(nb, source):
    """The one code cell whose source contains `source`; where several do, the one
    whose source is `source` or ends with it as a whole line."""
    found = [c for c in code_cells(nb) if source in c.source]
    if len(found) > 1:
        found = [c for c in found if c.source == source or c.source.endswith("\n" + source)]
    assert len(found) == 1, f"{len(found)} cells contain {source!r}"
    return found[0]


def headings(nb):
    """The `#` and `##` heading lines of the notebook's markdown (outside code
    fences): one slide each."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            in_fence = False
            for line in cell.source.splitlines():
                if line.startswith("```"):
                    in_fence = not in_fence
                elif not in_fence and re.match(r"^#{1,2} ", line):
                    found.append(line)
    return found


def wait_for(condition, what, limit=240):
    """Poll `condition` until it holds, and return what it found; the limit only keeps a
    broken run from hanging the suite (an event is waited on, not a clock)."""
    import time

    deadline = time.monotonic() + limit
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what}, still not after {limit} s"
        time.sleep(0.2)
    return found


def end_process_group(process, grace=15):
    """A server started in a session of its own, ended: SIGTERM to its group, SIGKILL if it
    has not gone within `grace` seconds."""
    import os
    import signal
    import subprocess

    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
