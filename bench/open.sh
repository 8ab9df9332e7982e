#!/usr/bin/env bash
# Start-up time and resident memory with no and with N (default 10000)
# Open Platform authorizers in the store (SQLite), each served as an
# account from start. Every run twice: the first also opens the data dir.
# Usage: bench/open.sh [N]     (release build unless WXHOST_BIN is set)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
[ -f build/wasm/echo.wasm ] || scripts/build-plugins.sh >/dev/null
# The seeding tool: a debug build is quick enough.
cargo build -q -p wxhost-tests --bin seed-open
SEED=$CARGO_TARGET_DIR/debug/seed-open
if [ -z "${WXHOST_BIN:-}" ]; then
    cargo build --release -q -p wxhost --bin wxhost
    WXHOST_BIN=$CARGO_TARGET_DIR/release/wxhost
fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir -p "$WORK/plugins" "$WORK/none" "$WORK/many"
cp build/wasm/echo.wasm "$WORK/plugins/"
cat >"$WORK/open.toml" <<'TOML'
[open_platform]
component_app_id = "wxbenchcomponent01"
token = "benchtoken"
TOML
"$SEED" "$WORK/many" "$N" >/dev/null
export WXHOST_COMPONENT_APP_SECRET=bench-secret
export WXHOST_COMPONENT_ENCODING_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
export WXHOST_SECRETS_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
# No WeChat to reach: api_start_push_ticket fails fast at start, off the serving path.
export WXHOST_API_BASE_URL=http://127.0.0.1:9
# run DATA LABEL: seconds from exec to /healthz answering, and VmRSS then.
run() {
    local port pid start end
    port=$(free_port)
    start=$(date +%s.%N)
    WXHOST_LISTEN=127.0.0.1:$port WXHOST_ADMIN_LISTEN=127.0.0.1:$(free_port) \
        WXHOST_PLUGINS_DIR="$WORK/plugins" WXHOST_DATA_DIR="$1" WXHOST_LOG=warn \
        "$WXHOST_BIN" --config "$WORK/open.toml" serve 2>>"$WORK/wxhost.log" &
    pid=$!
    for _ in $(seq 1200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
    end=$(date +%s.%N)
    printf '%-30s start-up %6.2f s   RSS %6d kB\n' "$2" "$(echo "$end - $start" | bc)" \
        "$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}
run "$WORK/none" "0 authorizers (first)"
run "$WORK/none" "0 authorizers"
run "$WORK/many" "$N authorizers (first)"
run "$WORK/many" "$N authorizers"
