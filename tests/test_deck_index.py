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
    with pytest.raises(deck_index.DeckIndexError, match="99-junk.ipynb is not a readable notebook"):
        deck_index.decks([path])


@pytest.mark.decks
def test_every_link_on_the_front_page_that_make_slides_wrote_leads_somewhere():
    index = SLIDES / "index.html"
    assert index.is_file(), "slides/index.html is missing: run `make slides`"
    for href in links(index.read_text()):
        if not href.startswith("../exercises/student/"):  # built by `make exercises`, as the page says
            assert (SLIDES / href).resolve().is_file(), href
