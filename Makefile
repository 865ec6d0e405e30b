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
PY := .venv/bin/python
ENV ?= dev
PYTEST := $(PY) -m pytest

.PHONY: help install local test admin lint format typecheck unit integration infra e2e layer synth invoke events openapi bench bench-vectors eval clean

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

install: .venv/.installed ## install the locked dependencies into .venv

local: .venv/.installed ## run the whole system on 127.0.0.1:$PORT (default 3000)
	$(PY) -m local

test: lint typecheck ## lint, type-check and run every suite (unit, integration, infra, e2e)
	$(PYTEST) tests -q

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

layer: .venv/.installed ## build the dependency layer into build/layer (no Docker)
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

bench: .venv/.installed ## cold start and warm latency per function (docs/benchmarks.md)
	$(PY) -m tests.bench.cold_start

bench-vectors: .venv/.installed ## pgvector at 100,000 chunks: ingest, search (docs/benchmarks.md)
	$(PY) -m tests.bench.ingest
	$(PY) -m tests.bench.search

eval: .venv/.installed ## search quality on the labelled set, every embedder that runs here
	$(PY) -m tests.quality.search --thresholds

clean: ## remove build output and local state
	rm -rf build cdk.out .local .pytest_cache .mypy_cache .ruff_cache
