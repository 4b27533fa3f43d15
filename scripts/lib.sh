# Helpers shared by scripts/test.sh and scripts/demo.sh.

step() { printf '\n==> %s\n' "$*"; }

# Handlers are built for wasm32-wasip2; a fresh machine does not have the target yet.
ensure_wasm_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
  fi
}

# Installs a folder's npm packages from its lock file when they are missing or out of date.
ensure_npm_packages() {
  local dir=$1
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund)
  fi
}

# The demo page loads the browser build of socket.io-client from demo/public/vendor/.
ensure_demo_assets() {
  ensure_npm_packages demo
  mkdir -p demo/public/vendor
  cp demo/node_modules/socket.io-client/dist/socket.io.min.js demo/public/vendor/
}

# Headless Chromium for the browser tests, from Debian's packages.
ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
}

# The handlers the demo runs, copied into ./handlers (by rename, so a running iohost never
# sees half a file).
DEMO_HANDLERS=(rate-limit moderation presence chat-typing chat-messages)
install_demo_handlers() {
  for name in "${DEMO_HANDLERS[@]}"; do
    cp "target/handlers/$name.wasm" "handlers/.$name.wasm.partial"
    mv "handlers/.$name.wasm.partial" "handlers/$name.wasm"
  done
}

# schemathesis fuzzes the HTTP API from its OpenAPI document.
ensure_schemathesis() {
  if ! command -v schemathesis >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check schemathesis==4.32.5
  fi
}

# A real Strapi 5.54 for the Strapi suites (tests/strapi/app). better-sqlite3 compiles from
# source there (its prebuilt binary is not reachable): node-gyp needs Node's headers.
ensure_strapi() {
  npm_config_nodedir=/usr ensure_npm_packages tests/strapi/app
}

# The test Strapi's admin panel, with the io plugin's settings page (tests/browser/), built when
# missing or older than the plugin's admin code (~40 s).
ensure_strapi_admin() {
  local app=tests/strapi/app
  if stale "$app/build/index.html" strapi-plugin/admin "$app/package-lock.json"; then
    (cd "$app" && node node_modules/@strapi/strapi/bin/strapi.js build)
  fi
}

# componentize-py builds the Python example handler (examples-wasm/order-status).
COMPONENTIZE_PY_VERSION=0.25.1
ensure_componentize_py() {
  if [ "$(componentize-py --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY_VERSION" ]; then
    python3 -m pip install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
  fi
}

# True when $1 is missing or older than any file under the other arguments (a build is due).
stale() {
  local out=$1
  shift
  [ ! -f "$out" ] || [ -n "$(find "$@" -newer "$out" -type f -not -path '*/node_modules/*' -not -path '*/__pycache__/*' -print -quit)" ]
}

# Redis on 127.0.0.1:6379 for the cluster suites and the Redis KV tests (machines of this kind
# run one; start it when it is not there).
ensure_redis() {
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ''
    for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return; sleep 0.1; done
  fi
}
