# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# GraphiQL is bundled from pinned npm packages (web/graphiql/package-lock.json), never a CDN.
GRAPHIQL_SRC := web/graphiql
GRAPHIQL_BUNDLE := graphql_api/static/graphiql/graphiql.js

.PHONY: install graphiql run test lint bench format clean cluster cluster-stop

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

GRAPHIQL_MODULES := $(GRAPHIQL_SRC)/node_modules/.package-lock.json

$(GRAPHIQL_MODULES): $(GRAPHIQL_SRC)/package-lock.json
	cd $(GRAPHIQL_SRC) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(GRAPHIQL_BUNDLE): $(GRAPHIQL_MODULES) $(GRAPHIQL_SRC)/build.mjs $(wildcard $(GRAPHIQL_SRC)/src/*)
	cd $(GRAPHIQL_SRC) && node build.mjs

graphiql: $(GRAPHIQL_BUNDLE)

install: $(STAMP) $(GRAPHIQL_BUNDLE)

run: install
	$(BIN)/loan-offers migrate
	$(BIN)/loan-offers seed
	$(BIN)/loan-offers serve

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# Whole benchmark: a few minutes per run. Quick look: BENCH_DURATION=10 BENCH_RUNS=1 make bench
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# A local production-shaped cluster (no Docker): PostgreSQL, Redis, 2 replicas, nginx on :8080.
cluster: $(STAMP)
	$(BIN)/python -m deploy.cluster start

cluster-stop: $(STAMP)
	$(BIN)/python -m deploy.cluster stop

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis $(GRAPHIQL_SRC)/node_modules graphql_api/static/graphiql
