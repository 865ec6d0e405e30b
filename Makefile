# One target per everyday task. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := python3 -m uv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= python3
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# Node 20 is past its end of life for jsii; it still works (platform notes). Quiet the banner.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# Next.js would report usage to its servers; nothing leaves this machine.
export NEXT_TELEMETRY_DISABLED := 1
PY := .venv/bin/python
ENV ?= dev
PYTEST := $(PY) -m pytest

.PHONY: help install local test admin lint format typecheck unit integration infra e2e layer synth invoke events openapi bench bench-vectors eval clean web web-install web-build web-check client client-check browser

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen
	@# aws-cdk-lib and aws-cdk.cloud-assembly-schema both ship aws_cdk/cloud_assembly_schema;
	@# aws-cdk-lib's copy must win, whatever order the parallel install took.
	$(UV) sync --frozen --reinstall-package aws-cdk-lib --quiet
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: .venv/.installed ## install the locked dependencies into .venv

web-install: web/node_modules/.installed ## install the web app's locked Node packages (web/node_modules)

local: .venv/.installed ## run the whole system on 127.0.0.1:$PORT (default 3000)
	$(PY) -m local

test: lint typecheck web-check ## lint, type-check and run every suite (unit, integration, infra, e2e, browser)
	$(PYTEST) tests -q
	$(MAKE) --no-print-directory browser

lint: .venv/.installed ## ruff lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	.venv/bin/lint-imports --no-cache

format: .venv/.installed ## apply ruff's fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

typecheck: .venv/.installed ## mypy (strict) over the code
	$(PY) -m mypy shared functions local infra layers

unit: .venv/.installed ## unit tests only (no I/O)
	$(PYTEST) tests/unit -q

integration: .venv/.installed ## integration tests (real Postgres and Redis, moto)
	$(PYTEST) tests/integration -q

infra: .venv/.installed ## infrastructure tests (CDK assertions)
	$(PYTEST) tests/infra -q

e2e: .venv/.installed ## end-to-end tests through the local runner over HTTP
	$(PYTEST) tests/e2e -q

layer: .venv/.installed ## build the shared layer into build/layer and the package layers beside it (no Docker); prints their sizes
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(PY) -m layers.build

synth: layer node_modules/.installed ## synthesize the CDK app into cdk.out/ (ENV=dev|prod)
	PATH="$(CURDIR)/.venv/bin:$$PATH" npx cdk synth -c env=$(ENV) --quiet

invoke: .venv/.installed ## run one handler against moto: make invoke FN=system-health EVENT=events/system-health.json
	@test -n "$(FN)" || { echo "usage: make invoke FN=<function> EVENT=events/<file>.json"; exit 2; }
	$(PY) -m local.invoke $(FN) $(or $(EVENT),events/$(FN).json)

admin: .venv/.installed ## create an admin in the local database: make admin EMAIL=a@b.c PASSWORD=...
	@$(PY) -m local.admin "$(EMAIL)" "$(PASSWORD)"

events: .venv/.installed ## regenerate events/ from the registry
	$(PY) -m local.events

openapi: .venv/.installed ## regenerate docs/openapi.json from the registry
	$(PY) -m functions.openapi

CLIENT := web/src/api/schema.d.ts
OPENAPI_TS := cd web && npx --no-install openapi-typescript ../docs/openapi.json

client: web/node_modules/.installed ## regenerate the typed client (web/src/api/schema.d.ts) from docs/openapi.json
	$(OPENAPI_TS) -o src/api/schema.d.ts

client-check: web/node_modules/.installed ## fail when the typed client drifts from docs/openapi.json
	@fresh=$$(mktemp -d) && trap 'rm -rf "$$fresh"' EXIT && \
	  ( $(OPENAPI_TS) -o "$$fresh/schema.d.ts" >/dev/null ) && \
	  if diff -u $(CLIENT) "$$fresh/schema.d.ts" >/dev/null; then \
	    echo "typed client: $(CLIENT) matches docs/openapi.json"; \
	  else echo "! $(CLIENT) drifted from docs/openapi.json: run make client"; exit 1; fi

web-check: client-check ## the typed client is current and the web app type-checks (tsc --noEmit)
	cd web && npx --no-install tsc --noEmit

web-build: web/node_modules/.installed ## export the web app as static files into web/out
	cd web && npx --no-install next build

web: .venv/.installed web-build ## build the web app and serve it with the whole system on 127.0.0.1:$PORT
	WEB_DIR="$(CURDIR)/web/out" $(PY) -m local

browser: .venv/.installed web-build ## browser tests: Playwright drives the system's Chromium against local runners
	@test -x "$${CHROMIUM:-/usr/bin/chromium}" || { echo "! no Chromium: apt-get install -y chromium"; exit 1; }
	cd web && npx --no-install playwright test

bench: .venv/.installed ## cold starts, restores, warm latency beside the baselines; budget check (docs/benchmarks.md)
	$(PY) -m tests.bench.run
	$(PY) -m tests.bench.budget

bench-vectors: .venv/.installed ## pgvector at 100,000 chunks: ingest, search (docs/benchmarks.md)
	$(PY) -m tests.bench.ingest
	$(PY) -m tests.bench.search

eval: .venv/.installed ## search quality on the labelled set, every embedder that runs here
	$(PY) -m tests.quality.search --thresholds

clean: ## remove build output and local state
	rm -rf build cdk.out .local .pytest_cache .mypy_cache .ruff_cache web/out web/.next web/artifacts
