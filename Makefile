# tradesim: every command a person or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLCHAIN := $(shell sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
WASM_TARGET := wasm32-unknown-unknown
CARGO ?= cargo

.PHONY: help setup guest fmt lint test bench replay-example dev

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

bench: guest ## Benchmarks: matching throughput native vs wasm, background market, snapshot/restore
	$(CARGO) bench --locked -p tradesim-guest --bench engine

replay-example: setup ## Replay the example command stream and print its events
	$(CARGO) run --locked -q -p tradesim-replay -- engine-wasm/replay/examples/basic.jsonl

dev: ## Run the whole system locally (arrives with the local stack)
	@echo "make dev: the local stack (control plane, simulator hosts, gateway, SPA) is not built yet."
	@echo "What exists today is the exchange engine: try 'make test', 'make bench' or 'make replay-example'."
