"""`make lab`'s JupyterLab, started as `make lab` starts it (lecture.lab): as root
here, on 127.0.0.1, behind a token, with the project's kernel, the Quarto extension
and the project's offline settings; then, in headless Chromium as a student would,
a lecture notebook (04) and the first exercise run from the Run menu, and every other
notebook and exercise opened and checked as stored (see RUN below). The server serves a
copy of the project's notebooks (JupyterLab autosaves), is stopped afterwards
whatever happens, and a server that does not come up fails with a plain message."""

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

import catalog
import exercises
from helpers import NOTEBOOKS, ROOT, code_cells, end_process_group, read, tags
from lecture import KERNEL_DISPLAY, KERNEL_NAME
from lecture.tooling import child_dies_with_us, free_port
from test_slides import AXE, WCAG_AA

LECTURE = [n.path for n in catalog.lecture()]  # the lecture's own notebooks (their front matter says)
# Run from the Run menu: 04 (text, arrays, figures, an error: all a cell can show here).
# The other lecture notebooks, which nbval runs anyway, are opened and checked as stored
# instead: 03, 05 and 06, whose cells are nearly half of the suite's CPU time (the timing
# cells' workloads, the unrolled jit(fit_simple) compile, the MLP's 1000 steps), 01 and
# 02, whose cells show nothing that 04's do not, and 07, which has no code to run.
OPENED_NOT_RUN = {"01-jax-numpy", "02-prng", "03-performance-jit", "05-regression", "06-pytrees-mlp"}
RUN = [p for p in LECTURE if p.stem not in OPENED_NOT_RUN and code_cells(read(p))]
NOT_RUN = [p for p in LECTURE if p not in RUN]
OPENED = [p for p in NOTEBOOKS if p not in LECTURE]
SCREENSHOTS = ROOT / "tests" / "screenshots"
# A request to anywhere but this machine's JupyterLab (a CDN, a font, a tracker).
OUTSIDE = re.compile(r"^(?!(?:https?|wss?)://127\.0\.0\.1[:/]|data:|blob:|about:)")
EXERCISES = exercises.exercise_names()


def runs(names):
    """One parameter per notebook, long: this file, one work unit under `make test`'s
    workers (conftest.py), is handed out first."""
    return [pytest.param(name, id=name, marks=pytest.mark.long) for name in names]


@pytest.fixture(scope="session")  # one server per worker, whatever order its tests come in
def lab(tmp_path_factory, built_exercises):
    port, token = free_port(), secrets.token_hex(16)
    work = tmp_path_factory.mktemp("lab")  # notebooks/, data/ and the exercises as in the project
    shutil.copytree(ROOT / "notebooks", work / "notebooks", ignore=shutil.ignore_patterns(".*", "__pycache__"))
    shutil.copytree(ROOT / "data", work / "data")
    shutil.copytree(built_exercises / "student", work / "exercises" / "student")  # as `make exercises` makes it
    # The server's log goes to a file: a pipe nobody reads fills (64 KiB of log) and then blocks
    # the server on its next write, so every later request hangs.
    log_path = tmp_path_factory.mktemp("lab-log") / "jupyterlab.log"
    log = log_path.open("w")
    server = subprocess.Popen([sys.executable, "-m", "lecture.lab", "--port", str(port), "--no-browser",
                               "--root", work],
                              env=os.environ | {"JUPYTER_TOKEN": token}, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True,
                              preexec_fn=child_dies_with_us(signal.SIGKILL))  # its kernels follow it
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    os.killpg(server.pid, signal.SIGKILL)
                    pytest.fail(f"JupyterLab did not come up on {base} within 60 s:\n{log_path.read_text()[-2000:]}")
                time.sleep(0.3)
        yield base, token, work
    finally:
        end_process_group(server)
        log.close()
        with pytest.raises(ProcessLookupError):
            os.killpg(server.pid, 0)  # nothing of the server is left


def get(base, path, token=None):
    url = f"{base}{path}" + (f"?token={token}" if token else "")
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def test_it_needs_the_token(lab):
    base, _, _ = lab
    with pytest.raises(urllib.error.HTTPError) as e:
        get(base, "/api/kernelspecs")
    assert e.value.code == 403


def test_it_offers_the_projects_kernel(lab):
    base, token, _ = lab
    specs = get(base, "/api/kernelspecs", token)
    assert KERNEL_NAME in specs["kernelspecs"]
    assert specs["default"] == KERNEL_NAME  # what a new notebook gets


def test_the_quarto_extension_and_the_offline_settings_are_in_place(lab):
    base, token, _ = lab
    page = urllib.request.urlopen(f"{base}/lab?token={token}", timeout=10).read().decode()
    assert '"name": "jupyterlab-quarto"' in page  # among the page's federated extensions
    # tools/jupyterlab/overrides.json, installed into .venv: the defaults this JupyterLab uses.
    overrides = json.loads((ROOT / "tools" / "jupyterlab" / "overrides.json").read_text())
    for plugin, values in overrides.items():
        schema = get(base, f"/lab/api/settings/{plugin}", token)["schema"]["properties"]
        assert {k: schema[k]["default"] for k in values} == values, plugin


@pytest.mark.parametrize("token, says", [("", "JUPYTER_TOKEN is empty"), ("x", "JUPYTER_TOKEN has 1 characters"),
                                         ("0123456789abcde", "JUPYTER_TOKEN has 15 characters, fewer than 16")])
def test_an_empty_or_short_token_is_refused(token, says):
    result = subprocess.run([sys.executable, "-m", "lecture.lab", "--no-browser"],
                            env=os.environ | {"JUPYTER_TOKEN": token}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and says in result.stderr


@pytest.mark.parametrize("content, says", [("", "is empty, which switches the token off"),
                                           ("short\n", "has 6 characters, fewer than 16"), (None, "cannot read")])
def test_an_empty_short_or_missing_token_file_is_refused(tmp_path, content, says):
    """JUPYTER_TOKEN_FILE: where Jupyter reads its token when JUPYTER_TOKEN is unset."""
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"} | {"JUPYTER_TOKEN_FILE": str(token_file)}
    result = subprocess.run([sys.executable, "-m", "lecture.lab", "--no-browser"], env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1 and says in result.stderr and str(token_file) in result.stderr, result.stderr


@pytest.fixture(scope="session")  # one JupyterLab page per worker, each notebook opened in it
def lab_page(lab, browser):
    """JupyterLab loaded once (its layout reset) and kept: loading it anew for every
    notebook cost the run's shared CPU about 3 s a time."""
    base, token, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.outside = []  # every request that would have left the machine, stopped here

    def stop(route):
        page.outside.append(route.request.url)
        route.abort()

    page.route(OUTSIDE, stop)
    page.goto(f"{base}/lab?reset&token={token}")
    page.wait_for_selector(".lm-MenuBar-itemLabel", timeout=60000)
    yield page
    page.close()


def menu(page, name, item):
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{name}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in view (its tab the current one)


@contextlib.contextmanager
def opened(page, path):
    """`path` opened as a student opens it (File > Open from Path…), shown with the
    project's kernel; then closed with its kernel shut down (File > Close and Shut
    Down Notebook…), whatever happened."""
    menu(page, "File", "Open from Path…")
    page.locator(".jp-Dialog input").fill(path)
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.wait_for_function(f"""() => {{
        const tab = document.querySelector('.lm-DockPanel-tabBar .lm-mod-current .lm-TabBar-tabLabel');
        const kernel = document.querySelector('{NOTEBOOK} .jp-Toolbar-kernelName');
        return tab && tab.textContent === {path.split("/")[-1]!r} && document.querySelector('{NOTEBOOK} .jp-Cell')
          && kernel && kernel.textContent.includes({KERNEL_DISPLAY!r});
    }}""", timeout=60000)
    try:
        yield
    finally:
        menu(page, "File", "Close and Shut Down Notebook…")
        page.locator(".jp-Dialog .jp-mod-accept").click()
        page.wait_for_selector(".jp-NotebookPanel", state="detached", timeout=30000)


# What a reader sees of an element: its text, less what the page's styles hide.
VISIBLE_TEXT = """(el) => { let text = ''; const walk = (n) => {
    if (n.nodeType === 3) { text += n.textContent; return; }
    if (n.nodeType !== 1 || getComputedStyle(n).display === 'none') return;
    n.childNodes.forEach(walk); }; if (el) walk(el); return text; }"""
CELLS = f"""() => {{ const visible = {VISIBLE_TEXT};
    return [...document.querySelectorAll('{NOTEBOOK} .jp-Cell')].map(c => ({{
    code: c.classList.contains('jp-CodeCell'),
    markdown_cell: c.classList.contains('jp-MarkdownCell'),
    shown: getComputedStyle(c).display !== 'none',
    source: c.classList.contains('jp-CodeCell') ? c.querySelector('.cm-content').textContent : '',
    error: !!c.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'),
    output: [...c.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent).join('\\n'),
    images: [...c.querySelectorAll('.jp-OutputArea-output img')].map(i => i.complete && i.naturalWidth > 0),
    alts: [...c.querySelectorAll('.jp-OutputArea-output img')].map(i => i.alt || ''),
    notes: [...c.querySelectorAll('.jp-MarkdownOutput .notes')].filter(n => n.getBoundingClientRect().height > 0
      && n.textContent.trim().length > 0).length,
    markdown: c.classList.contains('jp-MarkdownCell') ? visible(c.querySelector('.jp-MarkdownOutput')) : ''}}))}}"""


# axe on the notebook's own content (its markdown and its outputs, figures included), not on
# JupyterLab's widgets around it, whose violations are upstream's (docs/maintainer.md lists them).
AXE_CONTENT = f"""async () => (await axe.run({{include: [['{NOTEBOOK} .jp-MarkdownOutput'],
      ['{NOTEBOOK} .jp-OutputArea-output']]}},
    {{runOnly: {{type: 'tag', values: {WCAG_AA}}}, resultTypes: ['violations']}}))
    .violations.map(v => `${{v.id}}: ${{v.nodes.slice(0, 2).map(n => n.target.join(' ')).join(', ')}}`)"""


def assert_reads_as_a_lesson(page, path, cells):
    """No request left the machine, no markdown cell is shown with nothing to read (a cell
    of slide layout alone: Quarto's fences), and axe-core finds no WCAG 2.1 AA violation in
    the notebook's content; a screenshot to look at."""
    if AXE.is_file():  # with the decks' packages (slides/package-lock.json), as in CI
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE))
        assert page.evaluate(AXE_CONTENT) == [], f"{path}: axe (WCAG 2.1 AA) in the notebook's content"
    elif os.environ.get("CI"):
        pytest.fail("axe-core is missing: run `make slides` (npm ci in slides/)")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"lab-{path.replace('/', '-').removesuffix('.ipynb')}.png")
    outside, page.outside[:] = list(page.outside), []
    assert outside == [], f"{path}: JupyterLab asked for {outside}"
    empty = [i for i, c in enumerate(cells) if c["markdown_cell"] and c["shown"] and not c["markdown"].strip()]
    assert empty == [], f"{path}: markdown cells {empty} show nothing to read"


def run_all(page, path, n_code):
    """Open `path` in JupyterLab, check the kernel it shows, clear its outputs and run
    Run > Run All Cells; return what each cell shows once the kernel is idle."""
    with opened(page, path):
        # Clear the stored outputs first, so that what is checked below is this run's.
        menu(page, "Edit", "Clear Outputs of All Cells")
        page.wait_for_function(f"() => ![...document.querySelectorAll('{NOTEBOOK} .jp-CodeCell .jp-InputPrompt')]"
                               ".some(p => /\\d/.test(p.textContent))", timeout=10000)
        # A menu item chosen while JupyterLab is still settling can be dropped (seen on
        # a fresh clone: the kernel idle, no cell queued), so choose it again until the
        # first cell is queued or has run.
        started = f"() => /[*\\d]/.test(document.querySelector('{NOTEBOOK} .jp-CodeCell .jp-InputPrompt').textContent)"
        for attempt in range(3):
            menu(page, "Run", "Run All Cells")
            try:
                page.wait_for_function(started, timeout=15000, polling=200)
                break
            except Exception:
                if attempt == 2:
                    pytest.fail(f"{path}: Run > Run All Cells started nothing, three times")
        # Done when every code cell has its number and the kernel is idle again. (Cells
        # out of view are not laid out: read textContent, not innerText.)
        done = f"""() => {{
            const prompts = [...document.querySelectorAll('{NOTEBOOK} .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
            return prompts.length === {n_code} && prompts.every(p => /\\[\\d+\\]/.test(p))
              && document.querySelector('{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status="idle"]') !== null;
        }}"""
        try:
            page.wait_for_function(done, timeout=150000, polling=500)  # not every frame: the kernel needs the CPU
        except Exception:
            state = page.evaluate(f"""() => ({{prompts: [...document.querySelectorAll('{NOTEBOOK} .jp-CodeCell .jp-InputPrompt')]
                .map(p => p.textContent), status: [...document.querySelectorAll('{NOTEBOOK} [data-status]')]
                .map(e => e.getAttribute('data-status'))}})""")
            pytest.fail(f"{path} did not finish running within 150 s: {state}")
        cells = page.evaluate(CELLS)
        assert_reads_as_a_lesson(page, path, cells)
        return cells


def assert_no_quarto_markup(cells):
    text = "\n".join(c["markdown"] for c in cells)
    assert ":::" not in text and not re.search(r"\{\.[\w-]+", text), "Quarto markup shows as text"
    assert not re.search(r"^\. \. \.$", text, re.M), "a Quarto pause (. . .) shows as text"


def assert_shows_the_lecture(nb, cells):
    assert len(cells) == len(nb.cells)
    raised = [i for i, c in enumerate(cells) if c["error"]]
    tagged = [i for i, c in enumerate(nb.cells) if "raises-exception" in tags(c)]
    assert raised == tagged, "only the cells tagged raises-exception may show an error"
    stored = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    shown = [ok for c in cells for ok in c["images"]]
    assert len(shown) == stored and all(shown), "every figure renders"
    described = [re.search(r'^#\| fig-alt: "(.*)"$', c.source, re.M).group(1) for c in nb.cells
                 if c.cell_type == "code" and any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert [a for c in cells for a in c["alts"]] == described, "every figure carries its fig-alt as alt text"
    written = sum(c.source.count("::: {.notes}") for c in nb.cells if c.cell_type == "markdown")
    assert sum(c["notes"] for c in cells) == written, "every speaker note shows as a note"
    assert_no_quarto_markup(cells)


@pytest.mark.parametrize("name", runs(p.stem for p in RUN))
def test_a_student_runs_every_cell_from_the_run_menu(lab_page, name):
    nb = read(ROOT / "notebooks" / f"{name}.ipynb")
    assert_shows_the_lecture(nb, run_all(lab_page, f"notebooks/{name}.ipynb", len(code_cells(nb))))


@pytest.mark.long
def test_the_notebooks_not_run_here_show_their_stored_outputs_as_the_lecture(lab_page):
    for p in NOT_RUN:
        with opened(lab_page, f"notebooks/{p.name}"):
            cells = lab_page.evaluate(CELLS)
            assert_reads_as_a_lesson(lab_page, f"notebooks/{p.name}", cells)
            assert_shows_the_lecture(read(p), cells)


@pytest.mark.long
def test_every_exercise_and_notebook_beyond_the_lecture_opens_with_the_projects_kernel_and_reads_cleanly(lab_page):
    """Opened, not run (the lecture's notebooks and the first exercise are run above)."""
    for path in [f"exercises/student/{name}.ipynb" for name in EXERCISES] + [
            f"notebooks/{p.name}" for p in OPENED]:
        with opened(lab_page, path):  # the kernel shown is the project's (opened() waits for it)
            cells = lab_page.evaluate(CELLS)
            assert_reads_as_a_lesson(lab_page, path, cells)
            assert_no_quarto_markup(cells)


@pytest.mark.parametrize("name", runs(EXERCISES[:1]))
def test_an_untouched_exercise_runs_and_each_check_says_plainly_what_fails(lab, lab_page, name):
    """Run here for the first exercise; tests/test_exercises.py grades every untouched
    student version and checks each failure's message the same way."""
    _, _, work = lab
    nb = read(work / "exercises" / "student" / f"{name}.ipynb")
    cells = run_all(lab_page, f"exercises/student/{name}.ipynb", len(code_cells(nb)))
    assert not [c for c in cells if c["error"]], "an untouched exercise runs without an error"
    checks = [c for c in cells if re.fullmatch(r'grader\.check\("q\d+"\)', c["source"].strip())]
    assert len(checks) == len(exercises.questions(work / "exercises" / "student" / f"{name}.ipynb")) >= 2
    for check in checks:
        # otter's report: the question, a cross, and the check's own one-line reason.
        assert re.search(r"q\d+ results:", check["output"]) and "Test case failed" in check["output"], check["output"]
        assert re.search(r"AssertionError: [A-Za-z]", check["output"]), check["output"]


@pytest.mark.parametrize("where, name, text, says", [
    ("JUPYTER_CONFIG_DIR", "jupyter_server_config.py", 'c.IdentityProvider.token = ""\n', "IdentityProvider.token = ''"),
    ("JUPYTER_CONFIG_DIR", "jupyter_server_config.json", '{"PasswordIdentityProvider": {"token": ""}}',
     "PasswordIdentityProvider.token = ''"),
    ("JUPYTER_CONFIG_DIR", "jupyter_lab_config.json", '{"ServerApp": {"token": ""}}', "ServerApp.token = ''"),
    ("HOME", "jupyter_notebook_config.py", "c.NotebookApp.token = ''\n", "NotebookApp.token = ''"),
    ("JUPYTER_CONFIG_DIR", "jupyter_server_config.py", "c.ServerApp.allow_unauthenticated_access = True\n",
     "ServerApp.allow_unauthenticated_access = True"),
    ("JUPYTER_CONFIG_DIR", "jupyter_server_config.json",
     '{"ServerApp": {"identity_provider_class": "jupyter_server.auth.identity.IdentityProvider"}}',
     "ServerApp.identity_provider_class = "),
])
def test_make_lab_refuses_a_configuration_that_switches_the_token_off(tmp_path, where, name, text, says):
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_CONFIG_DIR", "JUPYTER_TOKEN")}
    folder = tmp_path / ".jupyter" if where == "HOME" else tmp_path
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    env[where] = str(tmp_path)
    result = subprocess.run([sys.executable, "-m", "lecture.lab", "--no-browser", "--port", str(free_port())],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    message = result.stderr.strip()
    assert message.startswith("make lab: refusing to start: ") and "\n" not in message
    assert str(folder / name) in message and says in message
