"""nbval's sanitizers (tests/sanitize.cfg) mask what they are for, and take time linear in a
line's length: a cell that prints megabytes on one line is compared, not hung on. (A
quadratic pattern took 15.7 s for an 80 KB line and never finished nbval on 500 KB.) The
limits below are minutes for work a linear pattern does in well under a second."""

import configparser
import re
import subprocess
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from helpers import ROOT

CFG = ROOT / "tests" / "sanitize.cfg"


def sanitizers():
    config = configparser.ConfigParser()
    config.read(CFG)
    return [(config[s]["regex"], config[s]["replace"]) for s in config.sections()]


def test_they_mask_what_varies_and_nothing_else():
    text = ("<function fit at 0x7f1468aa6b60> tracing the function fit at /tmp/ipykernel_3016/1285851855.py:1 "
            "'C:\\Temp\\ipykernel_12\\34.py' keep 0x10 and ipykernel_launcher")
    for regex, replace in sanitizers():
        text = re.sub(regex, replace, text)
    assert text == ("<function fit at 0xADDRESS> tracing the function fit at <cell>:1 "
                    "'<cell>' keep 0x10 and ipykernel_launcher")


def test_a_line_of_megabytes_is_sanitized_in_linear_time():
    lines = ['"x" * 5_000_000', '"ab/c " * 1_000_000', '"/" * 5_000_000', '"ipykernel_1/" * 400_000',
             '"at 0x" * 1_000_000']
    code = ("import re, sys\n"
            f"patterns = {sanitizers()!r}\n"
            "for line in [" + ", ".join(lines) + "]:\n"
            "    for regex, replace in patterns:\n"
            "        re.sub(regex, replace, line)\n"
            "print('done')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert done.stdout.strip() == "done", done.stderr


def test_nbval_compares_a_cell_that_prints_half_a_megabyte_on_one_line(tmp_path):
    line = "x" * 500_000 + "\n"
    notebook = tmp_path / "long-line.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print('x' * 500_000)", execution_count=1, outputs=[
        new_output("stream", name="stdout", text=line)])]), notebook)
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", "-c", ROOT / "pytest.ini",
                          "--rootdir", tmp_path, f"--nbval-sanitize-with={CFG}", notebook],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout[-2000:]
