"""The Makefile's verbs as the README names them: each `make X` the README mentions is a
target, and `make help` lists every target a person runs."""

import re
import shutil
import subprocess

from helpers import ROOT

INTERNAL = {"FORCE", "need-node", "need-chromium", "no-decks", "decks"}  # steps of other targets


def targets():
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", text, re.M))


def test_every_make_command_the_readme_names_is_a_target():
    text = (ROOT / "README.md").read_text()
    # as code: `make X` in a sentence, or a command line of its own in an example
    named = set(re.findall(r"`make ([a-z][\w-]*)", text) + re.findall(r"^ {4,}make ([a-z][\w-]*)", text, re.M))
    assert named, "the README names make targets"
    assert named <= targets(), f"the README names no such target: {sorted(named - targets())}"


def test_make_help_lists_every_target_a_person_runs():
    phony = set(re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split())
    helped = subprocess.run([shutil.which("make"), "--no-print-directory", "help"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    listed = set(re.findall(r"^make (\S+)", helped, re.M))
    assert listed == phony - INTERNAL
