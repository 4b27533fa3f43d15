#!/usr/bin/env bash
# Builds every example handler for wasm32-wasip2 and collects them as target/handlers/<name>.wasm
# (crate `rate-limit` -> rate-limit.wasm). Also fills the conformance profile's handler folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_wasm_target

crates=()
for manifest in examples-wasm/*/Cargo.toml; do
  crates+=(-p "$(basename "$(dirname "$manifest")")")
done
cargo build --locked --profile handler --target wasm32-wasip2 "${crates[@]}"

mkdir -p target/handlers tests/profiles/conformance-handlers
for manifest in examples-wasm/*/Cargo.toml; do
  name=$(basename "$(dirname "$manifest")")
  cp "target/wasm32-wasip2/handler/${name//-/_}.wasm" "target/handlers/$name.wasm.tmp"
  mv "target/handlers/$name.wasm.tmp" "target/handlers/$name.wasm"
done
cp target/handlers/echo.wasm tests/profiles/conformance-handlers/echo.wasm

# JavaScript (componentize-js from npm): examples-wasm/moderation -> moderation.wasm.
if stale target/handlers/moderation.wasm examples-wasm/moderation guest-sdk/js wit; then
  ensure_npm_packages examples-wasm/moderation
  (cd examples-wasm/moderation && node build.mjs ../../target/handlers/moderation.wasm)
fi

# Python (componentize-py from PyPI): examples-wasm/order-status -> order-status.wasm, and a
# second version (other messages) that the hot-reload test swaps in.
if stale target/handlers/order-status.wasm examples-wasm/order-status guest-sdk/python wit; then
  ensure_componentize_py
  (cd examples-wasm/order-status &&
    componentize-py -d ../../wit -w handler componentize app -p . -p ../../guest-sdk/python -o ../../target/handlers/.order-status.wasm.partial &&
    componentize-py -d ../../wit -w handler componentize app -p fixtures/v2 -p . -p ../../guest-sdk/python -o ../../target/handlers/.order-status-v2.wasm.partial)
  mv target/handlers/.order-status-v2.wasm.partial target/handlers/order-status-v2.wasm
  mv target/handlers/.order-status.wasm.partial target/handlers/order-status.wasm
fi
echo "handlers built: $(ls target/handlers | tr '\n' ' ')"
