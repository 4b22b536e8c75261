# Two commands from a fresh clone: `make demo` and `make test`.
# Each creates .venv when it is missing and installs the package with its
# dependencies from pyproject.toml (the one list). Re-installs only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ltxbench-installed

.PHONY: demo test bench install clean-runs

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ltxbench needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --progress-bar off -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ltxbench demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	@set -e; for script in benchmarks/*.py; do \
		echo "== $$script"; $(BIN)/python $$script; \
	done

clean-runs:
	find runs -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
