#!/usr/bin/env bash
# Prints the cost of the handler path: ns per event through a no-op handler and each example,
# beside the same logic in native Rust. The `production` build (fat LTO, as deployed); takes
# ~20 minutes on 2 cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-handlers.sh >/dev/null
cargo bench --locked --profile production -p iohost --bench handler_path "$@"
