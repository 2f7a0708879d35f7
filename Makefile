# The project's verbs; the real work is in tools/ and data/.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done

.PHONY: setup test lab data execute slides pdf bench lock clean

setup: $(STAMP)            ## the virtual environment, the lock and the kernel

$(STAMP): requirements.txt tools/setup_env.py
	@$(PYTHON) tools/setup_env.py
	@touch $@

test: $(STAMP)             ## nbval over every notebook, then the project's own tests
	$(PY) -m pytest -n 2 --dist loadfile

lab: $(STAMP)              ## JupyterLab with the lecture's kernel (loopback, token)
	$(VENV)/bin/jupyter lab notebooks

data: $(STAMP)             ## regenerate data/ridge.csv (byte for byte)
	$(PY) data/generate_ridge.py

execute: $(STAMP)          ## re-execute every notebook in place after a deliberate change
	$(PY) tools/execute.py

lock:                      ## recompile requirements.txt from requirements.in
	@$(PYTHON) tools/lock.py

clean:                     ## remove what the build made, nothing committed
	rm -rf $(VENV) .pytest_cache tests/screenshots
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
