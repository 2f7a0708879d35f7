# The project's verbs; the real work is in tools/ and data/.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
REVEAL := slides/node_modules/reveal.js/dist/reveal.js

.PHONY: setup test lab data execute slides pdf bench lock clean need-chromium

setup: $(STAMP)            ## the virtual environment, the lock and the kernel

$(STAMP): requirements.txt tools/setup_env.py
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "make setup: needs Python 3.11 or newer as $(PYTHON) (install it, or run make setup PYTHON=python3.12)"; exit 1; }
	@$(PYTHON) tools/setup_env.py
	@touch $@

test: $(STAMP) slides      ## nbval over every notebook, then the project's own tests (browser test too)
	$(PY) -m pytest -n 2 --dist loadfile

lab: $(STAMP)              ## JupyterLab with the lecture's kernel (loopback, token)
	$(VENV)/bin/jupyter lab notebooks

data: $(STAMP)             ## regenerate data/ridge.csv (byte for byte)
	$(PY) data/generate_ridge.py

execute: $(STAMP)          ## re-execute every notebook in place after a deliberate change
	$(PY) tools/execute.py

slides: $(STAMP)           ## the decks in slides/: Quarto where installed, else pandoc + reveal.js
	@if command -v quarto >/dev/null 2>&1; then \
	  quarto render && mv slides/notebooks/*.html slides/ && rmdir slides/notebooks && $(PY) tools/render_slides.py --index-only; \
	else \
	  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || \
	    { echo "make slides: needs Node.js and npm for reveal.js (install them, or Quarto)"; exit 1; }; \
	  $(MAKE) --no-print-directory $(REVEAL) && $(PY) tools/render_slides.py; \
	fi

$(REVEAL): slides/package.json slides/package-lock.json
	cd slides && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

pdf: need-chromium slides ## PDF handouts of the decks (headless Chromium)
	$(PY) tools/pdf_slides.py

bench: $(STAMP)            ## the lecture's timing claims side by side -> bench/results/<backend>.json, .png
	$(PY) bench/run.py

need-chromium:             # one line and a stop when no browser is installed
	@[ -n "$$CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  command -v google-chrome >/dev/null 2>&1 || \
	  { echo "make: needs Chromium for the browser test and handouts (apt-get install chromium)"; exit 1; }

lock:                      ## recompile requirements.txt from requirements.in
	@$(PYTHON) tools/lock.py

clean:                     ## remove what the build made, nothing committed
	rm -rf $(VENV) .pytest_cache tests/screenshots slides/node_modules slides/*.html slides/*.pdf slides/notebooks
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
