"""Notebook hygiene: what nbval cannot see by comparing outputs."""

import re
import sys

import nbformat
import pytest

import catalog
from lecture import KERNEL_NAME, error_line

from helpers import MACHINE_ONLY, NOTEBOOKS, ROOT, code_cells, headings, output_text, read, tags

IDS = [p.name for p in NOTEBOOKS]
BEYOND = [n.path for n in catalog.beyond()]  # each notebook's role: its front matter (tools/catalog.py)
CODE_NOTEBOOKS = [p for p in NOTEBOOKS if code_cells(read(p))]
CODE_IDS = [p.name for p in CODE_NOTEBOOKS]
SETUP_SOURCE = "from lecture import setup\nsetup()"


def test_notebooks_are_numbered_in_lecture_order_the_lecture_first():
    names = [p.stem for p in NOTEBOOKS]
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(1, len(names) + 1)]
    roles = [n.beyond for n in catalog.notebooks()]
    assert roles == sorted(roles), "the lecture's own notebooks come first, then those beyond it"
    assert catalog.lecture()[-1].stem == "07-what-next", "the lecture ends with What next?"


@pytest.mark.parametrize("path", BEYOND, ids=[p.name for p in BEYOND])
def test_notebooks_beyond_the_lecture_say_so_on_every_slide(path):
    nb = read(path)
    slides = [h for h in headings(nb) if h.startswith("## ")]
    assert slides and all(re.search(r"\{[^}]*\.beyond\b", h) for h in slides), \
        "every slide of a notebook beyond the lecture carries {.beyond}"


def test_what_next_links_every_deck_beyond_the_lecture():
    what_next = read(ROOT / "notebooks" / "07-what-next.ipynb")
    linked = set(re.findall(r"\]\((\d\d-[\w-]+)\.ipynb\)", "".join(c.source for c in what_next.cells)))
    assert linked == {p.stem for p in BEYOND}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_valid_nbformat_and_one_kernel(path):
    nb = read(path)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == KERNEL_NAME


@pytest.mark.parametrize("path", CODE_NOTEBOOKS, ids=CODE_IDS)
def test_executed_top_to_bottom_in_order(path):
    counts = [c.execution_count for c in code_cells(read(path))]
    assert counts == list(range(1, len(counts) + 1)), "re-execute with `make execute`"


def test_only_the_what_next_deck_has_no_code():
    """Every other notebook's code cells go through the per-cell checks below."""
    assert [p.stem for p in NOTEBOOKS if not code_cells(read(p))] == ["07-what-next"]


@pytest.mark.parametrize("path", CODE_NOTEBOOKS, ids=CODE_IDS)
def test_shared_setup_comes_first_and_is_hidden(path):
    cells = code_cells(read(path))
    assert cells[0].source.startswith("#| include: false\n")
    assert SETUP_SOURCE in cells[0].source
    assert all(SETUP_SOURCE not in c.source for c in cells[1:])


@pytest.mark.parametrize("path", CODE_NOTEBOOKS, ids=CODE_IDS)
def test_every_raising_cell_is_tagged_and_shown(path):
    for i, cell in enumerate(code_cells(read(path))):
        raised = any(o.output_type == "error" for o in cell.outputs)
        tagged = "raises-exception" in tags(cell)
        assert raised == tagged, f"code cell {i}: raised={raised} but tagged={tagged}"
        assert tagged == ("#| error: true" in cell.source), f"code cell {i}: tag and `#| error: true` disagree"


@pytest.mark.parametrize("path", CODE_NOTEBOOKS, ids=CODE_IDS)
def test_no_warning_in_stored_outputs(path):
    for i, cell in enumerate(code_cells(read(path))):
        # A cell that raises on purpose may raise a warning made an error (01's float64).
        on_purpose = "raises-exception" in tags(cell)
        text = "".join(output_text(o) for o in cell.outputs if not (on_purpose and o.output_type == "error"))
        assert not re.search(r"Warning\b", text), f"code cell {i} stores a warning:\n{text}"
        assert not any(o.output_type == "stream" and o.name == "stderr" for o in cell.outputs), \
            f"code cell {i} stores stderr output"


# Where the machine that executed a notebook keeps Python and the project.
ENVIRONMENT_PATHS = ["site-packages", ".venv", sys.prefix, str(ROOT)]
SHOWN_MIME_TYPES = {"text/plain", "image/png"}


@pytest.mark.parametrize("path", CODE_NOTEBOOKS, ids=CODE_IDS)
def test_outputs_show_what_the_slides_show(path):
    """Stored outputs that Quarto, the fallback renderer, JupyterLab and GitHub all
    show as the lecture does, once: an error as its own line(s), with no traceback
    frame (its traceback is that line, the name in red: lecture.error_line);
    plain text and PNG only (an HTML output makes Quarto load scripts from the
    network); no `#|` line, no colour codes, no path into the environment, no
    temporary cell file, no object address."""
    for i, cell in enumerate(code_cells(read(path))):
        for out in cell.outputs:
            where = f"code cell {i}"
            if out.output_type == "error":
                assert out.traceback == [error_line(out.ename, out.evalue)], \
                    f"{where} stores a traceback, not just its error line (the shared setup's error display)"
            if out.output_type in ("display_data", "execute_result"):
                assert set(out.data) <= SHOWN_MIME_TYPES, f"{where} stores {sorted(out.data)}"
            text = output_text(out)
            assert "#|" not in text, f"{where} shows a `#|` line"
            assert "\x1b[" not in text, f"{where} stores terminal colour codes"
            for place in ENVIRONMENT_PATHS:
                assert place not in text, f"{where} shows a path of the machine that ran it ({place})"
            assert not MACHINE_ONLY.search(text), f"{where} shows {MACHINE_ONLY.search(text)[0]!r}"


@pytest.mark.parametrize("path", CODE_NOTEBOOKS, ids=CODE_IDS)
def test_no_deprecated_jax_api(path):
    source = "\n".join(c.source for c in code_cells(read(path)))
    for old in ["jax.tree_map", "jax.tree_util.tree_map", "jax.tree_leaves", "jax.tree_flatten"]:
        assert old not in source


@pytest.mark.parametrize("path", CODE_NOTEBOOKS, ids=CODE_IDS)
def test_only_timing_cells_escape_comparison(path):
    """A cell whose output nbval ignores is a timing cell, a cell whose last line
    names the machine's devices (01: a CPU and a GPU print different names), or the
    very next cell is a hidden check of its value with an explicit tolerance."""
    cells = code_cells(read(path))
    for i, cell in enumerate(cells):
        if "nbval-ignore-output" in tags(cell):
            checked = i + 1 < len(cells) and cells[i + 1].source.startswith("#| include: false") \
                and re.search(r"assert abs\(.*\) < \d", cells[i + 1].source) \
                and cell.source.strip() in cells[i + 1].source
            devices = re.fullmatch(r"(jax\.default_backend\(\), )?jax\.devices\(\)|\w+\.devices\(\)",
                                   cell.source.strip().splitlines()[-1])
            assert "%time" in cell.source or checked or devices, \
                f"code cell {i} is ignored by nbval but is neither a timing cell, nor names the devices, nor is checked in the next cell"
        assert "nbval-skip" not in tags(cell)
        assert not re.search(r"#\s*NBVAL_", cell.source), "use cell tags, not comment markers"


@pytest.mark.parametrize("path", CODE_NOTEBOOKS, ids=CODE_IDS)
def test_every_figure_is_described_in_a_sentence(path):
    """Each plotting cell's `#| fig-alt:` (Quarto's option; the fallback, the PDF and JupyterLab
    read it too): what the figure shows, in a sentence of at least eight words."""
    for cell in code_cells(read(path)):
        if any("image/png" in o.get("data", {}) for o in cell.outputs):
            m = re.search(r'^#\| fig-alt: "([^"]+)"$', cell.source, re.M)
            assert m, f"a figure without `#| fig-alt:`: {cell.source[:80]!r}"
            assert len(m.group(1).split()) >= 8 and m.group(1).endswith("."), m.group(1)


@pytest.mark.parametrize("path", CODE_NOTEBOOKS, ids=CODE_IDS)
def test_no_figure_sets_its_text_smaller_than_the_shared_setup(path):
    """Figure text is the shared setup's FIGURE_FONT_PT or larger (the slides' legibility
    standard, measured in tests/test_slides.py): no cell sets a smaller font size."""
    from lecture import FIGURE_FONT_PT

    for cell in code_cells(read(path)):
        if "plt" in cell.source or "ax." in cell.source:  # a plotting cell
            for name, size in re.findall(r"\b(fontsize|labelsize|font\.size)\W+(\d+(?:\.\d+)?)", cell.source):
                assert float(size) >= FIGURE_FONT_PT, f"{name} {size} in {cell.source[:60]!r}"


@pytest.mark.parametrize("path", CODE_NOTEBOOKS, ids=CODE_IDS)
def test_figures_are_stored_as_png(path):
    for cell in code_cells(read(path)):
        if "plt." in cell.source:
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.source
        for o in cell.outputs:
            assert "image/svg+xml" not in o.get("data", {})
