# Two commands on a fresh machine: `make demo` (the whole system on embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install demo test test-long browser tools bench-tools bench bench-quick clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# System tools the suite drives for real: Chromium (browser tests) and the PostgreSQL client binaries
# (pg_dump/pg_restore against the machine's server). Installed with apt when missing and we are root; otherwise the
# browser tests are skipped with the reason, and dbapi tests use pgserver's own binaries.
tools:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v pg_dump >/dev/null || missing="$$missing postgresql-client"; \
	command -v monit >/dev/null || missing="$$missing monit"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing:$$missing (not root: the tests that need them will be skipped with a reason)"; fi; \
	fi

test: install tools
	$(BIN)/pytest $(PYTEST_ARGS)

# The long campaigns: the start races with more rounds (RACE_ROUNDS), the fault campaign with more rounds (FAULT_SEED=<n> replays one; figures in
# bench/results/faults.json), the fuzzers and schemathesis with many more examples (HYPOTHESIS_PROFILE=long).
FAULT_ROUNDS ?= 12
test-long: install tools
	@mkdir -p bench/results
	FAULT_ROUNDS=$(FAULT_ROUNDS) FAULT_REPORT=bench/results/faults.json HYPOTHESIS_PROFILE=long RACE_ROUNDS=3 \
	  $(BIN)/pytest tests/faults tests/fuzz tests/api/test_schemathesis.py tests/dbapi/test_schemathesis.py \
	  tests/dbapi/test_concurrent_start.py tests/test_concurrent_migrations.py $(PYTEST_ARGS)

demo: install
	$(BIN)/python scripts/demo.py

# The load generator of the page benchmarks (bench/common.py falls back to a slower Python client without it).
bench-tools: tools
	@command -v wrk >/dev/null || { if [ "$$(id -u)" = 0 ]; then echo "installing: wrk"; \
	  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "missing: wrk (not root: the page benchmarks use the Python client)"; fi; }

# Benchmarks: figures and ratios, never assertions (docs/performance.md). Both write bench/results/latest.json.
bench: install bench-tools
	$(BIN)/python bench/run.py --full

bench-quick: install bench-tools
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf instance .pytest_cache
