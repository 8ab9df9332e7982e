#!/usr/bin/env bash
# Outbound queue benchmark: wxhost against the fake WeChat (`fake-wechat`)
# with no rate limit, on SQLite and on Redis (a redis-server of its own):
#  - enqueue: JOBS template jobs through POST /api/v1/messages in arrays of
#    BATCH (jobs accepted per second);
#  - through: enqueue → send → record, until none is queued (jobs/s);
#  - pushes while the queue drains vs idle: echo pushes' p50/p99 in both.
# Usage: bench/outbound.sh [JOBS] [BATCH] [SECONDS]   (defaults 20000 500 5;
#        PROFILE=debug for a quick check; loopback only)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${1:-20000}
BATCH=${2:-500}
SECS=${3:-5}
PROFILE=${PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
scripts/build-plugins.sh >/dev/null
scripts/setup-redis.sh
if [ "$PROFILE" = release ]; then
    cargo build --release -q -p wxhost -p wxhost-tests --bin wxhost --bin loadgen --bin fake-wechat --bin outbound-bench
    BIN=$CARGO_TARGET_DIR/release
else
    cargo build -q -p wxhost -p wxhost-tests --bin wxhost --bin loadgen --bin fake-wechat --bin outbound-bench
    BIN=$CARGO_TARGET_DIR/debug
fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

FAKE_PORT=$(free_port)
"$BIN/fake-wechat" "127.0.0.1:$FAKE_PORT" >"$WORK/fake.out" 2>&1 &
for _ in $(seq 100); do grep -q '^export' "$WORK/fake.out" 2>/dev/null && break; sleep 0.1; done
# WXHOST_API_BASE_URL, WXHOST_APP_ID, WXHOST_APP_SECRET of the fake.
eval "$(grep '^export' "$WORK/fake.out")"

REDIS_PORT=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/redis" >"$WORK/redis.log" &
for _ in $(seq 100); do [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done

TOKEN=outbound-bench-api-token-0123456789
mkdir -p "$WORK/plugins"
cp build/wasm/echo.wasm "$WORK/plugins/"
printf '[outbound]\nrate_per_sec = 0\nconcurrency = 32\npoll_ms = 20\n' >"$WORK/wxhost.toml"

# bench BACKEND [ENV...]
bench() {
    local name=$1 port admin
    shift
    port=$(free_port)
    admin=127.0.0.1:$(free_port)
    rm -rf "$WORK/data-$name"
    env "$@" WXHOST_LISTEN=127.0.0.1:$port WXHOST_ADMIN_LISTEN=$admin WXHOST_ADMIN_API_TOKEN=$TOKEN \
        WXHOST_PLUGINS_DIR="$WORK/plugins" WXHOST_DATA_DIR="$WORK/data-$name" \
        "$BIN/wxhost" --config "$WORK/wxhost.toml" serve 2>>"$WORK/wxhost-$name.log" &
    local wx=$!
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    local url=http://127.0.0.1:$port/wechat
    "$BIN/loadgen" run "$url" 50 "$SECS" "$name: pushes, queue idle"
    "$BIN/outbound-bench" "http://$admin" "$TOKEN" "$JOBS" "$BATCH" "$name" &
    local ob=$!
    "$BIN/loadgen" run "$url" 50 "$SECS" "$name: pushes, queue draining"
    wait "$ob"
    kill "$wx"; wait "$wx" 2>/dev/null || true
}

echo "== outbound: $JOBS template jobs, arrays of $BATCH, no rate limit ($PROFILE build)"
bench sqlite
bench redis WXHOST_STORAGE_BACKEND=redis WXHOST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
    WXHOST_REDIS_KEY_PREFIX=ob: WXHOST_SESSION_SECRET=outbound-bench-session-secret-0123456789
