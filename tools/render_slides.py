"""`make slides` without Quarto: render notebooks/*.ipynb to self-contained
reveal.js decks in slides/, from their stored outputs (nothing is executed).

The notebooks are written for Quarto; this fallback honours the Quarto features
they use, so that both paths show the same slides:

* `#|` cell options `echo: false` (output only), `include: false` (nothing),
  `error: true` (the error is shown; an error without it stops the render);
  the `#|` lines themselves never reach a slide;
* the title slide from the notebook's front matter (its first, raw cell);
* `# Section` title slides and `## Slide` titles, `:::: {.columns}`, `. . .`
  fragments, `::: aside` and `{.smaller}` slides (the last two styled by
  slides/theme.css, which Quarto uses too).

The deck options (size, theme, CSS, slide numbers, highlighting ...) come from
`format: revealjs:` in _quarto.yml, the one slide configuration of the project.
Pandoc comes from the pypandoc-binary wheel and reveal.js from npm
(slides/package-lock.json); pandoc inlines everything (`--embed-resources`),
so a deck opens from the file system with no network. The theme's fonts are
inlined in the one format browsers read today (WOFF; see `woff_only`).

    python tools/render_slides.py [NOTEBOOK ...]
"""

import argparse
import base64
import binascii
import html
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import yaml

from lecture import tooling
from lecture.tooling import ROOT, write_text_atomically

SLIDES = ROOT / "slides"
REVEAL = SLIDES / "node_modules" / "reveal.js"
QUARTO_YML = ROOT / "_quarto.yml"
# _quarto.yml's revealjs options that are reveal.js settings, passed to pandoc's
# template as variables (kebab-case there, camelCase in reveal.js).
REVEAL_SETTINGS = ["theme", "slide-number", "transition", "navigation-mode", "hash", "center", "width", "height",
                   "margin", "controls", "controls-layout"]
# What Quarto sets where _quarto.yml is silent: controls only on touch screens (none here).
QUARTO_DEFAULTS = {"controls": False}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
OPTION = re.compile(r"^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$")
NOTEBOOK_LINK = re.compile(r"\]\((\d\d-[\w-]+)\.ipynb\)")


class RenderError(RuntimeError):
    pass


FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}")
WOFF = re.compile(r"""url\(\s*['"]?[^'")]+\.woff['"]?\s*\)\s*format\(\s*['"]woff['"]\s*\)""")


def woff_only(css):
    """`css` with each @font-face reading its WOFF file only. reveal.js's themes name
    every font three times (EOT for old Internet Explorer, WOFF and TTF); a browser
    loads one of them, WOFF everywhere a deck is shown today, but --embed-resources
    inlines all three: 2.3 MB more in every deck, and pandoc five times slower.
    A rule without a WOFF is left as it is."""
    def one(rule):
        woff = WOFF.findall(rule[0])
        if not woff:
            return rule[0]
        kept = re.sub(r"\s*src\s*:[^;}]*;?", "", rule[0])
        return kept.replace("{", "{\n    src: " + ", ".join(woff) + ";", 1)
    return FONT_FACE.sub(one, css)


def reveal_for_decks(folder):
    """reveal.js as the decks embed it, in `folder`: links to the files of the npm
    package (dist/ and plugin/, what pandoc's template reads), except its fonts'
    style sheets, written with `woff_only`. Returns the copy's path."""
    mirror = Path(folder) / "reveal.js"
    for part in ("dist", "plugin"):
        for source in sorted((REVEAL / part).rglob("*")):
            if source.is_dir():
                continue
            target = mirror / source.relative_to(REVEAL)
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.suffix == ".css" and "fonts" in source.relative_to(REVEAL).parts:
                target.write_text(woff_only(source.read_text()))
            else:
                target.symlink_to(source)
    return mirror


def pandoc_path():
    try:
        import pypandoc
    except ImportError:
        raise RenderError("pandoc is missing: run `make setup` (it installs the pypandoc-binary wheel)") from None
    return pypandoc.get_pandoc_path()


def cell_options(source):
    """Split Quarto's `#|` option lines off the top of a cell: (options, code)."""
    options, lines = {}, source.splitlines()
    while lines and (m := OPTION.match(lines[0])):
        options[m.group(1)] = yaml.safe_load(m.group(2))
        lines.pop(0)
    return options, "\n".join(lines).strip("\n")


def fenced(text, cls):
    text = ANSI.sub("", text).rstrip("\n")
    fence = "````" if "```" in text else "```"
    return f"{fence} {{.{cls}}}\n{text}\n{fence}"


def render_output(out, allow_error, where, alt=""):
    kind = out.output_type
    if kind == "stream":
        return fenced(out.text, "cell-output-stderr" if out.name == "stderr" else "cell-output")
    if kind == "error":
        if not allow_error:
            raise RenderError(f"{where} stores an error but has no `#| error: true`")
        return fenced(f"{out.ename}: {out.evalue}", "cell-output-error")
    data = out.get("data", {})
    if "image/png" in data:
        png = data["image/png"].replace("\n", "")
        try:
            base64.b64decode(png, validate=True)
        except binascii.Error:
            raise RenderError(f"{where} stores a PNG that is not valid base64: re-execute it (`make execute`)") from None
        # Quarto's `#| fig-alt:`, the figure's text alternative (pandoc writes it as the img's alt)
        alt = " ".join(str(alt).split()).replace("[", "(").replace("]", ")")
        return f'![{alt}](data:image/png;base64,{png}){{.cell-figure fig-alt="{html.escape(alt, quote=True)}"}}'
    if "text/plain" in data:
        return fenced(data["text/plain"], "cell-output")
    return ""


def front_matter(nb):
    """The notebook's front matter: the YAML of its first cell, where that is a raw `---` cell."""
    first = nb.cells[0] if nb.cells else None
    if first is not None and first.cell_type == "raw" and first.source.startswith("---"):
        return yaml.safe_load(first.source.strip().strip("-")) or {}
    return {}


def notebook_markdown(nb, name):
    """The notebook as one Pandoc markdown document, plus its front matter."""
    parts = []
    for i, cell in enumerate(nb.cells):
        where = f"{name}, cell {i}"
        if cell.cell_type == "markdown":
            # A link to another notebook leads to its deck, as Quarto rewrites it.
            parts.append(NOTEBOOK_LINK.sub(r"](\1.html)", cell.source))
        elif cell.cell_type == "code":
            options, code = cell_options(cell.source)
            if options.get("include") is False:
                continue
            blocks = []
            if options.get("echo", True) and code:
                blocks.append(f"```python\n{code}\n```")
            if options.get("output", True):
                blocks += [render_output(o, options.get("error", False), where, options.get("fig-alt", ""))
                           for o in cell.outputs]
            if blocks:
                parts.append("::: {.cell}\n" + "\n\n".join(b for b in blocks if b) + "\n:::")
    return front_matter(nb), "\n\n".join(parts) + "\n"


def deck_meta(front, stem):
    """Pandoc metadata for a deck, from the notebook's front matter."""
    title = front.get("title", stem)
    return {"title": title, "subtitle": front.get("subtitle", ""),
            "author": front.get("author", ""), "pagetitle": title}


def revealjs_options(config=QUARTO_YML):
    """`format: revealjs:` of _quarto.yml: the deck options both renderers use."""
    try:
        return yaml.safe_load(config.read_text())["format"]["revealjs"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
        raise RenderError(f"{config.name} has no readable `format: revealjs:` section ({e})") from None


def pandoc_options(options):
    """Pandoc's command-line options for the revealjs options of _quarto.yml."""
    options = QUARTO_DEFAULTS | options

    def variable(key):
        name = re.sub(r"-(\w)", lambda m: m.group(1).upper(), key)
        value = options[key]
        if isinstance(value, bool):
            value = str(value).lower()
        elif key == "slide-number":
            value = f"'{value}'"  # pandoc's template writes it unquoted, as for true/false; "c/t" is a string
        return f"--variable={name}={value}"

    args = [variable(key) for key in REVEAL_SETTINGS if key in options]
    args += [f"--css={options['css']}"] if "css" in options else []
    args += [f"--syntax-highlighting={options['highlight-style']}"] if "highlight-style" in options else []
    args += [f"--include-in-header={options['include-in-header']}"] if "include-in-header" in options else []
    args += [f"--metadata=lang={options['lang']}"] if "lang" in options else []
    args += ["--embed-resources"] if options.get("embed-resources") else []
    return args


def with_footer(deck, footer):
    """The deck with `footer:` of _quarto.yml as Quarto places it: a div.footer in div.reveal."""
    opening = re.compile(r'(<body>\s*)(<div class="reveal">)')  # the template's, not one inside reveal.js's code
    if len(opening.findall(deck)) != 1:
        raise RenderError("pandoc's revealjs template changed: no single <div class=\"reveal\"> for the footer")
    div = f'<div class="footer footer-default"><p>{html.escape(str(footer))}</p></div>'
    return opening.sub(lambda m: f"{m[1]}{m[2]}\n  {div}", deck)


def read_notebook(path):
    """The notebook; a file that is not one stops the render in one line."""
    try:
        return tooling.read_notebook(path, as_version=nbformat.NO_CONVERT)
    except tooling.NotebookError as e:
        raise RenderError(str(e)) from None


def no_slides(nb, path):
    """Why the notebook makes no lesson, in one line; None when it does: a front matter with a
    title (a raw `---` cell first) and at least one `#`/`##` slide heading."""
    headings = [c for c in nb.cells if c.cell_type == "markdown" and re.search(r"^#{1,2} \S", c.source, re.M)]
    if front_matter(nb).get("title") and headings:
        return None
    return (f"{Path(path).name} has no slides: a lecture notebook starts with its front matter (a raw cell "
            "`---`, `title: ...`, `---`) and each slide is a `##` heading; fill it in, or move it out of notebooks/")


def render(path):
    if not (REVEAL / "dist" / "reveal.js").is_file():
        raise RenderError("reveal.js is missing: run `make slides` (it runs `npm ci` in slides/)")
    nb = read_notebook(path)
    empty = no_slides(nb, path)
    if empty:
        raise RenderError(empty)
    options = revealjs_options()
    front, body = notebook_markdown(nb, path.name)
    meta = deck_meta(front, path.stem)
    target = SLIDES / f"{path.stem}.html"
    with tempfile.TemporaryDirectory() as tmp:
        meta_file = Path(tmp) / "meta.json"
        meta_file.write_text(json.dumps(meta))
        # Embedded, the decks take reveal.js from the copy whose fonts are WOFF only.
        reveal = reveal_for_decks(tmp) if options.get("embed-resources") else os.path.relpath(REVEAL, ROOT)
        cmd = [
            pandoc_path(), "--from=markdown-implicit_figures", "--to=revealjs", "--standalone",
            "--slide-level=2", f"--metadata-file={meta_file}",
            f"--variable=revealjs-url={reveal}",
            *pandoc_options(options),
        ]
        result = subprocess.run(cmd, input=body, text=True, capture_output=True, cwd=ROOT)
        if result.returncode != 0:
            raise RenderError(f"pandoc failed on {path.name}:\n{result.stderr}")
        deck = result.stdout
        if footer := options.get("footer"):
            deck = with_footer(deck, footer)
        write_text_atomically(target, deck)
    return target, meta


def main(argv=None):
    parser = argparse.ArgumentParser(description="Render the notebooks to reveal.js decks with pandoc.")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or tooling.numbered_notebooks()
    try:
        for path in paths:
            target, _ = render(path.resolve())
            print(f"wrote {target.relative_to(ROOT)}")
    except RenderError as e:
        sys.exit(f"make slides: {e}")


if __name__ == "__main__":
    main()
