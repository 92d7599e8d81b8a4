# The two commands a newcomer needs: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install bench clean live-demo

# Re-install whenever the dependencies or the package list change.
$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(STAMP)

## make run: set up and run the whole stack in paper mode until Ctrl-C (PORT, default 8000)
run: $(STAMP)
	$(BIN)/dhl run

## make live-demo: the live path offline, in one command: a live long and short opened and
## closed against a local sandbox chain (docs/live.md); make run stays in paper mode
live-demo: $(STAMP)
	$(BIN)/dhl live-demo

## make test: ruff, mypy (every package but app, dhl, indexer, stack), the MongoDB conformance
## tests, then everything else
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest tests/conformance -q
	$(BIN)/python -m pytest tests -q --ignore=tests/conformance

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis *.egg-info
