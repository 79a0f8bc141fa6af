# edgeauth developer entry points. `make dev` and `make test` install or check
# their prerequisites first (scripts/setup.sh).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
export PATH := $(HOME)/.cargo/bin:$(PATH)

# What the end-to-end harness in tests/ needs to start the real stack.
# NODE_BIN_DIR is read at run time: scripts/setup.sh writes it.
E2E_ENV = EDGEAUTH_NODE_BIN_DIR="$$(cat $(ROOT)/.dev/node-bin-dir)" \
	EDGEAUTH_WRANGLER=$(ROOT)/node_modules/.bin/wrangler \
	EDGEAUTH_BIN_DIR=$(ROOT)/target/debug \
	EDGEAUTH_REDIS_SERVER="$$(command -v redis-server)" \
	EDGEAUTH_SCHEMATHESIS=$(ROOT)/.dev/venv/bin/schemathesis \
	CLOUDFLARE_CF_FETCH_ENABLED=false \
	WRANGLER_SEND_METRICS=false

# Each step prints how long it took (and .ci/run prints a table of them at the end).
timed = @scripts/timed.sh

.PHONY: help dev test bench setup worker build fmt lint clean-dev

help:
	@echo "make dev        run the whole stack locally (redis, bridge, origin, wrangler dev)"
	@echo "make test       check prerequisites, then fmt, clippy, builds and every test"
	@echo "make bench      benchmark the real stack against a same-run baseline (release builds, workerd serve; ~7 min)"
	@echo "make worker     build the edge worker into worker/build (prints Wasm size)"
	@echo "make fmt        format all Rust code"
	@echo "make lint       clippy (native and wasm32), warnings are errors"
	@echo "make setup      install or check prerequisites only (those of make dev and make test)"
	@echo "make clean-dev  DESTRUCTIVE: delete local dev data (.dev: redis data, logs; .wrangler)"

dev:
	@scripts/dev.sh

setup:
	@scripts/setup.sh --test

# `make dev` needs none of the test-only tools (Chromium, schemathesis): they are installed here.
test:
	$(timed) "setup (--test)" scripts/setup.sh --test
	$(timed) "cargo fmt --all --check" cargo fmt --all --check
	$(timed) "clippy (native and wasm32)" $(MAKE) --no-print-directory lint
	$(timed) "build the worker (and cargo build --bins, which has its bundler)" \
		env EDGEAUTH_NATIVE_BUILD_ARGS=--bins scripts/build-worker.sh
	$(timed) "cargo test --workspace" env $(E2E_ENV) cargo test --workspace
	$(timed) "tests/sdk-compat (Upstash SDK against the bridge)" \
		env BRIDGE_BIN=$(ROOT)/target/debug/edgeauth-bridge bash tests/sdk-compat/run.sh
	@printf '\n==> all checks passed\n'

# Not part of `make test`: figures from a shared machine are noisy. Builds release binaries
# and the worker, then the benchmark itself builds nothing (bench/src/main.rs).
bench:
	$(timed) "setup (--bench)" scripts/setup.sh --bench
	$(timed) "build the worker" scripts/build-worker.sh
	$(timed) "cargo build --release (origin, bridge, notes app, benchmark)" \
		cargo build --release -p edgeauth-origin -p edgeauth-bridge -p edgeauth-example-notes -p edgeauth-bench
	$(timed) "benchmark" env $(E2E_ENV) EDGEAUTH_BIN_DIR=$(ROOT)/target/release $(ROOT)/target/release/edgeauth-bench

worker:
	@scripts/build-worker.sh

build:
	@cargo build --bins

fmt:
	@cargo fmt --all

# The worker and the crates it uses are also linted for wasm32, where their
# cfg(target_arch = "wasm32") code actually compiles.
lint:
	@cargo clippy --workspace --all-targets -- -D warnings
	@cargo clippy --target wasm32-unknown-unknown -p edgeauth-worker -p edgeauth-upstash -p edgeauth-core -- -D warnings

clean-dev:
	rm -rf $(ROOT)/.dev $(ROOT)/.wrangler
