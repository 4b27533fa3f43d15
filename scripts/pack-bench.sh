#!/usr/bin/env bash
# Packs the multi-core benchmark for a bigger x86-64 Linux machine that has neither Rust nor
# Node nor Redis (glibc at least this machine's): iohost's and iohost-bench's production builds
# (debug info stripped, symbols kept), the two handlers it runs, this machine's Node (stripped)
# and bench/node's packages, and this machine's redis-server and perf with their libraries.
# ~43 MB, in target/bench-pack.
#   ./scripts/pack-bench.sh
#   (there, in a copy of this repository with target/bench-pack beside it)
#   CORES="8 4" REPS="2 2" BUDGET="300 200" target/bench-pack/run.sh   # results in $OUT
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
cargo build --profile production --locked
ensure_wasm_target
./scripts/build-handlers.sh
ensure_npm_packages bench/node
command -v redis-server >/dev/null || { echo "pack-bench: redis-server is not installed here" >&2; exit 1; }

# Copies program $1 to folder $2 and the libraries it links to $2/lib: all but the C and C++
# runtimes, which the target has (and must match its own loader).
with_libraries() {
  mkdir -p "$2/lib"
  cp -L "$1" "$2/"
  ldd "$1" | awk '/=> \//{print $3}' | grep -Ev '/(libc|libm|libstdc\+\+|libgcc_s)\.so' |
    xargs -I{} cp -L {} "$2/lib/"
}

PACK=target/bench-pack
rm -rf "$PACK"
mkdir -p "$PACK"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "builds and handlers"
mkdir -p "$work/builds/production" "$work/builds/handlers"
cp target/production/iohost target/production/iohost-bench "$work/builds/production/"
# Debug info out, symbols kept: perf names the functions of a profile from them.
strip --strip-debug "$work/builds/production/"*
cp target/handlers/rate-limit.wasm target/handlers/chat-typing.wasm "$work/builds/handlers/"
tar -C "$work/builds" -cJf "$PACK/builds.tar.xz" production handlers

step "Node $(node --version) and bench/node's packages"
cp "$(readlink -f "$(command -v node)")" "$work/node"
strip "$work/node"
xz -T0 -6 -c "$work/node" > "$PACK/node.xz"
tar -C bench/node -cJf "$PACK/node_modules.tar.xz" node_modules

step "Redis with the libraries it links"
with_libraries "$(command -v redis-server)" "$work/redis"
tar -C "$work" -cJf "$PACK/redis.tar.xz" redis
cp "$(command -v taskset)" "$PACK/taskset"

# perf, for `--perf S` (EXTRA): profiles of iohost on N cores.
if command -v perf >/dev/null; then
  step "perf with the libraries it links"
  with_libraries "$(command -v perf)" "$work/perf"
  tar -C "$work" -cJf "$PACK/perf.tar.xz" perf
fi

cat > "$PACK/run.sh" <<'RUN'
#!/usr/bin/env bash
# Unpacks what scripts/pack-bench.sh packed and runs `bench/run.mjs --cores N` for each N in
# CORES, each under a time limit (BUDGET, seconds), with REPS repetitions, RATES (per-core
# ladders, comma-separated; empty: the script's own) and EXTRA (more flags: "--kinds iohost
# --scheduler per-core", or "--perf 3" for profiles of iohost, perf-*.txt). Writes coresN.md
# (tables), coresN.log (each repetition as it ends) and machine.txt to $OUT (default
# /tmp/bench-out).
set -u
cd "$(dirname "$0")/../.."
P=$PWD/target/bench-pack
OUT=${OUT:-/tmp/bench-out}
mkdir -p "$P/bin" "$OUT"
unpack() { python3 -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$1" "$2" 2>/dev/null; }
python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$P/node.xz" "$P/bin/node"
chmod +x "$P/bin/node"
unpack "$P/node_modules.tar.xz" bench/node
unpack "$P/builds.tar.xz" target
unpack "$P/redis.tar.xz" "$P"
command -v taskset >/dev/null || cp "$P/taskset" "$P/bin/"
# The packed perf, also where the machine has one: the version these reports were read with.
if [ -f "$P/perf.tar.xz" ]; then
  unpack "$P/perf.tar.xz" "$P"
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/perf/lib exec %s/perf/perf "$@"\n' "$P" "$P" > "$P/bin/perf"
  chmod +x "$P/bin/perf"
fi
export PERF_OUT=$OUT
export PATH="$P/bin:$PATH"
{ date -u; nproc; grep -m1 'model name' /proc/cpuinfo; uname -r; node --version; } 2>&1 | tee "$OUT/machine.txt"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  LD_LIBRARY_PATH="$P/redis/lib" "$P/redis/redis-server" --port 6379 --save '' --appendonly no --daemonize yes --logfile "$OUT/redis.log" || exit 1
  sleep 0.5
fi
read -ra cores <<< "${CORES:-8 4}"
read -ra reps <<< "${REPS:-2 2}"
read -ra budget <<< "${BUDGET:-300 200}"
read -ra rates <<< "${RATES:-}"
for i in "${!cores[@]}"; do
  n=${cores[$i]}
  ladder=()
  [ -n "${rates[$i]:-}" ] && ladder=(--rates "${rates[$i]}")
  timeout "${budget[$i]:-300}" node bench/run.mjs --cores "$n" --reps "${reps[$i]:-2}" "${ladder[@]}" ${EXTRA:-} > "$OUT/cores$n.md" 2> "$OUT/cores$n.log"
  echo "cores $n: exit $?"
  cat "$OUT/cores$n.md"
done
RUN
chmod +x "$PACK/run.sh"
step "packed: $(du -sh "$PACK" | cut -f1) in $PACK"
