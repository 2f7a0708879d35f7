"""slides/index.html, the lecture's front page: the decks in lecture order, each
with its PDF handout (where `make pdf` wrote one) and its notebook, the exercises,
and what "Beyond the slides" means. Both renderers need it: `make slides` writes
it after Quarto or the pandoc fallback made the decks, `make pdf` after the PDFs.

    python tools/deck_index.py
"""

import html
import sys

import catalog
from catalog import BEYOND
from exercises import exercise_names  # their names; `make exercises` builds exercises/student/
from lecture.tooling import ROOT, write_text_atomically
# A notebook that cannot be read stops the index as it stops the decks, in one line.
from render_slides import RenderError as DeckIndexError

SLIDES = ROOT / "slides"


def decks(notebooks=None):
    """One entry per notebook, in lecture order (catalog.Notebook: stem, title, subtitle,
    and whether it goes beyond the lecture)."""
    return catalog.notebooks() if notebooks is None else [catalog.notebook(path) for path in notebooks]


def _deck_item(deck):
    e = html.escape
    stem = deck.stem
    links = [f'<a href="../notebooks/{e(stem)}.ipynb">notebook</a>']
    if (SLIDES / f"{stem}.pdf").is_file():
        links.insert(0, f'<a href="{e(stem)}.pdf">PDF</a>')
    subtitle = deck.subtitle.removeprefix(BEYOND + ":").strip()
    subtitle = subtitle[:1].upper() + subtitle[1:]
    return (f'    <li><a class="deck" href="{e(stem)}.html">{e(deck.title)}</a>'
            f'<span class="sub">{e(subtitle)}</span><span class="links">{" · ".join(links)}</span></li>')


def page(entries, exercises):
    lecture = "\n".join(_deck_item(d) for d in entries if not d.beyond)
    beyond = "\n".join(_deck_item(d) for d in entries if d.beyond)
    titles = {d.stem[:2]: d.title for d in entries}
    built = (ROOT / "exercises" / "student").is_dir()
    items = "\n".join(
        f'    <li><a href="../exercises/student/{html.escape(x)}.ipynb">{html.escape(x)}</a>'
        f'<span class="sub">on {html.escape(titles.get(x[:2], x))}</span></li>' for x in exercises)
    pdf_note = "" if any((SLIDES / f"{d.stem}.pdf").is_file() for d in entries) else \
        '<p class="note">PDF handouts, one page per slide: <code>make pdf</code>.</p>'
    exercise_note = "" if built else \
        '<p class="note">The student notebooks are built by <code>make exercises</code>.</p>'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>JAX - Sta 663, Lecture 25</title>
  <style>
    body {{ font-family: system-ui, sans-serif; max-width: 46em; margin: 3em auto; padding: 0 1em; color: #222; line-height: 1.45; }}
    h1 {{ color: #1c3f73; margin-bottom: .2em; }} h2 {{ color: #1c3f73; margin-top: 1.6em; }}
    li {{ margin: .7em 0; }} a {{ color: #1a5fb4; }} a.deck {{ font-weight: 600; }}
    .sub {{ display: block; color: #555; }} .links {{ display: block; font-size: .9em; }}
    .note {{ color: #555; font-size: .95em; }}
    .badge {{ font-size: .8em; font-weight: 600; color: #7a4d00; background: #fff3d6; border: 1px solid #efc46b;
              border-radius: .3em; padding: .05em .45em; }}
  </style>
</head>
<body>
  <h1>JAX</h1>
  <p>Sta 663, Lecture 25, after Dr. Colin Rundel's slides: reveal.js decks rendered from
  the notebooks' stored outputs. Each notebook runs offline in JupyterLab (<code>make lab</code>).</p>
  {pdf_note}
  <h2>The lecture</h2>
  <ol>
{lecture}
  </ol>
  <h2>Beyond the slides</h2>
  <p>The lecture is from 2023. What goes past it, on its own data and code, is marked
  <span class="badge">{BEYOND}</span> beside the title of every slide it adds, so that an
  instructor always knows which slides are the original lecture: the decks below, and such
  slides inside the lecture's own decks.</p>
  <ol start="{sum(not d.beyond for d in entries) + 1}">
{beyond}
  </ol>
  <h2>Exercises</h2>
  <p>One notebook per section, graded with otter: checks that say plainly what fails.</p>
  {exercise_note}
  <ul>
{items}
  </ul>
</body>
</html>
"""


def write_index(notebooks=None):
    """Write slides/index.html whole or not at all; return its path."""
    target = SLIDES / "index.html"
    write_text_atomically(target, page(decks(notebooks), exercise_names()))
    return target


def remove_orphans(slides=SLIDES, notebooks=None):
    """Decks and handouts whose notebook is gone (renamed or removed) taken out of `slides`:
    the front page lists the notebooks, and a stale deck would outlive its lecture. Returns them."""
    stems = {n.stem for n in decks(notebooks)}
    gone = [p for p in sorted(slides.glob("[0-9]*.html")) + sorted(slides.glob("[0-9]*.pdf"))
            if p.name.split(".")[0] not in stems]  # 01-jax-numpy.pdf and 01-jax-numpy.notes.pdf
    for path in gone:
        path.unlink()
    return gone


def main():
    try:
        gone = remove_orphans()
        target = write_index()
    except DeckIndexError as e:
        sys.exit(f"make slides: {e}")
    for path in gone:
        print(f"removed {path.relative_to(ROOT)} (its notebook is gone)")
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
