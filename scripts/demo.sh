#!/usr/bin/env bash
# Builds iohost and the example handlers, then runs iohost doing its main job: the handlers in
# ./handlers loaded (and hot-reloaded), the demo chat at http://127.0.0.1:1338/, the admin page
# at /admin with an API key made for this run (printed).
#   ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "toolchain"; ensure_wasm_target
step "iohost (release build)"; cargo build --release --locked -p iohost
step "handlers"; ./scripts/build-handlers.sh
install_demo_handlers
ensure_demo_assets

step "serving (Ctrl-C stops)"
exec ./scripts/demo-serve.sh ./target/release/iohost
