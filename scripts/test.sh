#!/usr/bin/env bash
# Runs every check and test on a fresh machine: installs what they need first.
#   ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "toolchain"
ensure_wasm_target

step "format";  cargo fmt --all -- --check
step "clippy";  cargo clippy --workspace --all-targets --locked -- -D warnings
step "build";   cargo build --locked
step "handlers (wasm32-wasip2)"; ./scripts/build-handlers.sh
step "rust tests"; ensure_redis; cargo test --workspace --locked
step "python handler tests"; (cd examples-wasm/order-status && python3 -m unittest -q test_app)
step "Strapi plugin unit tests"; (cd strapi-plugin && node --test test/)

step "benchmark smoke run (tiny sizes, debug build: the machinery works; no timings checked)"
./scripts/bench.sh --smoke

step "HTTP API fuzz (schemathesis, from the OpenAPI document: no 5xx)"
./scripts/fuzz-api.sh 50

step "end-to-end suites (real socket.io-client, headless Chromium)"
ensure_npm_packages tests
ensure_npm_packages types
ensure_strapi
ensure_strapi_admin
ensure_demo_assets
ensure_chromium
cd tests && node --test --test-concurrency=2 --test-timeout=300000 protocol/ client/ handlers/ api/ strapi/ browser/ cluster/ edge/ ops/ types/
