#!/usr/bin/env bash
# Start-up time and resident memory with 1 and with N configured accounts
# (default 1000), each with its own Token, EncodingAESKey and AppSecret (so
# each has its API client), on the SQLite backend, echo loaded from the
# compiled cache. Every run twice: the first also creates the data dir.
# Usage: bench/accounts.sh [N]     (release build unless WXHOST_BIN is set)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
scripts/build-plugins.sh >/dev/null
if [ -z "${WXHOST_BIN:-}" ]; then
    cargo build --release -q -p wxhost --bin wxhost
    WXHOST_BIN=$CARGO_TARGET_DIR/release/wxhost
fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir -p "$WORK/plugins"
cp build/wasm/echo.wasm "$WORK/plugins/"
: >"$WORK/one.toml"
bench/accounts-config.py "$N" "$WORK/many.toml"
# run CONFIG LABEL: seconds from exec to /healthz answering, and VmRSS then.
run() {
    local port pid start end
    port=$(free_port)
    start=$(date +%s.%N)
    WXHOST_LISTEN=127.0.0.1:$port WXHOST_ADMIN_LISTEN=127.0.0.1:$(free_port) \
        WXHOST_PLUGINS_DIR="$WORK/plugins" WXHOST_DATA_DIR="$WORK/data" WXHOST_LOG=warn \
        "$WXHOST_BIN" --config "$1" serve 2>>"$WORK/wxhost.log" &
    pid=$!
    for _ in $(seq 1200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
    end=$(date +%s.%N)
    printf '%-28s start-up %6.2f s   RSS %6d kB\n' "$2" "$(echo "$end - $start" | bc)" \
        "$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}
run "$WORK/one.toml" "1 account (first)"
run "$WORK/one.toml" "1 account"
run "$WORK/many.toml" "$N accounts (first)"
run "$WORK/many.toml" "$N accounts"
