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
