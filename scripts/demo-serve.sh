#!/usr/bin/env bash
# Serves the demo that scripts/demo.sh built: iohost with demo/iohost.toml and an API key made
# for this run, so the admin page can be opened; prints where to go and the key.
#   scripts/demo-serve.sh [IOHOST_BINARY]      (default ./target/release/iohost)
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-./target/release/iohost}
key=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
listen=${IOHOST_SERVER__LISTEN:-127.0.0.1:1338}
echo "demo chat:  http://${listen}/  (open it in two windows)"
echo "admin page: http://${listen}/admin  (API key for this run: ${key})"
IOHOST_API__KEYS="[\"${key}\"]" exec "$binary" serve --config demo/iohost.toml
