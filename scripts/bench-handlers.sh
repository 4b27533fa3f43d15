#!/usr/bin/env bash
# Prints the cost of the handler path: ns per event through a no-op handler and each example,
# beside the same logic in native Rust. Release build; takes a few minutes the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-handlers.sh >/dev/null
cargo bench --locked -p iohost --bench handler_path
