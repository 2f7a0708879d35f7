"""The decks in a real browser: headless Chromium, driven by Playwright.

`make slides` writes the decks; this test opens each one from the file system
and checks what an instructor relies on: reveal.js starts, every slide of the
notebook is there, nothing errors or reaches for the network, every figure
loads, none of our machinery shows, and nothing overflows a slide. It saves a
few screenshots per deck under tests/screenshots/ for a person to look at.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import NOTEBOOKS, ROOT, headings, read

SLIDES = ROOT / "slides"
SHOTS = ROOT / "tests" / "screenshots"
MACHINERY = ["#|", "nbval", "raises-exception", "from lecture import", "setup()", "NBVAL"]



def expected_slides(nb):
    """The title slide, plus one slide per `#` or `##` heading of the notebook's markdown."""
    return 1 + len(headings(nb))


# What a person sees on the current slide that is wrong. Runs on Quarto's decks
# and the fallback's alike: it looks at rendered boxes, not at either's markup.
LAYOUT_JS = """() => {
  const H = Reveal.getConfig().height, W = Reveal.getConfig().width;
  const s = Reveal.getCurrentSlide();
  const bad = [];
  if (s.scrollHeight > H + 2) bad.push(`content is ${s.scrollHeight}px tall, the slide ${H}px`);
  if (s.scrollWidth > W + 2) bad.push(`content is ${s.scrollWidth}px wide, the slide ${W}px`);
  for (const col of s.querySelectorAll('div.column')) {
    if (col.scrollWidth > col.clientWidth + 2) bad.push('a column scrolls sideways');
  }

  const shown = e => {
    const r = e.getBoundingClientRect(), st = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && st.visibility !== 'hidden' && st.display !== 'none'
      && parseFloat(st.opacity) > 0;
  };
  const label = e => `${e.tagName.toLowerCase()}${e.className ? '.' + String(e.className).trim().split(/\\s+/).join('.') : ''}`
    + ` "${(e.innerText || e.alt || '').trim().slice(0, 40)}"`;

  // Code and output: every line fits its box, so none wraps, is cut or scrolls
  // sideways. An error message is prose: it may wrap, but only between words.
  for (const pre of [...s.querySelectorAll('pre')].filter(shown)) {
    const prose = !!pre.closest('.cell-output-error');
    const boxes = [pre, ...pre.querySelectorAll(':scope > code')];
    const saved = boxes.map(b => [b.style.whiteSpace, b.style.overflowWrap, b.style.wordBreak]);
    boxes.forEach(b => { b.style.whiteSpace = prose ? 'pre-wrap' : 'pre';
                         b.style.overflowWrap = 'normal'; b.style.wordBreak = 'normal'; });
    const wide = boxes.find(b => b.scrollWidth > b.clientWidth + 1);
    if (wide) bad.push(`a line is ${wide.scrollWidth}px wide in a ${wide.clientWidth}px box: ${label(pre)}`);
    boxes.forEach((b, i) => { [b.style.whiteSpace, b.style.overflowWrap, b.style.wordBreak] = saved[i]; });
    const tall = boxes.find(b => b.scrollHeight > b.clientHeight + 1);
    if (tall) bad.push(`a block is cut: ${tall.scrollHeight}px of text in ${tall.clientHeight}px: ${label(pre)}`);
  }

  // No two visible blocks overlap: headings, text, lists, code, figures, tables,
  // asides, and the deck's footer and slide number.
  const BLOCKS = 'h1, h2, h3, p, ul, ol, blockquote, pre, img, table, figure, aside, .aside';
  const found = [...s.querySelectorAll(BLOCKS),
                 ...document.querySelectorAll('.reveal .footer, .reveal .slide-number')].filter(shown);
  const blocks = found.filter(e => !found.some(o => o !== e && o.contains(e)));
  const boxes = blocks.map(e => e.getBoundingClientRect());
  for (let i = 0; i < blocks.length; i++) for (let j = i + 1; j < blocks.length; j++) {
    const a = boxes[i], b = boxes[j];
    const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (x > 2 && y > 2) bad.push(`${label(blocks[i])} overlaps ${label(blocks[j])}`);
  }
  return bad;
}"""


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_deck(browser, notebook):
    deck = SLIDES / f"{notebook.stem}.html"
    assert deck.is_file(), f"{deck.name} is missing: run `make slides`"
    assert deck.stat().st_mtime >= notebook.stat().st_mtime, f"{deck.name} is older than its notebook: run `make slides`"

    page = browser.new_page()
    try:
        check_deck(page, deck, notebook)
    finally:
        page.close()


def check_deck(page, deck, notebook):
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
    page.goto(deck.as_uri())
    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=15000)
    # A full screen of the deck's own shape, as on a projector: the slide fills
    # it, and the slide number sits in the slide's corner.
    page.set_viewport_size(page.evaluate("(({width, height}) => ({width, height}))(Reveal.getConfig())"))
    page.evaluate("Reveal.layout()")

    nb = read(notebook)
    total = page.evaluate("Reveal.getTotalSlides()")
    assert total == expected_slides(nb)

    # Every `{.beyond}` heading reached its slide, which shows the badge.
    badges = page.evaluate("""() => [...document.querySelectorAll('.reveal .slides section.beyond > h2')]
        .map(h => getComputedStyle(h, '::after').content)""")
    assert badges == ['"Beyond the slides"'] * sum(bool(re.search(r"\{[^}]*\.beyond\b", h)) for h in headings(nb))

    text = page.inner_text(".reveal .slides")
    for marker in MACHINERY:
        assert marker not in text, f"{marker!r} is visible on a slide"

    images = page.evaluate("""() => [...document.querySelectorAll('.reveal .slides img')].map(
        i => ({src: i.src.slice(0, 30), ok: i.complete && i.naturalWidth > 0}))""")
    assert all(i["ok"] for i in images), images
    figures = sum("image/png" in o.get("data", {}) for c in nb.cells
                  if c.cell_type == "code" for o in c.get("outputs", []))
    assert len(images) == figures

    SHOTS.mkdir(exist_ok=True)
    overflow = {}
    for index in range(total):
        page.evaluate(f"(() => {{ const i = Reveal.getIndices(Reveal.getSlides()[{index}]); Reveal.slide(i.h, i.v); }})()")
        page.evaluate("Reveal.getCurrentSlide().querySelectorAll('.fragment').forEach(f => f.classList.add('visible'))")
        page.wait_for_timeout(50)
        if problems := page.evaluate(LAYOUT_JS):
            overflow[index + 1] = problems
        if index in (0, 2, 4, total - 1) or problems:
            page.screenshot(path=str(SHOTS / f"{notebook.stem}-{index + 1:02d}.png"))
    assert not overflow, f"slides with layout problems: {overflow}"

    assert not errors, errors
    assert not requests, f"network requests: {requests}"


def test_pdf_handout_has_a_page_per_slide(browser, tmp_path):
    notebook = ROOT / "notebooks" / "07-what-next.ipynb"
    built = SLIDES / f"{notebook.stem}.html"
    assert built.is_file(), f"{built.name} is missing: run `make slides`"
    deck = Path(shutil.copy(built, tmp_path))  # self-contained: the PDF is written beside the copy
    subprocess.run([sys.executable, ROOT / "tools" / "pdf_slides.py", deck], check=True, capture_output=True)
    pdf = deck.with_suffix(".pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == expected_slides(read(notebook))
