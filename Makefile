# tradesim: every command a person or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLCHAIN := $(shell sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
WASM_TARGET := wasm32-unknown-unknown
CARGO ?= cargo

.PHONY: help setup guest fmt lint test bench replay-example host dev

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: ## Install what the build needs (idempotent): the pinned toolchain, rustfmt, clippy, the wasm target
	@rustup toolchain list | grep -q "^$(TOOLCHAIN)" || rustup toolchain install $(TOOLCHAIN) --profile minimal
	@rustup component list --toolchain $(TOOLCHAIN) --installed | grep -q '^rustfmt' || rustup component add rustfmt --toolchain $(TOOLCHAIN)
	@rustup component list --toolchain $(TOOLCHAIN) --installed | grep -q '^clippy' || rustup component add clippy --toolchain $(TOOLCHAIN)
	@rustup target list --toolchain $(TOOLCHAIN) --installed | grep -q '^$(WASM_TARGET)$$' || rustup target add $(WASM_TARGET) --toolchain $(TOOLCHAIN)

guest: setup ## Build the engine's WebAssembly guest (release)
	CARGO_PROFILE_RELEASE_STRIP=debuginfo $(CARGO) build --locked -p tradesim-guest --target $(WASM_TARGET) --release

fmt: setup ## Format the code
	$(CARGO) fmt --all

lint: setup ## rustfmt check and clippy with warnings denied (native and wasm)
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) clippy --locked -p tradesim-guest --target $(WASM_TARGET) -- -D warnings

test: lint guest ## Everything CI checks: lint, then every test
	$(CARGO) test --locked --workspace

bench: guest ## Benchmarks: engine (native vs wasm), sandbox start-up and memory, host round trip/resume/density, local gateway
	$(CARGO) bench --locked -p tradesim-guest --bench engine
	$(CARGO) bench --locked -p tradesim-sandbox
	$(CARGO) bench --locked -p tradesim-host --bench host
	$(CARGO) bench --locked -p tradesim-devstack --bench gateway

replay-example: setup ## Replay the example command stream and print its events
	$(CARGO) run --locked -q -p tradesim-replay -- engine-wasm/replay/examples/basic.jsonl

host: guest ## Run one simulator host on 127.0.0.1:8090 against the local PostgreSQL (database tradesim)
	@psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname = 'tradesim'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "create database tradesim"
	TRADESIM_SERVICE_TOKEN=$${TRADESIM_SERVICE_TOKEN:-dev-service-token} \
	TRADESIM_TICKET_SECRET=$${TRADESIM_TICKET_SECRET:-dev-ticket-secret} \
	TRADESIM_GUEST_WASM=$${TRADESIM_GUEST_WASM:-$(or $(CARGO_TARGET_DIR),target)/$(WASM_TARGET)/release/tradesim_guest.wasm} \
	$(CARGO) run --locked --release -p tradesim-host

dev: guest ## Run the whole system locally (database, simulator hosts, local API gateway, SPA) at http://127.0.0.1:8080
	$(CARGO) build --locked --release -p tradesim-host -p tradesim-devstack
	$(or $(CARGO_TARGET_DIR),target)/release/tradesim-dev

# ---- the SPA (frontend/, docs/frontend.md) ----
.PHONY: frontend frontend-size frontend-test ts-check ts-generate chromium e2e
FRONTEND_SOURCES := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/scripts -type f 2>/dev/null)

test: ts-check frontend-test e2e
dev: frontend
bench: frontend-size

frontend/node_modules/.installed: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

frontend/dist/index.html: frontend/node_modules/.installed $(FRONTEND_SOURCES)
	cd frontend && npm run build

frontend: frontend/dist/index.html ## Build the SPA into frontend/dist (when stale) and print its initial JavaScript size

frontend-size: frontend ## The SPA's initial JavaScript, gzipped (the budget is 250 KB)
	cd frontend && node scripts/bundle-size.mjs

frontend-test: frontend/node_modules/.installed ## The SPA's format check (prettier), typecheck (tsc) and unit tests (vitest)
	cd frontend && npx prettier --check . && npx tsc --noEmit -p tsconfig.json && npx vitest run

ts-check: setup ## Fail if frontend/src/protocol/generated differs from what the Rust types generate
	$(CARGO) test --locked -p tradesim-control --features ts --test typescript

ts-generate: setup ## Regenerate frontend/src/protocol/generated from the Rust types (ts-rs)
	TRADESIM_WRITE_TS=1 $(CARGO) test --locked -p tradesim-control --features ts --test typescript

chromium: ## Debian's Chromium for the browser tests (idempotent)
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

e2e: guest frontend chromium ## Browser tests: the SPA in Chromium against a real tradesim-dev; screenshots and figures in frontend/e2e/artifacts
	$(CARGO) build --locked -p tradesim-host -p tradesim-devstack
	cd frontend && npx vitest run --config vitest.e2e.config.ts

# ---- AWS (infra/, localstack/, docs/deploy.md) ----
.PHONY: moto infra-test package deploy destroy
# moto for the AWS adapters' contract tests; cargo-lambda (it brings zig) for packaging the Lambdas.
MOTO_VERSION := 5.2.1
CARGO_LAMBDA_VERSION := 1.9.2
LAMBDA_TARGET := aarch64-unknown-linux-gnu
LAMBDAS := auth sessions simulators ws-connect ws-disconnect ws-message
LAMBDA_DIR := $(or $(CARGO_TARGET_DIR),target)/lambda

test: moto infra-test

moto: ## Install moto_server, pinned, for the AWS adapters' contract tests (idempotent)
	@python3 -c "import importlib.metadata as m, flask_cors; assert m.version('moto') == '$(MOTO_VERSION)'" 2>/dev/null \
		|| python3 -m pip install --quiet 'moto[server]==$(MOTO_VERSION)'

infra/node_modules/.installed: infra/package-lock.json
	cd infra && npm ci --no-audit --no-fund
	@touch $@

infra-test: infra/node_modules/.installed ## The CDK app's tests: typecheck, synthesize offline, assert on the template
	cd infra && npx tsc --noEmit && npx vitest run

package: setup ## Build every Lambda for arm64 as a zip (cargo lambda) and print the sizes
	@python3 -m pip show cargo-lambda 2>/dev/null | grep -qx 'Version: $(CARGO_LAMBDA_VERSION)' \
		|| python3 -m pip install --quiet 'cargo-lambda==$(CARGO_LAMBDA_VERSION)'
	@rustup target list --toolchain $(TOOLCHAIN) --installed | grep -qx '$(LAMBDA_TARGET)' \
		|| rustup target add $(LAMBDA_TARGET) --toolchain $(TOOLCHAIN)
	$(CARGO) lambda build --locked --release --arm64 --output-format zip --lambda-dir $(LAMBDA_DIR) \
		$(foreach f,$(LAMBDAS),-p tradesim-fn-$(f))
	@for f in $(LAMBDAS); do printf '  %-14s %8d bytes  %s\n' $$f $$(stat -c %s $(LAMBDA_DIR)/$$f/bootstrap.zip) $(LAMBDA_DIR)/$$f/bootstrap.zip; done

deploy: infra/node_modules/.installed package ## Deploy to the AWS account of your credentials (docs/deploy.md)
	cd infra && npx cdk deploy --require-approval never $(if $(ORIGINS),-c allowedOrigins=$(ORIGINS))

destroy: infra/node_modules/.installed ## Remove everything `make deploy` created (docs/deploy.md)
	cd infra && npx cdk destroy --force

# ---- the load and chaos run (loadtest/, docs/loadtest/report.md) ----
.PHONY: loadtest
USERS ?= 1000
DURATION ?= 120

loadtest: guest ## Load and chaos run of the whole local stack (USERS=1000 DURATION=120); report in docs/loadtest; fails on any loss or duplicate
	$(CARGO) build --locked --release -p tradesim-host -p tradesim-devstack -p tradesim-loadtest
	$(or $(CARGO_TARGET_DIR),target)/release/tradesim-loadtest --users $(USERS) --duration $(DURATION)
