#!/usr/bin/env bash
# Fuzzes the HTTP API from its own OpenAPI document with schemathesis: generated requests,
# valid and not, must never get a 5xx (or break the schema's response shapes).
#   ./scripts/fuzz-api.sh [EXAMPLES_PER_OPERATION]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_schemathesis

examples=${1:-50}
key="fuzz-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
handlers=$(mktemp -d)
log=$(mktemp)
IOHOST_SERVER__LISTEN=127.0.0.1:0 IOHOST_API__KEYS="[\"$key\"]" IOHOST_HANDLERS__DIR="$handlers" \
  IOHOST_SETTINGS__FILE="$handlers/.settings.json" \
  ./target/debug/iohost serve >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$handlers" "$log"' EXIT
for _ in $(seq 100); do
  address=$(grep -oE 'listening on http://[0-9.:]+' "$log" | head -1 | sed 's|listening on ||') || true
  [ -n "$address" ] && break
  sleep 0.1
done
[ -n "$address" ] || { cat "$log"; echo "iohost did not start"; exit 1; }

schemathesis run "$address/api/v1/openapi.json" --url "$address/api/v1" \
  -H "Authorization: Bearer $key" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance \
  --max-examples "$examples" --generation-deterministic --no-color
