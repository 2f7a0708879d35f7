"""slides/index.html, the lecture's front page (tools/deck_index.py)."""

import re

import pytest

import deck_index
from helpers import NOTEBOOKS, ROOT

SLIDES = ROOT / "slides"


def links(text):
    return re.findall(r'href="([^"]+)"', text)


def test_the_decks_come_in_lecture_order_the_lecture_first_then_what_goes_beyond_it(tmp_path, monkeypatch):
    monkeypatch.setattr(deck_index, "SLIDES", tmp_path)
    (tmp_path / "02-prng.pdf").write_bytes(b"%PDF")  # one handout made, the others not
    decks = deck_index.decks()
    text = deck_index.page(decks, ["02-prng"])
    lecture, beyond = text.split("<h2>Beyond the slides</h2>")
    beyond, exercises = beyond.split("<h2>Exercises</h2>")
    order = [d.stem for d in decks]
    assert order == [p.stem for p in NOTEBOOKS if p.stem[:2].isdigit()]
    assert [h[:-5] for h in links(lecture) if h.endswith(".html")] == [d.stem for d in decks if not d.beyond]
    assert [h[:-5] for h in links(beyond) if h.endswith(".html")] == [d.stem for d in decks if d.beyond]
    assert sorted(decks, key=lambda d: d.beyond) == decks, "the lecture's decks first, then what goes beyond it"
    assert [h for h in links(text) if h.endswith(".pdf")] == ["02-prng.pdf"]
    assert sum(h.startswith("../notebooks/") for h in links(text)) == len(decks)
    assert links(exercises) == ["../exercises/student/02-prng.ipynb"]
    for d in decks:  # title and subtitle each in their own element, never run together
        assert f'>{d.title}</a><span class="sub">' in text.replace("&amp;", "&").replace("&#x27;", "'")


def test_a_file_that_is_not_a_notebook_is_named_in_one_line(tmp_path):
    path = tmp_path / "99-junk.ipynb"
    path.write_text("not json")
    with pytest.raises(deck_index.DeckIndexError, match=r"^99-junk.ipynb: not a readable notebook \("):
        deck_index.decks([path])


@pytest.mark.decks
def test_every_link_on_the_front_page_that_make_slides_wrote_leads_somewhere():
    index = SLIDES / "index.html"
    assert index.is_file(), "slides/index.html is missing: run `make slides`"
    for href in links(index.read_text()):
        if not href.startswith("../exercises/student/"):  # built by `make exercises`, as the page says
            assert (SLIDES / href).resolve().is_file(), href


def test_a_deck_whose_notebook_is_gone_leaves_with_its_handout(tmp_path):
    slides = tmp_path / "slides"
    slides.mkdir()
    for name in ("01-jax-numpy.html", "01-jax-numpy.pdf", "13-old-name.html", "13-old-name.pdf", "theme.css"):
        (slides / name).write_text("x")
    gone = deck_index.remove_orphans(slides, notebooks=[ROOT / "notebooks" / "01-jax-numpy.ipynb"])
    assert [p.name for p in gone] == ["13-old-name.html", "13-old-name.pdf"]
    assert sorted(p.name for p in slides.iterdir()) == ["01-jax-numpy.html", "01-jax-numpy.pdf", "theme.css"]


def test_notebooks_that_cannot_become_decks_are_named_one_line_each(tmp_path):
    import shutil

    import catalog

    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(ROOT / "notebooks" / "07-what-next.ipynb", folder)
    assert catalog.problems(folder) == []
    shutil.copy(ROOT / "notebooks" / "07-what-next.ipynb", folder / "13 next.ipynb")
    shutil.copy(ROOT / "notebooks" / "07-what-next.ipynb", folder / "What-Next.ipynb")
    (folder / "14-empty.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    (folder / "15-broken.ipynb").write_text('{"cells": [')
    lines = catalog.problems(folder)
    assert lines[0].startswith("notebooks/13 next.ipynb: a notebook's name is two digits and words joined by hyphens")
    assert lines[1].startswith("notebooks/What-Next.ipynb: a notebook's name")
    assert lines[2].startswith("14-empty.ipynb has no slides: a lecture notebook starts with its front matter")
    assert lines[3].startswith("15-broken.ipynb: not a readable notebook (")
    assert len(lines) == 4 and all("\n" not in line for line in lines)


def test_the_lectures_notebooks_pass_the_check_make_slides_runs():
    import subprocess
    import sys

    check = subprocess.run([sys.executable, ROOT / "tools" / "catalog.py", "--check"], capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout == check.stderr == ""


@pytest.mark.decks
def test_the_front_page_meets_wcag_2_1_aa(browser):
    from test_slides import axe_violations

    page = browser.new_page()
    try:
        page.goto((SLIDES / "index.html").as_uri())
        assert axe_violations(page, whole=True) == []
    finally:
        page.close()
