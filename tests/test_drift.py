"""`make drift` (tools/drift.py) finds an output that differs, and reports none where none does."""

import json
import shutil
import sys

import drift
from helpers import ROOT


def test_a_run_reports_the_one_stored_output_edited_and_nothing_else(tmp_path):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks, ignore=shutil.ignore_patterns(".*", "__pycache__"))
    path = notebooks / "01-jax-numpy.ipynb"
    nb = json.loads(path.read_text())
    code = [(i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    nbval_num, (index, cell) = next((n, ic) for n, ic in enumerate(code) if "".join(ic[1]["source"]) == "x_jnp.dtype")
    assert cell["outputs"][0]["data"]["text/plain"] == ["dtype('float32')"]
    cell["outputs"][0]["data"]["text/plain"] = ["dtype('float16')"]
    path.write_text(json.dumps(nb, indent=1))
    out = tmp_path / "report.md"

    assert drift.main(["--python", sys.executable, "--notebooks-dir", str(notebooks), "--out", str(out),
                       "01-jax-numpy"]) == 0

    text = out.read_text()
    assert "**Summary: 1 cells changed, 0 cells failing, 0 warnings new" in text
    assert f"### code cell {nbval_num}: changed" in text and f"cell {index} of the notebook" in text
    assert text.count("### code cell") == 1
    assert "<pre>dtype(&#x27;float16&#x27;)</pre></td><td><pre>dtype(&#x27;float32&#x27;)</pre>" in text
    assert json.loads((ROOT / "notebooks" / "01-jax-numpy.ipynb").read_text())["cells"][index]["outputs"][0][
        "data"]["text/plain"] == ["dtype('float32')"], "the committed notebook was touched"


def _nb(*cells):
    return {"cells": [{"cell_type": "code", "source": src, "metadata": {"tags": tags}, "outputs": outs,
                       "execution_count": 1} for src, tags, outs in cells]}


def _result(text):
    return {"output_type": "execute_result", "data": {"text/plain": text}, "metadata": {}, "execution_count": 1}


def _error(name, value):
    return {"output_type": "error", "ename": name, "evalue": value, "traceback": [f"{name}: {value}"]}


def _stderr(text):
    return {"output_type": "stream", "name": "stderr", "text": text}


def test_the_comparison_follows_nbval():
    patterns = drift.sanitizers()
    stored = _nb(("f", [], [_result("<function f at 0x7f00aa>")]),
                 ("%timeit g()", ["nbval-ignore-output"], [{"output_type": "stream", "name": "stdout",
                                                             "text": "1 ms per loop"}]),
                 ("h()", ["raises-exception"], [_error("TypeError", "no")]),
                 ("k()", [], [_result("1")]),
                 ("skip()", ["nbval-skip"], [_result("1")]))
    same = _nb(("f", [], [_result("<function f at 0x7fbbcc>")]),  # an address: sanitized
               ("%timeit g()", ["nbval-ignore-output"], [{"output_type": "stream", "name": "stdout",
                                                           "text": "9 ms per loop"}]),
               ("h()", ["raises-exception"], [_error("TypeError", "no")]),
               ("k()", [], [_result("1")]),
               ("skip()", ["nbval-skip"], [_result("2")]))
    assert drift.compare(stored, same, patterns) == ([], 4)

    other = _nb(("f", [], [_result("<function f at 0x7fbbcc>")]),
                ("%timeit g()", ["nbval-ignore-output"], [_error("NameError", "g")]),
                ("h()", ["raises-exception"], []),
                ("k()", [], [_stderr("FutureWarning: k is old\n"), _result("1")]),
                ("skip()", ["nbval-skip"], [_result("2")]))
    found, compared = drift.compare(stored, other, patterns)
    assert compared == 4
    assert [(e["cell"], e["changed"], e["failing"], e["problems"], e["new_warnings"]) for e in found] == [
        (1, False, True, ["raised an error"], []),
        (2, True, True, ["tagged raises-exception, raised nothing"], []),
        (3, True, False, [], ["FutureWarning: k is old"]),
    ]


def test_a_jax_that_is_not_a_version_is_refused_in_one_line(capsys):
    for word in ("latest", "0.12.0.1; rm -rf /", "jax==0.10.2"):
        try:
            drift.main(["--jax", word])
        except SystemExit as stop:
            assert str(stop).startswith(f"make drift: {word!r} is not a version: name a JAX release")
        else:
            raise AssertionError(f"{word!r} was taken for a version")
    assert not (ROOT / ".drift" / "jax-latest").exists()
