# Two commands from a fresh clone: `make demo` and `make test`.
# Each creates .venv when it is missing and installs exactly the versions in uv.lock (hashes
# checked), the package itself in editable mode. pyproject.toml declares the compatible ranges;
# uv.lock pins what the project is tested with. Re-installs when either file changes.
# uv itself comes from PyPI, pinned by hash (requirements-bootstrap.txt), into .tools/.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ltxbench-installed
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
# uv must not fetch a Python of its own or read a user's uv.toml: the interpreter is $(PYTHON).
UV_ENV := UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1
EXPORT_FLAGS := --frozen --quiet --no-hashes --no-emit-project --no-header --extra dev

.PHONY: demo test bench lab install lock check-lock clean-runs

install: $(STAMP)

$(UV): requirements-bootstrap.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ltxbench needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --only-binary=:all: -r requirements-bootstrap.txt
	@touch $(UV)

$(STAMP): pyproject.toml uv.lock setup.py $(UV)
	$(UV_ENV) $(UV) sync --locked --extra dev --python $(PYTHON)
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ltxbench demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# JupyterLab with encrypted kernel connections (CurveZMQ keys provisioned by jupyter_client, as the
# stage runs use): ipykernel then has no "running over TCP without encryption" to warn about.
lab: $(STAMP)
	$(BIN)/jupyter lab --KernelManager.transport_encryption=auto

# A GPU script exits 2 on a machine without one (it says so): that is a skip, not a failure.
bench: $(STAMP)
	@for script in benchmarks/*.py; do \
		echo "== $$script"; $(BIN)/python $$script; status=$$?; \
		if [ $$status -eq 2 ]; then echo "   (skipped: needs a GPU)"; elif [ $$status -ne 0 ]; then exit $$status; fi; \
	done

# Refresh the lock: newest versions pyproject.toml allows (then run `make test` and commit both files).
# requirements.lock.txt is the same pins for pip (environment.yml, conda); a test keeps it equal to uv.lock.
lock: $(UV)
	$(UV_ENV) $(UV) lock --upgrade --python $(PYTHON)
	$(UV_ENV) $(UV) export $(EXPORT_FLAGS) --output-file requirements.lock.txt

# Fails when pyproject.toml and uv.lock disagree (also checked by `uv sync --locked` and a test).
check-lock: $(UV)
	$(UV_ENV) $(UV) lock --check --python $(PYTHON)

clean-runs:
	find runs -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
