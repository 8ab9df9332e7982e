#!/usr/bin/env bash
# Web benchmark: requests per second of a logged-in `GET /app/member/` (the
# member plugin's page: session lookup, login check, a fresh instance, a kv
# read, a wasi:http response) against a bare axum server serving a page of
# the same size on the same machine, interleaved run by run (the machine is
# shared and noisy). Goal: >= 0.3 x the floor.
# Usage: bench/web.sh [CONNECTIONS] [SECONDS] [RUNS]   (release build; loopback only)
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${1:-50}
SECS=${2:-10}
RUNS=${3:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
WXHOST_GUEST_LANGS="" scripts/build-plugins.sh >/dev/null
cargo build --release -q -p wxhost -p wxhost-tests --bin wxhost --bin loadgen --bin fake-wechat
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/plugins"
cp build/wasm/member.wasm "$WORK/plugins/"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WXPORT=$(free_port); FLPORT=$(free_port); FAKEPORT=$(free_port)
wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "$1 did not start" >&2; exit 1; }

"$BIN/fake-wechat" 127.0.0.1:$FAKEPORT >"$WORK/fake.log" 2>&1 &
wait_up http://127.0.0.1:$FAKEPORT/
WXHOST_LISTEN=127.0.0.1:$WXPORT WXHOST_ADMIN_LISTEN=127.0.0.1:$(free_port) WXHOST_PLUGINS_DIR="$WORK/plugins" WXHOST_DATA_DIR="$WORK/data" \
  WXHOST_API_BASE_URL=http://127.0.0.1:$FAKEPORT WXHOST_APP_SECRET=fake-app-secret-0123456789abcdef \
  WXHOST_OAUTH_AUTHORIZE_URL=http://127.0.0.1:$FAKEPORT/connect/oauth2/authorize WXHOST_LOG=warn \
  WXHOST_MAX_CONNECTIONS_PER_CLIENT=0 WXHOST_PAGE_REQUESTS_PER_CLIENT_PER_SEC=0 \
  "$BIN/wxhost" serve 2>"$WORK/wxhost.log" &
wait_up http://127.0.0.1:$WXPORT/healthz
"$BIN/loadgen" web-floor 127.0.0.1:$FLPORT &
wait_up http://127.0.0.1:$FLPORT/app/member/

# Log in once, the way a visitor does (the fake plays WeChat's authorize page).
COOKIE=$("$BIN/wxhost" simulate --oauth /app/member/ --url http://127.0.0.1:$WXPORT | sed -n 's/^logged in: Cookie: //p')
[ -n "$COOKIE" ] || { echo "login failed" >&2; cat "$WORK/wxhost.log" >&2; exit 1; }

PAGE=/app/member/
"$BIN/loadgen" get http://127.0.0.1:$WXPORT$PAGE "$CONNS" 2 warmup "$COOKIE" >/dev/null
"$BIN/loadgen" get http://127.0.0.1:$FLPORT$PAGE "$CONNS" 2 warmup >/dev/null
for i in $(seq "$RUNS"); do
  "$BIN/loadgen" get http://127.0.0.1:$WXPORT$PAGE "$CONNS" "$SECS" "run $i wxhost+member (logged in)" "$COOKIE" | tee -a "$WORK/wx.txt"
  "$BIN/loadgen" get http://127.0.0.1:$FLPORT$PAGE "$CONNS" "$SECS" "run $i floor (bare axum page)" | tee -a "$WORK/floor.txt"
done

python3 - "$WORK/wx.txt" "$WORK/floor.txt" <<'PY'
import re, sys
def rps(p): return [float(x) for x in re.findall(r"= (\d+) req/s", open(p).read())]
wx, floor = rps(sys.argv[1]), rps(sys.argv[2])
for i, (w, f) in enumerate(zip(wx, floor), 1):
    print(f"run {i}: wxhost {w:.0f} req/s = {w/f:.2f} x the floor's {f:.0f}")
print(f"mean: {sum(wx)/len(wx):.0f} vs {sum(floor)/len(floor):.0f} req/s = {sum(wx)/sum(floor):.2f} x the floor (goal >= 0.3)")
PY
