# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: run test bench lint format manage clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "RevOps Hub needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(VENV)/.installed
	$(PY) -m revops.devstack run

test: $(VENV)/.installed lint
	$(PY) -m revops.devstack test $(ARGS)

# Benchmarks print their figures; e.g. make bench ARGS=api_auth
bench: $(VENV)/.installed
	$(PY) -m revops.devstack bench $(ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# e.g. make manage ARGS="create_api_token --org acme --email admin@demo.revops"
manage: $(VENV)/.installed
	$(PY) -m revops.devstack manage $(ARGS)

clean:
	rm -rf $(VENV) var test-output
