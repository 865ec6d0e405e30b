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
# Some shells (this project's CI machines among them) set PYTHONDONTWRITEBYTECODE: every Python
# process would then compile every module it imports from source, every time (the test suite
# starts hundreds). Bytecode caches are ignored by git and excluded from every asset.
unexport PYTHONDONTWRITEBYTECODE
ENV ?= dev
PYTEST := $(PY) -m pytest
# `make test` spreads the suites over JOBS pytest-xdist workers (the CDK suite stays on one);
# JOBS=1 runs them in this process, in order.
JOBS ?= 2

.PHONY: help install local test admin lint format typecheck unit integration infra e2e layer synth invoke events openapi bench bench-vectors eval load clean webhook-listen web web-install web-build web-check client client-check browser fuzz

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

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
	$(PYTEST) tests -q $(if $(filter-out 1,$(JOBS)),-n $(JOBS) --dist loadgroup)
	$(MAKE) --no-print-directory browser

lint: .venv/.installed ## ruff lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	.venv/bin/lint-imports --no-cache

format: .venv/.installed ## apply ruff's fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

typecheck: .venv/.installed ## mypy (strict) over the code
	$(PY) -m mypy shared functions local infra layers ops

unit: .venv/.installed ## unit tests only (no I/O)
	$(PYTEST) tests/unit -q

integration: .venv/.installed ## integration tests (real Postgres and Redis, moto)
	$(PYTEST) tests/integration -q

infra: .venv/.installed ## infrastructure tests (CDK assertions)
	$(PYTEST) tests/infra -q

e2e: .venv/.installed ## end-to-end tests through the local runner over HTTP
	$(PYTEST) tests/e2e -q

fuzz: .venv/.installed ## schemathesis, every check and phase, 5 minutes a role (member, admin, viewer)
	FUZZ_SECONDS=$${FUZZ_SECONDS:-300} FUZZ_ROLES=member,admin,viewer $(PYTEST) tests/e2e/test_hostile_input.py -q -k "schemathesis or log_line"

layer: .venv/.installed ## build the shared layer into build/layer and the package layers beside it (no Docker); prints their sizes
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(PY) -m layers.build

synth: layer node_modules/.installed ## synthesize the CDK app into cdk.out/ (ENV=dev|prod)
	PATH="$(CURDIR)/.venv/bin:$$PATH" npx cdk synth -c env=$(ENV) --quiet

webhook-listen: .venv/.installed ## a webhook receiver on 127.0.0.1:$WEBHOOK_PORT (9000) verifying WEBHOOK_SECRET's signatures
	$(PY) -m local.webhook_listen

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

load: .venv/.installed ## mixed load (sign-ups, logins, uploads, searches) on a fresh local runner: LOAD_SECONDS=60 LOAD_USERS=8
	$(PY) -m tests.load --seconds $${LOAD_SECONDS:-60} --users $${LOAD_USERS:-8}

# ---- operations (docs/operations/runbooks/): the local runner by default, STAGE=dev|prod for a
# deployed stage (AWS credentials from the environment; names from the stack outputs) ----
OPS := $(PY) -m ops

redrive: .venv/.installed ## move a dead-letter queue's messages back: make redrive QUEUE=ingest
	@test -n "$(QUEUE)" || { echo "usage: make redrive QUEUE=<queue> [STAGE=dev|prod]"; exit 2; }
	@$(OPS) redrive $(QUEUE)

dead-letters: .venv/.installed ## how many messages each dead-letter queue holds
	@$(OPS) dead-letters

stuck-documents: .venv/.installed ## documents queued or processing too long; REQUEUE=1 sends their S3 events again
	@$(OPS) stuck-documents $(if $(REQUEUE),--requeue)

reindex: .venv/.installed ## rebuild the vector index from the chunks in Postgres (no search downtime)
	@$(OPS) reindex

rotate-signing-key: .venv/.installed ## add a new current token signing key (old tokens stay valid)
	@$(OPS) rotate-signing-key

rotate-cursor-key: .venv/.installed ## add a new current pagination cursor key
	@$(OPS) rotate-cursor-key

retire-signing-keys: .venv/.installed ## keep only the current signing key (after the old tokens expired)
	@$(OPS) retire-signing-keys

retire-cursor-keys: .venv/.installed ## keep only the current cursor key
	@$(OPS) retire-cursor-keys

trace: .venv/.installed ## every log line, message and row of one request: make trace REQUEST_ID=...
	@test -n "$(REQUEST_ID)" || { echo "usage: make trace REQUEST_ID=<id> [STAGE=dev|prod]"; exit 2; }
	@$(OPS) trace $(REQUEST_ID)

backup: .venv/.installed ## back up the database and the files (local: into .local/backups/)
	@$(OPS) backup

restore: .venv/.installed ## restore: make restore FROM=<backup folder> (local) | FROM=<ISO time>|latest (deployed)
	@test -n "$(FROM)" || { echo "usage: make restore FROM=<backup folder | ISO time | latest>"; exit 2; }
	@$(OPS) restore $(FROM)

dr-drill: .venv/.installed ## rehearse a disaster: back up, destroy, restore, verify; prints RTO and data loss
	@$(OPS) dr-drill

clean: ## remove build output and local state
	rm -rf build cdk.out .local .pytest_cache .mypy_cache .ruff_cache web/out web/.next web/artifacts
