# The project's verbs; the real work is in tools/ and data/.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
REVEAL := slides/node_modules/reveal.js/dist/reveal.js

.PHONY: setup test lab data execute slides pdf bench lock clean

setup: $(STAMP)            ## the virtual environment, the lock and the kernel

$(STAMP): requirements.txt tools/setup_env.py
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
	  quarto render && mv slides/notebooks/*.html slides/ && $(PY) tools/render_slides.py --index-only; \
	else \
	  $(MAKE) --no-print-directory $(REVEAL) && $(PY) tools/render_slides.py; \
	fi

$(REVEAL): slides/package.json slides/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make slides: npm is needed for reveal.js (install Node.js and npm, or Quarto)"; exit 1; }
	cd slides && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

pdf: slides               ## PDF handouts of the decks (headless Chromium)
	$(PY) tools/pdf_slides.py

bench: $(STAMP)            ## the lecture's timing claims side by side -> bench/results/<backend>.json, .png
	$(PY) bench/run.py

lock:                      ## recompile requirements.txt from requirements.in
	@$(PYTHON) tools/lock.py

clean:                     ## remove what the build made, nothing committed
	rm -rf $(VENV) .pytest_cache tests/screenshots slides/node_modules slides/*.html slides/*.pdf slides/notebooks
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
