"""The Makefile's verbs: `make help` lists every target a person runs (tests/test_docs.py
checks that the README and the guides name only targets there are)."""

import re
import shutil
import subprocess

from helpers import ROOT

INTERNAL = {"FORCE", "need-node", "need-chromium", "no-decks", "decks"}  # steps of other targets


def targets():
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", text, re.M))


def test_make_help_lists_every_target_a_person_runs():
    phony = set(re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split())
    helped = subprocess.run([shutil.which("make"), "--no-print-directory", "help"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    listed = set(re.findall(r"^make (\S+)", helped, re.M))
    assert listed == phony - INTERNAL
