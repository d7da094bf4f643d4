# One entry point for developers and CI. `make test` builds everything it needs from a bare
# Python 3.11 + Node.js machine: the virtual environment, the pinned npm tools, then the checks.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PIPELINE := $(PY) -m scripts.pipeline
export PATH := $(abspath $(BIN)):$(PATH)
export REDOCLY_TELEMETRY := off
export REDOCLY_SUPPRESS_UPDATE_NOTICE := true

.PHONY: install test lint typecheck pytest docs generate normalize fetch update check-generated drift bench demo clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml scripts/package.json scripts/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet -e ".[emulator]" --group dev
	cd scripts && npm ci --no-audit --no-fund --loglevel=error
	touch $(INSTALLED)

## The whole gate CI runs: generated code in step with specs/, linters, types, tests, the docs site.
test: install check-generated lint typecheck pytest docs

lint: install
	$(BIN)/ruff check scp_async scripts tests examples
	$(BIN)/ruff format --check scp_async scripts tests examples

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -q

## The API reference site (mkdocs-material + mkdocstrings), strict: a broken reference fails. Offline, ~15 s.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir .cache/site

## Regenerate every client from the committed specs/ (the main job until the demo exists).
generate: install
	$(PIPELINE) generate

## Fetch upstream documents (cache only) and rewrite specs/ from them.
fetch: install
	$(PIPELINE) fetch

normalize: install
	$(PIPELINE) normalize

## fetch + normalize + generate; an API's spec and code change only if all three succeed for it.
update: install
	$(PIPELINE) all

check-generated: install
	$(PIPELINE) check

drift: install
	$(PIPELINE) drift

## The main job: a tour of an emulated global account (no account, network or configuration needed).
demo: install
	$(BIN)/scp-async demo

bench: install
	$(PY) -m scripts.bench

clean:
	rm -rf $(VENV) scripts/node_modules .cache .pytest_cache .mypy_cache .ruff_cache
