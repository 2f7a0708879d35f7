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

import catalog
from lecture import FIGURE_DPI, FIGURE_FONT_PT
from helpers import MACHINE_ONLY, NOTEBOOKS, ROOT, headings, read
from render_slides import revealjs_options

pytestmark = pytest.mark.decks  # every test here reads the rendered decks
LECTURE = {n.stem for n in catalog.lecture()}  # their slides carry speaker notes
AXE = ROOT / "slides" / "node_modules" / "axe-core" / "axe.min.js"  # from npm (slides/package-lock.json)
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]  # WCAG 2.0 and 2.1, levels A and AA
AXE_RUN = """async (whole) => (await axe.run(whole ? document : Reveal.getCurrentSlide(),
    {runOnly: {type: 'tag', values: %s}, resultTypes: ['violations']})).violations
    .map(v => `${v.id}: ${v.nodes.slice(0, 2).map(n => n.target.join(' ')).join(', ')}`)""" % WCAG_AA


def axe_violations(page, whole=False):
    """axe-core's WCAG 2.0/2.1 A and AA violations on the page (whole) or the current slide,
    injected from the local file: nothing is fetched."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(AXE_RUN, whole)
SLIDES = ROOT / "slides"
SHOTS = ROOT / "tests" / "screenshots"
MACHINERY = ["#|", "nbval", "raises-exception", "from lecture import", "setup()", "NBVAL"]



def expected_slides(nb):
    """The title slide, plus one slide per `#` or `##` heading of the notebook's markdown."""
    return 1 + len(headings(nb))


# The legibility standard (slides/theme.css): every line of text at least this
# fraction of the slide's height as shown (18 px on the 720 px slide).
MIN_TEXT = 0.025

# What a person sees on a slide (`root`: the current slide, or one page of the
# print view) that is wrong. Runs on Quarto's decks and the fallback's alike: it
# looks at rendered boxes, not at either's markup, and measures every block as
# rendered (nothing is set to wrap before it is measured).
PROBE_JS = """(root) => {
  const H = Reveal.getConfig().height, W = Reveal.getConfig().width;
  const printing = document.documentElement.classList.contains('reveal-print');
  // On screen the slide is the frame; in the print view, the page (the slide and its margin).
  const frameH = printing ? root.clientHeight : H, frameW = printing ? root.clientWidth : W;
  const bad = [];
  if (root.scrollHeight > frameH + 2) bad.push(`content is ${root.scrollHeight}px tall, the ${printing ? 'page' : 'slide'} ${frameH}px`);
  if (root.scrollWidth > frameW + 2) bad.push(`content is ${root.scrollWidth}px wide, the ${printing ? 'page' : 'slide'} ${frameW}px`);
  for (const col of root.querySelectorAll('div.column')) {
    if (col.scrollWidth > col.clientWidth + 2) bad.push('a column scrolls sideways');
  }
  const shown = e => {
    const r = e.getBoundingClientRect(), st = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && st.visibility !== 'hidden' && st.display !== 'none'
      && parseFloat(st.opacity) > 0 && !e.closest('aside.notes');
  };
  const label = e => `${e.tagName.toLowerCase()}${e.className ? '.' + String(e.className).trim().split(/\\s+/).join('.') : ''}`
    + ` "${(e.innerText || e.alt || '').trim().slice(0, 40)}"`;

  // Every block of code, output or error as rendered: no line wider than its box
  // (an error wraps between words, as its style says), nothing cut, nothing scrolling.
  for (const pre of [...root.querySelectorAll('pre')].filter(shown)) {
    for (const b of [pre, ...pre.querySelectorAll(':scope > code')]) {
      if (b.scrollWidth > b.clientWidth + 1) { bad.push(`a line is ${b.scrollWidth}px wide in a ${b.clientWidth}px box: ${label(pre)}`); break; }
      if (b.scrollHeight > b.clientHeight + 1) { bad.push(`a block is cut: ${b.scrollHeight}px of text in ${b.clientHeight}px: ${label(pre)}`); break; }
    }
  }

  // Every line of text at least MIN_TEXT of the slide's height as shown: text
  // in the slide is measured in the slide's own pixels, the deck's chrome (footer,
  // slide number) in the window's, against the slide's height there.
  const slideHeight = H * (printing ? 1 : Reveal.getScale());
  const chrome = [...document.querySelectorAll('.reveal > .footer, .reveal > .slide-number')].filter(shown);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const small = new Set();
  const measure = (e, height, pseudo = null) => {
    const px = parseFloat(getComputedStyle(e, pseudo).fontSize);
    if (px / height < __MIN_TEXT__ - 1e-6) small.add(`${label(e)}${pseudo || ""} is ${px.toFixed(1)}px, ${(100 * px / height).toFixed(2)}% of the slide`);
  };
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.textContent.trim() && shown(n.parentElement)) measure(n.parentElement, H);
  }
  for (const e of root.querySelectorAll('section.beyond > h2')) measure(e, H, '::after');  // the badge
  if (!printing) chrome.forEach(e => measure(e, slideHeight));
  bad.push(...small);

  // An error is shown once: no line of an error block appears twice on the slide.
  const text = root.innerText;
  for (const err of [...root.querySelectorAll('.cell-output-error')].filter(shown)) {
    const first = err.innerText.trim().split('\\n')[0];
    if (first && text.split(first).length > 2) bad.push(`an error is shown twice: "${first.slice(0, 60)}"`);
  }

  // No two visible blocks overlap: headings, text, lists, code, figures, tables,
  // asides, the deck's footer and slide number, and any control reveal.js draws.
  const BLOCKS = 'h1, h2, h3, p, ul, ol, blockquote, pre, img, table, figure, aside, .aside, .slide-number-pdf';
  const found = [...root.querySelectorAll(BLOCKS), ...chrome,
                 ...document.querySelectorAll('.reveal .controls button.enabled')].filter(shown);
  const blocks = found.filter(e => !found.some(o => o !== e && o.contains(e)));
  const boxes = blocks.map(e => e.getBoundingClientRect());
  for (let i = 0; i < blocks.length; i++) for (let j = i + 1; j < blocks.length; j++) {
    const a = boxes[i], b = boxes[j];
    const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (x > 2 && y > 2) bad.push(`${label(blocks[i])} overlaps ${label(blocks[j])}`);
  }
  return bad;
}""".replace("__MIN_TEXT__", str(MIN_TEXT))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_deck(browser, notebook):
    deck = SLIDES / f"{notebook.stem}.html"
    assert deck.is_file(), f"{deck.name} is missing: run `make slides`"
    assert deck.stat().st_mtime >= notebook.stat().st_mtime, f"{deck.name} is older than its notebook: run `make slides`"

    page = browser.new_page()
    try:
        check_deck(page, deck, notebook)
        check_print_view(page, deck, notebook)
    finally:
        page.close()


def open_deck(page, url):
    page.goto(url)
    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=15000)


def check_deck(page, deck, notebook):
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
    open_deck(page, deck.as_uri())
    # A full screen of the deck's own shape, as on a projector: the slide fills
    # it, and the slide number sits in the slide's corner.
    page.set_viewport_size(page.evaluate("(({width, height}) => ({width, height}))(Reveal.getConfig())"))
    page.evaluate("Reveal.layout()")

    nb = read(notebook)
    lecture = notebook.stem in LECTURE
    total = page.evaluate("Reveal.getTotalSlides()")
    assert total == expected_slides(nb)

    # Every `{.beyond}` heading reached its slide, which shows the badge.
    badges = page.evaluate("""() => [...document.querySelectorAll('.reveal .slides section.beyond > h2')]
        .map(h => getComputedStyle(h, '::after').content)""")
    assert badges == ['"Beyond the slides"'] * sum(bool(re.search(r"\{[^}]*\.beyond\b", h)) for h in headings(nb))

    text = page.inner_text(".reveal .slides")
    for marker in MACHINERY:
        assert marker not in text, f"{marker!r} is visible on a slide"
    everything = page.evaluate("document.querySelector('.reveal .slides').textContent")  # hidden slides too
    assert not MACHINE_ONLY.search(everything), f"a deck shows {MACHINE_ONLY.search(everything)[0]!r}"

    images = page.evaluate("""() => [...document.querySelectorAll('.reveal .slides img')].map(i => {
        const s = i.closest('section'), x = Reveal.getIndices(s); Reveal.slide(x.h, x.v);
        s.querySelectorAll('.fragment').forEach(f => f.classList.add('visible'));
        return {src: i.src.slice(0, 30), ok: i.complete && i.naturalWidth > 0, alt: i.alt || '',
                scale: i.getBoundingClientRect().width / Reveal.getScale() / i.naturalWidth}; })""")
    page.evaluate("Reveal.slide(0, 0)")
    assert all(i["ok"] for i in images), images
    # Figure text: the shared setup's size (FIGURE_FONT_PT at FIGURE_DPI; no cell sets a smaller
    # one: tests/test_notebooks.py) as the figure is shown, against the same 2.5% of the slide.
    figure_text, least = FIGURE_FONT_PT * FIGURE_DPI / 72, MIN_TEXT * page.evaluate("Reveal.getConfig().height")
    small = [(i["src"], round(figure_text * i["scale"], 1)) for i in images if figure_text * i["scale"] < least]
    assert not small, f"figures whose text is shown under {least:g} px: {small}"
    described = [i["alt"] for i in images if len(i["alt"].split()) >= 8]
    assert len(described) == len(images), f"a figure without its description (alt text): {images}"
    assert axe_violations(page, whole=True) == [], "axe (WCAG 2.1 AA) on the whole deck"
    figures = sum("image/png" in o.get("data", {}) for c in nb.cells
                  if c.cell_type == "code" for o in c.get("outputs", []))
    assert len(images) == figures

    SHOTS.mkdir(exist_ok=True)
    problems_by_slide, titles, chrome = {}, set(), []
    footer = str(revealjs_options().get("footer", ""))
    for index in range(total):
        page.evaluate(f"(() => {{ const i = Reveal.getIndices(Reveal.getSlides()[{index}]); Reveal.slide(i.h, i.v); }})()")
        page.evaluate("Reveal.getCurrentSlide().querySelectorAll('.fragment').forEach(f => f.classList.add('visible'))")
        # Wait for the event, not a time: every fragment shown whole (reveal.js fades them in).
        # Nothing that stays hidden is then measured as absent.
        page.wait_for_function("""() => [...Reveal.getCurrentSlide().querySelectorAll('.fragment')]
            .every(f => parseFloat(getComputedStyle(f).opacity) === 1)""", timeout=30000)
        problems = page.evaluate(f"() => ({PROBE_JS})(Reveal.getCurrentSlide())")
        # Speaker notes: in the speaker view (reveal.js's notes of the slide) on every slide of
        # the lecture but its title slide, and never on the slide itself.
        notes, notes_shown = page.evaluate("""() => [Reveal.getSlideNotes() || '',
            [...Reveal.getCurrentSlide().querySelectorAll('.notes')].some(n => getComputedStyle(n).display !== 'none'
              && n.getBoundingClientRect().height > 0)]""")
        if lecture and index > 0 and len(notes.split()) < 20:
            problems.append(f"no speaker notes (a paragraph) for the speaker view: {notes!r}")
        if notes_shown:
            problems.append("speaker notes show on the slide")
        problems += [f"axe (WCAG 2.1 AA): {v}" for v in axe_violations(page)]
        # The course's chrome: "n / total" and the footer line of _quarto.yml on every slide.
        number, shown_footer = page.evaluate("""() => [
            document.querySelector('.reveal .slide-number')?.innerText.trim() ?? '',
            [...document.querySelectorAll('.reveal > .footer')].filter(f => getComputedStyle(f).display !== 'none')
              .map(f => f.innerText.trim()).join('|')]""")
        if not re.fullmatch(rf"{index + 1}\s*/\s*{total}", number):
            problems.append(f"the slide number reads {number!r}, not '{index + 1} / {total}'")
        if footer and shown_footer != footer:
            problems.append(f"the footer reads {shown_footer!r}, not {footer!r}")
        titles.update(page.evaluate("""() => [...Reveal.getCurrentSlide().querySelectorAll(':scope > h2')]
            .map(h => getComputedStyle(h).fontSize)"""))
        if problems:
            problems_by_slide[index + 1] = problems
        if index in (0, 2, 4, total - 1) or problems:
            page.screenshot(path=str(SHOTS / f"{notebook.stem}-{index + 1:02d}.png"))
    assert not problems_by_slide, f"slides with problems: {problems_by_slide}"
    assert len(titles) <= 1, f"slide titles come in several sizes: {sorted(titles)}"

    assert not errors, errors
    assert not requests, f"network requests: {requests}"


def check_print_view(page, deck, notebook):
    """The PDF handout's layout (reveal.js's print view, as `make pdf` prints it):
    one page per slide, and every page passes the slide's checks."""
    page.emulate_media(media="print")
    try:
        open_deck(page, deck.as_uri() + "?print-pdf&pdfSeparateFragments=false")
        page.wait_for_function("() => document.querySelectorAll('.reveal .slides .pdf-page').length > 0", timeout=15000)
        pages = page.evaluate(f"""() => [...document.querySelectorAll('.reveal .slides .pdf-page')].map(
            p => ({PROBE_JS})(p))""")
    finally:
        page.emulate_media(media="screen")
    assert len(pages) == expected_slides(read(notebook)), "the handout has not one page per slide"
    problems = {i + 1: bad for i, bad in enumerate(pages) if bad}
    if problems:
        for i in problems:
            page.evaluate(f"document.querySelectorAll('.reveal .slides .pdf-page')[{i - 1}].scrollIntoView()")
            page.screenshot(path=str(SHOTS / f"{notebook.stem}-print-{i:02d}.png"))
    assert not problems, f"handout pages with problems: {problems}"


def test_the_instructors_pdf_adds_the_notes_and_the_handout_leaves_them_out(browser, tmp_path):
    """make pdf NOTES=1: each slide followed by a page of its notes (reveal.js's showNotes),
    beside the handout, which make pdf writes without them."""
    notebook = ROOT / "notebooks" / "07-what-next.ipynb"
    deck = Path(shutil.copy(SLIDES / f"{notebook.stem}.html", tmp_path))
    subprocess.run([sys.executable, ROOT / "tools" / "pdf_slides.py", "--notes", deck], check=True, capture_output=True)
    pages = len(re.findall(rb"/Type\s*/Page\b", deck.with_suffix(".notes.pdf").read_bytes()))
    assert pages == 2 * expected_slides(read(notebook))  # reveal.js gives every slide its notes page
    assert not deck.with_suffix(".pdf").exists()


def test_pdf_handout_has_a_page_per_slide(browser, tmp_path):
    notebook = ROOT / "notebooks" / "07-what-next.ipynb"
    built = SLIDES / f"{notebook.stem}.html"
    assert built.is_file(), f"{built.name} is missing: run `make slides`"
    deck = Path(shutil.copy(built, tmp_path))  # self-contained: the PDF is written beside the copy
    subprocess.run([sys.executable, ROOT / "tools" / "pdf_slides.py", deck], check=True, capture_output=True)
    pdf = deck.with_suffix(".pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    # Tagged: a structure tree, the language, the title and an outline; figures with alt text.
    assert b"/StructTreeRoot" in pdf and b"/MarkInfo" in pdf and b"/Outlines" in pdf
    assert re.search(rb"/Lang\s*\(en\)", pdf) and re.search(rb"/Title\s*\(What next\?\)", pdf)
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == expected_slides(read(notebook))


def test_a_handouts_figures_carry_their_alt_text(browser, tmp_path):
    """The tagged PDF's figures are /Figure elements with /Alt: each figure's `#| fig-alt:`."""
    notebook = ROOT / "notebooks" / "04-autograd-vmap.ipynb"
    deck = Path(shutil.copy(SLIDES / f"{notebook.stem}.html", tmp_path))
    subprocess.run([sys.executable, ROOT / "tools" / "pdf_slides.py", deck], check=True, capture_output=True)
    pdf = deck.with_suffix(".pdf").read_bytes()
    alts = [a.replace(rb"\(", b"(").replace(rb"\)", b")").decode() for a in re.findall(rb"/Alt\s*\(((?:[^)\\]|\\.)*)\)", pdf)]
    wanted = [re.search(r'^#\| fig-alt: "(.*)"$', c.source, re.M).group(1) for c in read(notebook).cells
              if c.cell_type == "code" and any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert len(re.findall(rb"/S\s*/Figure\b", pdf)) == len(wanted) == len(alts)
    assert alts == wanted


def test_the_speaker_view_shows_each_slides_notes(browser):
    """reveal.js's speaker view (S), opened from a lecture deck as an instructor opens it:
    it shows the current slide's notes, and follows the deck to the next slide's."""
    notebook = ROOT / "notebooks" / "02-prng.ipynb"
    page = browser.new_page()
    try:
        open_deck(page, (SLIDES / f"{notebook.stem}.html").as_uri())
        page.evaluate("(() => { const i = Reveal.getIndices(Reveal.getSlides()[2]); Reveal.slide(i.h, i.v); })()")
        notes_text = "Reveal.getCurrentSlide().querySelector('aside.notes').textContent"
        expected = [page.evaluate(notes_text)]
        with page.expect_popup() as popup_info:
            page.keyboard.press("s")
        speaker = popup_info.value
        shown = ".speaker-controls-notes .value"
        speaker.wait_for_function(f"() => (document.querySelector('{shown}')?.innerText || '').trim().length > 0",
                                  timeout=30000)
        assert " ".join(speaker.inner_text(shown).split()) == " ".join(expected[0].split())
        page.evaluate("Reveal.next()")
        while page.evaluate("Reveal.getCurrentSlide().querySelectorAll('.fragment:not(.visible)').length"):
            page.evaluate("Reveal.next()")
        expected.append(page.evaluate(notes_text))
        speaker.wait_for_function(f"""(want) => (document.querySelector('{shown}')?.innerText || '')
            .split(/\\s+/).join(' ').trim() === want""", arg=" ".join(expected[1].split()), timeout=30000)
        assert expected[0] != expected[1]
    finally:
        page.close()
