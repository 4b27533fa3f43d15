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
echo "handlers built: $(ls target/handlers | tr '\n' ' ')"
