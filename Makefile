# `make run` serves the API and dashboard on 127.0.0.1:8008; `make test` runs every gate.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Two pytest workers (pytest-xdist), a test file per worker at a time: most tests wait on a
# live server or a subprocess, so two workers finish in about half the time on 2 cores.
# `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)

.PHONY: run test lint test-sqlite test-postgres bench clean

$(VENV)/.installed: pyproject.toml sdk/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The SDK distribution first: the server depends on it (its evaluation core).
	$(BIN)/pip install -q -e sdk/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e 'sdk/python[openfeature]' -e '.[test]'
	# gbstats (a reference implementation the stats tests compare against) pins numpy<2 and
	# pandas<2 but runs on today's: installed without its pins so it cannot downgrade them.
	$(BIN)/pip install -q nbformat packaging
	$(BIN)/pip install -q --no-deps 'gbstats==0.8.0'
	touch $@

run: $(VENV)/.installed
	$(BIN)/avsb serve --host 127.0.0.1 --port 8008

lint: $(VENV)/.installed-test
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# The whole suite on SQLite, then the database-backed part again on a throwaway PostgreSQL,
# with the schemathesis run against a live server on each.
test: lint
	$(BIN)/pytest $(XDIST) $(PYTEST_ARGS)
	$(BIN)/python scripts/throwaway_pg.py -- $(MAKE) --no-print-directory test-postgres

# On PostgreSQL the schemathesis run makes 10 examples per operation and phase (25 on SQLite)
# and the SDK parity test asks about 2,000 units (10,000 on SQLite): what they check beyond the
# database is the same on both, and at full size they took 8.5 of the 32 minutes of this half.
test-postgres:
	AVSB_TEST_DATABASE_URL=$$AVSB_TEST_PG_URL AVSB_TEST_EVENTS_PG_URL=$$AVSB_TEST_PG_DSN \
	AVSB_SCHEMATHESIS_EXAMPLES=$${AVSB_SCHEMATHESIS_EXAMPLES:-10} \
	AVSB_SDK_PARITY_UNITS=$${AVSB_SDK_PARITY_UNITS:-2000} \
		$(BIN)/pytest tests/integration $(XDIST) $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .avsb .pytest_cache .mypy_cache .ruff_cache
