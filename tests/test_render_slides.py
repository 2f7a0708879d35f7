"""The fallback renderer: its errors (one line that says what to do, never a traceback)
and the fonts its decks embed."""

import re

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

import render_slides
from helpers import ROOT


def notebook_with_png(png):
    cell = new_code_cell("plt.show()", outputs=[new_output("display_data", data={"image/png": png})])
    return new_notebook(cells=[cell])


def test_a_stored_png_that_is_not_base64_is_named():
    with pytest.raises(render_slides.RenderError, match="cell 0 stores a PNG that is not valid base64"):
        render_slides.notebook_markdown(notebook_with_png("not base64!"), "broken.ipynb")


def test_an_error_without_error_true_stops_the_render():
    cell = new_code_cell("1 / 0", outputs=[new_output("error", ename="ZeroDivisionError", evalue="x", traceback=[])])
    with pytest.raises(render_slides.RenderError, match="has no `#| error: true`"):
        render_slides.notebook_markdown(new_notebook(cells=[cell]), "raises.ipynb")


@pytest.mark.parametrize("text", ["not json", '{"nbformat": 3, "worksheets": []}', '{"nbformat": 4}'])
def test_a_file_that_is_not_a_notebook_is_named_in_one_line(tmp_path, text):
    path = tmp_path / "99-junk.ipynb"
    path.write_text(text)
    with pytest.raises(render_slides.RenderError, match=r"^99-junk.ipynb: not a readable notebook \("):
        render_slides.read_notebook(path)


@pytest.mark.decks
def test_a_deck_embeds_each_font_once_as_woff(tmp_path, monkeypatch):
    """reveal.js's theme names each font as EOT, WOFF and TTF; the fallback's decks embed
    the WOFF alone (render_slides.woff_only), each font face once. (A deck rendered here:
    slides/ may hold Quarto's.)"""
    monkeypatch.setattr(render_slides, "SLIDES", tmp_path)
    deck, _ = render_slides.render(ROOT / "notebooks" / "07-what-next.ipynb")
    text = deck.read_text()
    assert "data:application/vnd.ms-fontobject" not in text and "data:font/ttf" not in text
    faces = re.findall(r"@font-face\s*\{[^}]*\}", text)
    assert faces, "the deck embeds no font"
    assert all(len(re.findall(r"url\(data:font/woff;base64,", face)) == 1 for face in faces), faces


def test_a_font_rule_keeps_its_woff_only_and_one_without_a_woff_stays():
    rule = """@font-face {
    font-family: 'Source Sans Pro';
    src: url('./a.eot');
    src: url('./a.eot?#iefix') format('embedded-opentype'),
         url('./a.woff') format('woff'),
         url('./a.ttf') format('truetype');
    font-weight: normal;
}"""
    kept = render_slides.woff_only(rule + "\n.x { color: red }")
    assert kept.count("src:") == 1 and "url('./a.woff') format('woff')" in kept
    assert ".eot" not in kept and ".ttf" not in kept and "font-weight: normal;" in kept and ".x { color: red }" in kept
    no_woff = "@font-face { font-family: 'X'; src: url('./x.ttf') format('truetype'); }"
    assert render_slides.woff_only(no_woff) == no_woff


@pytest.mark.decks
def test_make_slides_rebuilds_only_the_deck_whose_notebook_changed():
    """make's dry run with 03 taken as changed (-W: nothing is touched): that deck and the
    front page, no other deck."""
    import shutil
    import subprocess

    plan = subprocess.run([shutil.which("make"), "--no-print-directory", "-n", "-W",
                           "notebooks/03-performance-jit.ipynb", "decks"], cwd=ROOT, capture_output=True, text=True)
    assert plan.returncode == 0, plan.stderr
    renders = [line for line in plan.stdout.splitlines() if "render_slides.py" in line or "deck_index.py" in line]
    assert renders == [".venv/bin/python tools/render_slides.py notebooks/03-performance-jit.ipynb",
                       ".venv/bin/python tools/deck_index.py"], plan.stdout
