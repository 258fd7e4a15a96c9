# The one interface: people and CI call the same targets.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := clients/js/node_modules/.installed
BROWSER_NODE_STAMP := tests/browser/node_modules/.installed

.PHONY: help install demo serve test test-external lint format validate build bench chaos fuzz clean

help:
	@echo "make demo      run the main job end to end on embedded defaults"
	@echo "make test      run the test suite (the client package's checks, unit, integration, e2e, browser)"
	@echo "make serve     the local stack on http://127.0.0.1:3000"
	@echo "make lint      ruff check, ruff format --check, mypy"
	@echo "make chaos     the fault-injection campaign (300 generations)"
	@echo "make bench     benchmarks against their floors -> docs/performance.md"
	@echo "make llm-eval  the Claude path's evaluation (real API via Message Batches, else the fake) -> docs/llm-eval.md"
	@echo "make program-report  test profiles x 4/8/12 weeks, validator mutations -> docs/program-quality.md"
	@echo "make fuzz      schemathesis against the local stack's OpenAPI (>= 1,000 requests)"
	@echo "make validate  sam validate --lint"
	@echo "make build     sam build (the arm64 layer and functions, no container)"
	@echo "make lock      regenerate requirements-dev.lock and shared/requirements.txt from pyproject.toml"
	@echo "make openapi   rewrite clients/js/openapi.json and the client's generated types after an API change"

$(STAMP): pyproject.toml requirements-dev.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=python3.x (3.11+)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

install: $(STAMP)

# The client package's development tools (TypeScript, openapi-typescript), exactly as
# clients/js/package-lock.json pins them.
$(NODE_STAMP): clients/js/package.json clients/js/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: install Node.js 18+ with npm"; exit 1; }
	cd clients/js && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# What the browser tests load into Chromium (React for the hook, axe-core), as
# tests/browser/package-lock.json pins them: outside clients/js, so an app that depends on that
# folder never meets a second React.
$(BROWSER_NODE_STAMP): tests/browser/package.json tests/browser/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: install Node.js 18+ with npm"; exit 1; }
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: $(STAMP)
	$(BIN)/tpg demo

serve: $(STAMP)
	$(BIN)/tpg serve

test: $(STAMP) $(NODE_STAMP) $(BROWSER_NODE_STAMP)
	$(MAKE) --no-print-directory test-js
	$(BIN)/pytest

# The client package (clients/js): its generated types current, `tsc --noEmit` over it, its Node tests.
.PHONY: test-js
test-js: $(NODE_STAMP)
	cd clients/js && npm run --silent check

# The OpenAPI document as a file (clients/js/openapi.json) and the client's types generated from it
# (tests/unit/test_openapi_file.py and `make test-js` fail while either is stale).
.PHONY: openapi
openapi: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m tpg_local.openapi_file --write
	cd clients/js && npm run --silent generate

# The integration and e2e suites against an external PostgreSQL server (CI runs this when one answers).
# Tests create and drop their own database on that server; they never touch the one named.
EXTERNAL_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
test-external: $(STAMP)
	DATABASE_URL=$(EXTERNAL_DATABASE_URL) $(BIN)/pytest tests/integration tests/e2e

# The same suites with the code under test connecting through a transaction-mode PgBouncer in front of
# that server (Debian's `pgbouncer`; infra/tpg_local/pgbouncer.py); the test databases are managed directly.
.PHONY: test-pgbouncer
test-pgbouncer: $(STAMP)
	DATABASE_URL=$(EXTERNAL_DATABASE_URL) $(BIN)/python -m tpg_local.pgbouncer -- $(BIN)/pytest tests/integration tests/e2e

# The static checks (also the pre-commit hooks, .pre-commit-config.yaml): lint, format, types.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .

# The fault-injection campaign (a report, not a timed test; a small run is part of `make test`).
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos.campaign --generations 300

# API fuzzing with schemathesis: >= 1,000 generated requests (`make test` runs a small share).
fuzz: $(STAMP)
	TPG_FUZZ_EXAMPLES=250 $(BIN)/pytest tests/e2e/test_api_fuzz.py -s -q

# Benchmarks against floors measured in the same run (tests/perf; not part of `make test`).
# BENCH_ARGS=--quick for a smoke run, --build to include the built layer's size.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m tests.perf.bench $(BENCH_ARGS)

# The Claude path's pre-launch evaluation: every demo persona x 4/12 weeks per model and effort through
# Message Batches (the real API with ANTHROPIC_API_KEY set; otherwise the local fake, and the report says
# so) -> docs/llm-eval.md. LLM_EVAL_ARGS="--efforts low,medium,high" to choose.
.PHONY: llm-eval
llm-eval: $(STAMP)
	$(BIN)/python -m tests.perf.llm_eval $(LLM_EVAL_ARGS)

# SAM CLI lives in its own venv outside the repository (pinned; installed on first use).
validate:
	bash infra/sam_tools.sh validate

build:
	bash infra/sam_tools.sh build

# The lock files (with hashes) from pyproject.toml: requirements-dev.lock (`make install`) and
# shared/requirements.txt (the layer). Keeps current pins; UPGRADE=1 or UPGRADE_PACKAGE=name to move them.
.PHONY: lock
lock:
	$(PYTHON) infra/lock.py $(if $(UPGRADE),--upgrade) $(if $(UPGRADE_PACKAGE),--upgrade-package=$(UPGRADE_PACKAGE))

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache .mypy_cache

# The schema as a document: migrations/snapshot/schema.sql, dumped from a database the migrations
# build (on DATABASE_URL's server, else the embedded one). Run after adding a migration; commit both.
.PHONY: schema
schema: $(STAMP)
	$(BIN)/python -m tpg_local.schema --write

# The program-quality report: every test profile at 4, 8 and 12 weeks through `tpg program`'s functions,
# plus the validator's mutation corpus (tests/program_quality) -> docs/program-quality.md.
.PHONY: program-report
program-report: $(STAMP)
	$(BIN)/python -m tests.program_quality.report

# Checks an environment of samconfig.toml before `sam deploy`: placeholders, secret ARNs, alarm e-mail,
# issuer, concurrency; with AWS credentials also that each secret exists and the database answers.
.PHONY: preflight
preflight: $(STAMP)
	@test -n "$(ENV)" || { echo "make preflight ENV=dev|prod"; exit 2; }
	$(BIN)/python -m tpg_local.preflight --env $(ENV) $(PREFLIGHT_ARGS)

# The integration and e2e suites with the code under test logging in as a member of the application
# role tpg_app (not the owner of the tables; tests/conftest.py, TPG_TEST_APP_ROLE); the test databases
# are created, migrated and inspected as the owner. On EXTERNAL_DATABASE_URL's server when set here.
.PHONY: test-app-role
test-app-role: $(STAMP)
	TPG_TEST_APP_ROLE=1 DATABASE_URL=$(EXTERNAL_DATABASE_URL) $(BIN)/pytest tests/integration tests/e2e
