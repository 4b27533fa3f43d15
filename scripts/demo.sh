#!/usr/bin/env bash
# Builds iohost and the example handlers, then runs iohost doing its main job: the handlers in
# ./handlers loaded (and hot-reloaded), the demo chat at http://127.0.0.1:1338/.
#   ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "toolchain"; ensure_wasm_target
step "iohost (release build)"; cargo build --release --locked -p iohost
step "handlers"; ./scripts/build-handlers.sh
install_demo_handlers
ensure_demo_assets

step "serving: open http://127.0.0.1:1338/ in two windows (Ctrl-C stops)"
exec ./target/release/iohost serve --config demo/iohost.toml
