# Two commands on a fresh machine: `make run` (set up + serve) and `make test` (set up + all checks).
# durable-rules 2.0.28 imports on Python 3.11 and 3.12 only (not 3.13), and builds with gcc.
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do command -v $$p >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1

.PHONY: setup run test test-long lint examples bench bench-smoke wrk chromium clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v < (3, 13) else "need Python 3.11 or 3.12 (durable-rules does not import on %d.%d); set PYTHON=" % v)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,month]'
	touch $@

run: setup
	$(BIN)/bup-classifier serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

lint: setup
	$(BIN)/ruff check .

test: setup lint wrk chromium
	$(BIN)/pytest

test-long: setup lint chromium
	HYPOTHESIS_PROFILE=long $(BIN)/pytest

# wrk (Debian) drives the HTTP benchmarks; installed here when missing (root on these machines).
wrk:
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

# Debian's chromium for the workbench's browser test (Playwright drives it; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

bench: setup wrk
	$(BIN)/python bench/bench.py

bench-smoke: setup wrk
	$(BIN)/python bench/bench.py --smoke --out $${TMPDIR:-/tmp}/bench-smoke

examples: setup
	$(BIN)/bup-classifier examples

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts
