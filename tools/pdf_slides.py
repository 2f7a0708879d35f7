"""`make pdf`: PDF handouts of the decks, one page per slide, from reveal.js's
print view in headless Chromium (offline). With --notes (`make pdf NOTES=1`), the
instructor's copy instead: each slide followed by a page of its speaker notes
(reveal.js's showNotes), written beside the handout as NN-name.notes.pdf.

    python tools/pdf_slides.py [--notes] [DECK.html ...]     (default: every deck in slides/)
"""

import sys
from pathlib import Path

from browser import chromium  # beside this script
from deck_index import write_index
from lecture.tooling import ROOT, replacing

SLIDES = ROOT / "slides"


def main(argv=None):
    argv = list(argv or [])
    notes = "--notes" in argv
    argv = [a for a in argv if a != "--notes"]
    decks = [Path(a).resolve() for a in argv] or sorted(
        p for p in SLIDES.glob("[0-9]*.html"))
    if not decks:
        sys.exit("make pdf: no decks in slides/: run `make slides` first")
    try:
        with chromium() as browser:
            page = browser.new_page()
            for deck in decks:
                page.goto(deck.as_uri() + "?print-pdf&pdfSeparateFragments=false"
                          + ("&showNotes=separate-page" if notes else ""))
                page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=15000)
                page.wait_for_timeout(300)
                target = deck.with_suffix(".notes.pdf" if notes else ".pdf")
                # The page is reveal.js's print page: the deck's slide size (_quarto.yml) and its margin.
                page.wait_for_function("() => document.querySelector('.reveal .slides .pdf-page')", timeout=15000)
                size = page.evaluate("""() => { const p = document.querySelector('.reveal .slides .pdf-page');
                                                return {width: p.offsetWidth, height: p.offsetHeight}; }""")
                # reveal.js marks every slide but the current one aria-hidden, which a tagged PDF
                # honours: in the print view all are shown, so all are unhidden for the tags.
                page.evaluate("document.querySelectorAll('.reveal [aria-hidden]').forEach(e => e.removeAttribute('aria-hidden'))")
                with replacing(target) as partial:
                    # Tagged (a structure tree, the language, figures' alt text) and with an outline,
                    # for screen readers and the accessibility checks universities run on handouts.
                    page.pdf(path=str(partial), width=f"{size['width']}px", height=f"{size['height']}px",
                             print_background=True, tagged=True, outline=True)
                print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    except RuntimeError as e:
        sys.exit(f"make pdf: {e}")
    if not argv and not notes:  # the front page links the handouts now there
        print(f"wrote {write_index().relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
