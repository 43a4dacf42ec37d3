# fscti — the two commands: `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fscti-installed
export REDIS_URL ?= redis://127.0.0.1:6379/0
export DATABASE_URL ?= sqlite:///$(CURDIR)/var/fscti.db
export TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
export FLASK_APP := app:create_app

.PHONY: run test test-fast soak bench migrate install redis clean-venv lint

install: $(STAMP)

# python-ESL 1.4.18 only builds with SWIG 3: put swig==3.0.12 (a PyPI wheel) in the venv
# first, then build python-ESL without build isolation so it sees that swig.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel swig==3.0.12
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pip install -q --no-build-isolation python-ESL==1.4.18
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

var:
	@mkdir -p var

redis: $(STAMP) var
	@$(BIN)/python scripts/ensure_redis.py "$(REDIS_URL)"

migrate: $(STAMP) var
	$(BIN)/flask db upgrade

# Every long-running Procfile process (`release` is the one-shot migration, done above).
# With no FreeSWITCH configured, the listener and workers aim at FreeSWITCH's own default
# event socket (127.0.0.1:8021, ClueCon) and wait for it, retrying.
PROCESSES := web console worker ingest beat listener flower
run: redis migrate
	@$(BIN)/flask mirror rebuild
	@$(BIN)/flask tokens bootstrap
	@if [ -z "$$FREESWITCH_ESL" ] && [ -z "$$FSCTI_CONFIG" ]; then \
	  export FREESWITCH_ESL=127.0.0.1:8021:ClueCon; \
	  echo "No FREESWITCH_ESL or FSCTI_CONFIG: using FreeSWITCH's default event socket 127.0.0.1:8021"; \
	fi; \
	export PROMETHEUS_MULTIPROC_DIR="$${PROMETHEUS_MULTIPROC_DIR:-$(CURDIR)/var/metrics}"; \
	mkdir -p "$$PROMETHEUS_MULTIPROC_DIR"; rm -f "$$PROMETHEUS_MULTIPROC_DIR"/*.db; \
	web="http://127.0.0.1:$${PORT:-5000}"; \
	echo "Where to look (docs/operations.md):"; \
	echo "  $$web/readyz            readiness: SQL, Redis, broker, listener, each node"; \
	echo "  $$web/api/v1/health     the same with queue depths (Authorization: Bearer <token>)"; \
	echo "  $$web/metrics           Prometheus metrics (clients in directory.allow)"; \
	echo "  $$web/docs              the API; Flower: http://127.0.0.1:$${FLOWER_PORT:-5555}"; \
	PATH="$(CURDIR)/$(BIN):$$PATH" exec $(BIN)/honcho start $(PROCESSES)

# The whole suite on SQLite; then again on TEST_DATABASE_URL when it is set (PostgreSQL in CI).
test: $(STAMP) var
	@$(BIN)/python scripts/ensure_redis.py "$(TEST_REDIS_URL)"
	@bash scripts/ensure_chromium.sh
	@bash scripts/ensure_sentinel.sh
	TEST_DATABASE_URL= $(BIN)/pytest $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== again on $$TEST_DATABASE_URL"; \
	  $(BIN)/pytest $(PYTEST_ARGS); \
	fi

# The edit-test loop: unit and API tests on SQLite, no process started (no `integration`).
test-fast: $(STAMP) var
	@$(BIN)/python scripts/ensure_redis.py "$(TEST_REDIS_URL)"
	TEST_DATABASE_URL= $(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

# A race hunt: the listener fault tests (or SOAK_TESTS) SOAK_ROUNDS times in a row with every
# core kept busy; stops at the first failing round (scripts/soak.sh).
SOAK_ROUNDS ?= 20
SOAK_TESTS ?= tests/integration/test_listener_faults.py
soak: $(STAMP) var
	@$(BIN)/python scripts/ensure_redis.py "$(TEST_REDIS_URL)"
	scripts/soak.sh $(SOAK_ROUNDS) $(SOAK_TESTS) $(PYTEST_ARGS)

bench: $(STAMP) var
	@$(BIN)/python scripts/ensure_redis.py "$(TEST_REDIS_URL)"
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
