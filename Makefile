# The project's verbs; the real work is in tools/ and data/.
# PYTHON=... picks the interpreter for .venv; unset, tools/find_python.py finds Python 3.12+
PYTHON ?=
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
REVEAL := slides/node_modules/reveal.js/dist/reveal.js
NOTEBOOK_FILES := $(sort $(wildcard notebooks/[0-9]*.ipynb))
DECKS  := $(NOTEBOOK_FILES:notebooks/%.ipynb=slides/%.html)

.PHONY: FORCE help setup test no-decks test-lab lab exercises grade data execute review drift slides decks pdf bench lock clean need-chromium need-node

.DEFAULT_GOAL := setup

help:                      ## this list: every target and what it does
	@awk -F':.*## ' '/^[a-z][a-z-]*:.*## /{printf "make %-10s %s\n", $$1, $$2}' $(firstword $(MAKEFILE_LIST))

setup: $(STAMP)            ## the virtual environment from uv.lock, the package and its kernel: then all is offline (no Node.js)

# Checked on every run of a target that needs it (a fraction of a second when nothing
# changed): tools/setup_env.py installs again only when the lock or what the package is
# built from changed, PYTHON= names another interpreter, or installed files are missing,
# and writes the stamp only then (so the decks are not rebuilt for nothing).
$(STAMP): FORCE
	@python3 tools/setup_env.py $(if $(PYTHON),--python $(PYTHON)) $(if $(filter setup,$(MAKECMDGOALS)),,--quiet)

FORCE:

# pytest's workers (why four on two cores, and which tests share one: conftest.py)
WORKERS ?= 4
PYTEST  := $(PY) -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder

# The decks need Quarto or Node.js (reveal.js); without either, make test runs the rest
# and the slide tests say why they are skipped (in CI they fail).
DECK_RENDERER := $(or $(shell command -v quarto 2>/dev/null),$(shell command -v npm 2>/dev/null))

test: $(STAMP) $(if $(DECK_RENDERER),slides,no-decks)  ## nbval over every notebook, the exercises graded, JupyterLab and the decks in Chromium
	$(PYTEST)

no-decks:
	@echo "make test: no decks to test: rendering them needs Quarto, or Node.js and npm for reveal.js (apt-get install nodejs npm)"

test-lab: $(STAMP)         ## only the JupyterLab tests: 04 and the first exercise run from the Run menu, the rest opened
	$(PYTEST) tests/test_lab.py

lab: exercises             ## JupyterLab with the lecture's kernel (127.0.0.1, token; root allowed): PORT=8890 LAB_ARGS=--no-browser
	$(PY) -m lecture.lab $(if $(PORT),--port $(PORT)) $(LAB_ARGS)

exercises: $(STAMP)        ## student versions (exercises/student/) and autograders (exercises/autograder/)
	@$(PY) tools/exercises.py build

grade: exercises           ## grade students' notebooks, each in a bubblewrap sandbox: make grade SUBMISSIONS="returned/*.ipynb" (or a folder) [CSV=grades.csv FORCE=1 EXERCISE=02-prng TIMEOUT=600]
	@$(if $(strip $(SUBMISSIONS)),:,echo 'make grade: name the notebooks, e.g. make grade SUBMISSIONS="returned/*.ipynb"'; exit 1)
	@$(PY) tools/exercises.py grade $(SUBMISSIONS) $(if $(CSV),--csv $(CSV)) $(if $(FORCE),--force) $(if $(EXERCISE),--exercise $(EXERCISE)) $(if $(TIMEOUT),--timeout $(TIMEOUT))

data: $(STAMP)             ## regenerate data/ridge.csv (byte for byte)
	$(PY) data/generate_ridge.py

execute: $(STAMP)          ## re-execute every notebook in place after a deliberate change (TIMEOUT=s per cell)
	@$(PY) tools/execute.py $(if $(TIMEOUT),--timeout $(TIMEOUT))

review: $(STAMP)           ## what changed in the notebooks since the last commit, outputs included, as text
	$(VENV)/bin/nbdiff HEAD -- notebooks

drift: $(STAMP)            ## another JAX release against the stored outputs: make drift JAX=0.10.2 -> docs/drift/
	@test -n "$(JAX)" || { echo 'make drift: name a JAX release, e.g. make drift JAX=0.10.2'; exit 1; }
	@$(PY) tools/drift.py --jax $(JAX) $(if $(PYTHON),--base-python $(PYTHON))

slides: $(STAMP)           ## the decks in slides/: Quarto where installed, else pandoc + reveal.js
	@$(PY) tools/catalog.py --check
	@if command -v quarto >/dev/null 2>&1; then \
	  quarto render && mv slides/notebooks/*.html slides/ && rmdir slides/notebooks && $(PY) tools/deck_index.py; \
	else \
	  $(MAKE) --no-print-directory -j 2 decks; \
	fi

# Without Quarto: a deck is rebuilt only when its notebook, the theme, the slide
# configuration, the renderer, reveal.js or the lock (pandoc's version) changed.
decks: $(DECKS) slides/index.html

slides/%.html: notebooks/%.ipynb slides/theme.css slides/a11y.html slides/highlight.theme _quarto.yml tools/render_slides.py $(REVEAL) uv.lock | $(STAMP)
	@$(PY) tools/render_slides.py $<

slides/index.html: $(NOTEBOOK_FILES) tools/deck_index.py uv.lock | $(STAMP)
	@$(PY) tools/deck_index.py

$(REVEAL): slides/package.json slides/package-lock.json | need-node
	cd slides && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

need-node:                 # one line and a stop when Node.js or npm is missing: only the decks need them
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || \
	  { echo "make slides: the decks need Node.js and npm for reveal.js (apt-get install nodejs npm; brew install node; winget install OpenJS.NodeJS), or Quarto"; exit 1; }

pdf: need-chromium slides ## PDF handouts of the decks (headless Chromium); NOTES=1: with speaker notes, NN-*.notes.pdf
	$(PY) tools/pdf_slides.py $(if $(NOTES),--notes)

bench: $(STAMP)            ## the lecture's timing claims side by side -> bench/results/ (BENCH_OUT=bench/reference: the committed run)
	$(PY) bench/run.py $(if $(BENCH_OUT),--out $(BENCH_OUT))

need-chromium: $(STAMP)    # one line and a stop when no browser is installed
	@$(PY) tools/browser.py

lock:                      ## uv.lock from pyproject.toml for every supported laptop, exported to requirements.txt (UPGRADE=1 moves pins)
	@python3 tools/lock.py

clean:                     ## remove what the build made, nothing committed
	rm -rf $(VENV) .drift .pytest_cache tests/screenshots slides/node_modules slides/*.html slides/*.pdf slides/notebooks \
	  exercises/student exercises/autograder
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
