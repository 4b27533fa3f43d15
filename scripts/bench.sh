#!/usr/bin/env bash
# The benchmarks: iohost against the Node socket.io reference, same scenarios, same run.
#   ./scripts/bench.sh            full run (~30 min), prints the tables of BENCHMARKS.md
#   ./scripts/bench.sh --smoke    tiny sizes, one repetition: checks the machinery works (CI)
#   ./scripts/bench.sh --only handler-path,storm --reps 5
#   ./scripts/bench.sh --cores 8  the handler path on 8 cores: iohost one process, Node 8 and Redis
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
# Each side holds up to 19,000 sockets: one file each (the machine allows 20,000 per process).
ulimit -n 20000 2>/dev/null || true
# The whole workspace, as scripts/test.sh builds it: building only some packages unifies
# dependency features differently and would rebuild wasmtime.
if [ "${1:-}" = "--smoke" ]; then
  cargo build --locked
else
  # The build operators deploy (Cargo.toml's `production` profile: fat LTO).
  cargo build --profile production --locked
fi
ensure_wasm_target
./scripts/build-handlers.sh
ensure_npm_packages bench/node
# The Node reference on several cores (--cores, and the smoke run's one-core pass) uses Redis.
ensure_redis
# The connection storm's JWTs come from a real Strapi (tests/strapi/app).
ensure_strapi
node bench/run.mjs "$@"
