"""What each person reads stays true: the README is short, every relative link in it and
in the guides (docs/) leads to a file (and a heading, where it names one), every `make X`
they mention is a Makefile target, and every command of the README's quick start runs in
CI as written: `make test` by .ci/run (with `make setup` and `make slides`, its
prerequisites), the others by tests/test_setup.py on a fresh clone."""

import re

from helpers import ROOT
from test_makefile import targets
from test_setup import RUN_AS_WRITTEN

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
GUIDES = {"student.md", "instructor.md", "maintainer.md"}


def slug(heading):
    """A heading's anchor as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_is_short_and_the_three_guides_are_there():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
    assert GUIDES <= {p.name for p in PAGES}


def test_every_relative_link_leads_somewhere():
    for page in PAGES:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address: not this project's to keep
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.exists(), f"{page.name} links {target}, which is not there"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", resolved.read_text(), re.M)
                assert anchor in {slug(h) for h in headings}, f"{page.name} links {target}: no such heading"


def test_every_make_command_they_name_is_a_target():
    for page in PAGES:
        text = page.read_text()
        named = set(re.findall(r"`make ([a-z][\w-]*)", text) + re.findall(r"^ {4,}make ([a-z][\w-]*)", text, re.M))
        assert named <= targets(), f"{page.name} names no such target: {sorted(named - targets())}"


def quick_start_commands():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Quick start"):text.index("\n## ", text.index("## Quick start") + 1)]
    return [line.split("#")[0].strip() for line in section.splitlines() if re.match(r"^ {4}\S", line)]


def test_every_quick_start_command_runs_in_ci_as_written():
    commands = quick_start_commands()
    assert commands and len(commands) == len(set(commands))
    ci = (ROOT / ".ci" / "run").read_text()
    by_ci = {"make test"} if re.search(r"^make test$", ci, re.M) else set()
    rule = re.search(r"^test: (.*?)##", (ROOT / "Makefile").read_text(), re.M).group(1)
    if "$(STAMP)" in rule:
        by_ci.add("make setup")
    if "slides" in rule:  # (where Node.js or Quarto is there, as .ci/run sees to)
        by_ci.add("make slides")
    assert set(commands) == by_ci | set(RUN_AS_WRITTEN), (
        f"run by nothing: {sorted(set(commands) - by_ci - set(RUN_AS_WRITTEN))}")
