#!/usr/bin/env bash
# Load benchmark: signed safe-mode text pushes through the `echo` plugin at
# full rate, on the SQLite backend and on the Redis backend (a redis-server
# of its own: free loopback port, no persistence, temp dir), interleaved
# ROUNDS times because this machine is shared and noisy; then a bare axum
# server on the same stack as the floor.
# Usage: bench/load.sh [CONNECTIONS] [SECONDS]     (release build; loopback only)
#        ROUNDS=3 bench/load.sh                    (default 2 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${1:-50}
SECS=${2:-10}
ROUNDS=${ROUNDS:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
scripts/build-plugins.sh >/dev/null
scripts/setup-redis.sh
cargo build --release -q -p wxhost -p wxhost-tests --bin wxhost --bin loadgen
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/plugins"
cp build/wasm/echo.wasm "$WORK/plugins/"

# Free loopback ports, so runs on a shared machine never collide.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server did not start" >&2; exit 1; }

# run_wxhost LABEL OUT [ENV...]: serve with the environment given, warm up, measure.
# The admin console runs too (its metrics are recorded on every push).
run_wxhost() {
    local label=$1 out=$2 port; shift 2
    port=$(free_port)
    env "$@" WXHOST_LISTEN=127.0.0.1:$port WXHOST_ADMIN_LISTEN=127.0.0.1:$(free_port) WXHOST_PLUGINS_DIR="$WORK/plugins" WXHOST_DATA_DIR="$WORK/data" \
      "$BIN/wxhost" serve 2>>"$WORK/wxhost.log" &
    local wx=$!
    wait_up http://127.0.0.1:$port/healthz
    "$BIN/loadgen" run http://127.0.0.1:$port/wechat "$CONNS" 2 warmup >/dev/null
    "$BIN/loadgen" run http://127.0.0.1:$port/wechat "$CONNS" "$SECS" "$label" | tee -a "$out"
    kill $wx; wait $wx 2>/dev/null || true
}

REDIS_PORT=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/redis" >"$WORK/redis.log" &
for _ in $(seq 100); do [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done

for round in $(seq "$ROUNDS"); do
    run_wxhost "wxhost+echo, sqlite (round $round)" "$WORK/sqlite.txt"
    run_wxhost "wxhost+echo, redis (round $round)" "$WORK/redis.txt" \
      WXHOST_STORAGE_BACKEND=redis WXHOST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 WXHOST_REDIS_KEY_PREFIX="bench$round:" WXHOST_SESSION_SECRET=load-bench-session-secret-32-chars-long
done

FLPORT=$(free_port)
"$BIN/loadgen" floor 127.0.0.1:$FLPORT &
FL=$!
sleep 0.3
"$BIN/loadgen" run http://127.0.0.1:$FLPORT/wechat "$CONNS" 2 warmup >/dev/null
"$BIN/loadgen" run http://127.0.0.1:$FLPORT/wechat "$CONNS" "$SECS" "floor (bare axum)" | tee "$WORK/floor.txt"
kill $FL; wait $FL 2>/dev/null || true

python3 - "$WORK/sqlite.txt" "$WORK/redis.txt" "$WORK/floor.txt" <<'PY'
import re, sys
def runs(p): return [(float(a), float(b)) for a, b in re.findall(r"= (\d+) req/s, p50 [\d.]+ ms, p99 ([\d.]+) ms", open(p).read())]
sqlite, redis, floor = runs(sys.argv[1]), runs(sys.argv[2]), runs(sys.argv[3])
mean = lambda xs: sum(xs) / len(xs)
s, r, f = mean([x for x, _ in sqlite]), mean([x for x, _ in redis]), floor[0][0]
print(f"sqlite: {s:.0f} req/s mean, {100*s/f:.0f}% of the floor's req/s (goal >= 40%)")
print(f"redis:  {r:.0f} req/s mean, {r/s:.2f} x sqlite (goal >= 0.8), p99 max {max(p for _, p in redis):.2f} ms (goal <= 5 ms)")
PY
