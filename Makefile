# Two commands on a fresh machine: `make run` (set up + serve) and `make test` (set up + all checks).
# durable-rules 2.0.28 imports on Python 3.11 and 3.12 only (not 3.13), and builds with gcc.
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do command -v $$p >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1

.PHONY: setup run test test-fast test-long fuzz lint docs doctools examples bench bench-smoke wrk chromium axe postgresql clean

# Debian packages, installed only when missing (root on these machines; CI starts from a bare Debian).
APT_INSTALL = { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; }

# setup: everything (the project, its test tools and every extra); make run needs only the service's part.
setup: $(VENV)/.installed

$(VENV)/.created:
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v < (3, 13) else "need Python 3.11 or 3.12 (durable-rules does not import on %d.%d); set PYTHON=" % v)'
	@# durable-rules builds from source: gcc and Python's headers; venv needs ensurepip (python3.x-venv on Debian)
	@command -v gcc >/dev/null 2>&1 || $(call APT_INSTALL,gcc)
	@$(PYTHON) -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
		|| $(call APT_INSTALL,$(notdir $(PYTHON))-dev)
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || $(call APT_INSTALL,$(notdir $(PYTHON))-venv)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	touch $@

# Serving and classifying only (no rich, matplotlib, benchmark peers or test tools).
$(VENV)/.serve: pyproject.toml | $(VENV)/.created
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed: pyproject.toml | $(VENV)/.created
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.serve

run: $(VENV)/.serve
	$(BIN)/bup-classifier serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

lint: setup
	$(BIN)/ruff check .

test: setup lint wrk chromium axe postgresql doctools
	$(BIN)/pytest

# The inner loop: everything but the tests marked slow (browser, real server, schemathesis, wheel install,
# mutation, benchmark smoke run). CI and `make test` run them all.
test-fast: setup lint
	$(BIN)/pytest -m "not slow"

test-long: setup lint chromium axe postgresql
	HYPOTHESIS_PROFILE=long $(BIN)/pytest

# Explore the HTTP contract with fresh schemathesis seeds (CI runs one fixed seed); FUZZ_SECONDS per run.
FUZZ_SECONDS ?= 600
fuzz: setup
	BUP_FUZZ_SEED=random BUP_FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/pytest tests/test_server.py -k schemathesis

# The docs: mkdocs-material builds docs/ into site/ offline; the pages' shown commands use curl and jq (tests/test_docs.py).
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

doctools:
	@command -v curl >/dev/null 2>&1 && command -v jq >/dev/null 2>&1 || $(call APT_INSTALL,curl jq)

# wrk (Debian) drives the HTTP benchmarks; installed here when missing (root on these machines).
wrk:
	@command -v wrk >/dev/null 2>&1 || $(call APT_INSTALL,wrk)

# Debian's chromium for the workbench's browser test (Playwright drives it; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || $(call APT_INSTALL,chromium)

# axe-core (npm) for the workbench's accessibility check, into the venv: a test-only location.
AXE := $(VENV)/node/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE): | setup
	@command -v npm >/dev/null 2>&1 || $(call APT_INSTALL,npm)
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node axe-core@4

# Debian's PostgreSQL server for the decision-log tests and bench (the tests initdb and start their own, on loopback).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

bench: setup wrk postgresql
	$(BIN)/python bench/bench.py

bench-smoke: setup wrk
	$(BIN)/python bench/bench.py --smoke --out $${TMPDIR:-/tmp}/bench-smoke

examples: setup
	$(BIN)/bup-classifier examples

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts site
