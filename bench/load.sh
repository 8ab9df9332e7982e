#!/usr/bin/env bash
# Load benchmark: signed safe-mode text pushes through the `echo` plugin at
# full rate, against a bare axum server on the same stack as the floor.
# Usage: bench/load.sh [CONNECTIONS] [SECONDS]     (release build; loopback only)
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${1:-50}
SECS=${2:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
scripts/build-plugins.sh >/dev/null
cargo build --release -q -p wxhost -p wxhost-tests --bin wxhost --bin loadgen
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/plugins"
cp build/wasm/echo.wasm "$WORK/plugins/"

# Free loopback ports, so runs on a shared machine never collide.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WXPORT=$(free_port); FLPORT=$(free_port); ADMINPORT=$(free_port)

wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server did not start" >&2; exit 1; }

# The admin console runs too (its metrics are recorded on every push).
WXHOST_LISTEN=127.0.0.1:$WXPORT WXHOST_ADMIN_LISTEN=127.0.0.1:$ADMINPORT WXHOST_PLUGINS_DIR="$WORK/plugins" WXHOST_DATA_DIR="$WORK/data" \
  "$BIN/wxhost" serve 2>"$WORK/wxhost.log" &
WX=$!
wait_up http://127.0.0.1:$WXPORT/healthz
"$BIN/loadgen" run http://127.0.0.1:$WXPORT/wechat "$CONNS" 2 warmup >/dev/null
"$BIN/loadgen" run http://127.0.0.1:$WXPORT/wechat "$CONNS" "$SECS" "wxhost+echo (safe mode)" | tee "$WORK/wx.txt"
kill $WX; wait $WX 2>/dev/null || true

"$BIN/loadgen" floor 127.0.0.1:$FLPORT &
FL=$!
sleep 0.3
"$BIN/loadgen" run http://127.0.0.1:$FLPORT/wechat "$CONNS" 2 warmup >/dev/null
"$BIN/loadgen" run http://127.0.0.1:$FLPORT/wechat "$CONNS" "$SECS" "floor (bare axum)" | tee "$WORK/floor.txt"
kill $FL; wait $FL 2>/dev/null || true

python3 - "$WORK/wx.txt" "$WORK/floor.txt" <<'PY'
import re, sys
def rps(p): return float(re.search(r"= (\d+) req/s", open(p).read()).group(1))
wx, floor = rps(sys.argv[1]), rps(sys.argv[2])
print(f"wxhost reaches {100*wx/floor:.0f}% of the floor's req/s (goal >= 40%)")
PY
