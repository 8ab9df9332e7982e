#!/usr/bin/env bash
# Load benchmark, in one run:
#  1. signed safe-mode text pushes at full rate through the service with the
#     Rust echo (`echo`) on the SQLite backend and on the Redis backend (a
#     redis-server of its own: free loopback port, no persistence, temp dir),
#     the JavaScript echo (`echo-js`) and the Python echo (`echo-py`) — the
#     guest ones with a fresh instance per call and with instance reuse
#     (`reuse_calls`) — and a bare axum server on the same stack as the
#     floor; ROUNDS rounds, interleaved (the machine is shared and noisy),
#     every run reported, medians summarised;
#  2. for each echo: hot-load time (`cp` into the plugins dir → serving),
#     compiling and from the compiled cache, and restart time with the
#     compiled cache (process start → serving).
#  3. new pushes, the figure users get for first deliveries: `loadgen
#     fresh` replays a corpus signed before the run (every push new: its own
#     MsgId and nonce) over raw keep-alive connections — a client far
#     lighter than the server, as wrk would be — against the current Rust
#     echo, the released WIT 1.0 and 0.2 echo builds, and the bare axum
#     floor, interleaved; with the server's CPU time per push
#     (/proc/PID/stat), steadier than req/s on a shared machine.
# The admin console runs too (its metrics are recorded on every push).
# Usage: bench/load.sh [CONNECTIONS] [SECONDS] [ROUNDS] [REUSE_CALLS]
#        (release build; loopback only; defaults 50 10 2 1000)
#        SECTIONS="new" (any of: throughput accounts hotload new) runs a part.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${1:-50}
SECS=${2:-10}
ROUNDS=${3:-2}
REUSE=${4:-1000}
SECTIONS=${SECTIONS:-throughput accounts hotload new}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
scripts/build-plugins.sh >/dev/null
scripts/setup-redis.sh
cargo build --release -q -p wxhost -p wxhost-tests --bin wxhost --bin loadgen
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# Free loopback ports, so runs on a shared machine never collide.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve DIR [ENV...]: starts wxhost on DIR/plugins and DIR/wxhost.toml with
# the compiled cache in $WORK/data (shared by every run); sets WX and URL.
serve() {
    local dir=$1 port
    shift
    port=$(free_port)
    URL=http://127.0.0.1:$port/wechat
    env "$@" WXHOST_LISTEN=127.0.0.1:$port WXHOST_ADMIN_LISTEN=127.0.0.1:$(free_port) \
        WXHOST_PLUGINS_DIR="$dir/plugins" WXHOST_DATA_DIR="${DATA:-$WORK/data}" \
        "$BIN/wxhost" --config "$dir/wxhost.toml" serve 2>>"$dir/wxhost.log" &
    WX=$!
}
stop() { kill "$WX"; wait "$WX" 2>/dev/null || true; }
wait_up() { for _ in $(seq 600); do curl -sf "${URL%/wechat}/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server did not start" >&2; exit 1; }

# setup NAME VARIANT: a directory with plugins/NAME.wasm and its config.
setup() {
    local dir=$WORK/$1-$2
    mkdir -p "$dir/plugins"
    cp "build/wasm/$1.wasm" "$dir/plugins/"
    if [ "$2" = reuse ]; then
        printf '[plugin.%s]\nreuse_calls = %s\n' "$1" "$REUSE" >"$dir/wxhost.toml"
    else
        : >"$dir/wxhost.toml"
    fi
    echo "$dir"
}

# load NAME VARIANT [ENV...]: full-rate pushes through one plugin.
load() {
    local name=$1 variant=$2 dir
    shift 2
    dir=$(setup "$name" "$variant")
    serve "$dir" "$@"
    # The first start compiles a guest component (seconds); later ones load it from the cache.
    "$BIN/loadgen" until "$URL" 600 "start $name" >/dev/null
    "$BIN/loadgen" run "$URL" "$CONNS" 2 warmup >/dev/null
    "$BIN/loadgen" run "$URL" "$CONNS" "$SECS" "$name ($variant)" | tee -a "$WORK/results.txt"
    stop
}

REDIS_PORT=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/redis" >"$WORK/redis.log" &
for _ in $(seq 100); do [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done

want throughput && echo "== throughput: $CONNS connections, $SECS s per run, $ROUNDS round(s); reuse_calls = $REUSE"
want throughput && for round in $(seq "$ROUNDS"); do
    load echo sqlite
    load echo redis WXHOST_STORAGE_BACKEND=redis WXHOST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 \
        WXHOST_REDIS_KEY_PREFIX="bench$round:" WXHOST_SESSION_SECRET=load-bench-session-secret-32-chars-long
    load echo-js fresh
    load echo-js reuse
    load echo-py fresh
    load echo-py reuse
    port=$(free_port)
    "$BIN/loadgen" floor "127.0.0.1:$port" &
    FL=$!
    sleep 0.3
    "$BIN/loadgen" run "http://127.0.0.1:$port/wechat" "$CONNS" 2 warmup >/dev/null
    "$BIN/loadgen" run "http://127.0.0.1:$port/wechat" "$CONNS" "$SECS" "floor (bare axum)" | tee -a "$WORK/results.txt"
    kill $FL; wait $FL 2>/dev/null || true
done

# Many accounts: the Rust echo with 1 configured account and with
# $ACCOUNTS (bench/accounts-config.py), each push to a random account's URL
# (`<server.path>/<app_id>`) with its own keys, interleaved.
ACCOUNTS=${ACCOUNTS:-1000}
want accounts && echo "== accounts: 1 vs $ACCOUNTS configured, pushes spread over them"
want accounts && for n in 1 "$ACCOUNTS"; do
    mkdir -p "$WORK/acc-$n/plugins"
    cp build/wasm/echo.wasm "$WORK/acc-$n/plugins/"
    bench/accounts-config.py "$n" "$WORK/acc-$n/wxhost.toml"
done
want accounts && for round in $(seq "$ROUNDS"); do
    for n in 1 "$ACCOUNTS"; do
        serve "$WORK/acc-$n" WXHOST_LOG=warn
        wait_up
        "$BIN/loadgen" accounts "$URL" "$CONNS" 2 warmup "$n" >/dev/null
        "$BIN/loadgen" accounts "$URL" "$CONNS" "$SECS" "echo over $n account(s)" "$n" | tee -a "$WORK/results.txt"
        stop
    done
done

want hotload && echo "== hot-load (cp → serving) and restart with the compiled cache"
want hotload && for name in echo echo-js echo-py; do
    DATA=$WORK/hot-$name    # a cache of its own: the first copy compiles
    dir=$WORK/hot-$name-dir
    mkdir -p "$dir/plugins" && : >"$dir/wxhost.toml"
    serve "$dir"
    wait_up
    "$BIN/loadgen" until "$URL" 600 "hot-load $name (compiling)" "build/wasm/$name.wasm" "$dir/plugins/$name.wasm" | tee -a "$WORK/results.txt"
    stop
    serve "$dir"
    "$BIN/loadgen" until "$URL" 600 "restart with $name (compiled cache)" | tee -a "$WORK/results.txt"
    rm "$dir/plugins/$name.wasm"
    sleep 1.5   # the removal is seen
    "$BIN/loadgen" until "$URL" 600 "hot-load $name (compiled cache)" "build/wasm/$name.wasm" "$dir/plugins/$name.wasm" | tee -a "$WORK/results.txt"
    stop
    unset DATA
done

# fresh LABEL WASM: first deliveries through one plugin (a fresh data dir:
# the MsgIds of an earlier run are never in its dedup memory).
fresh() {
    local label=$1 wasm=$2 dir=$WORK/new-$1
    rm -rf "$dir" && mkdir -p "$dir/plugins"
    cp "$wasm" "$dir/plugins/echo.wasm"
    : >"$dir/wxhost.toml"
    DATA=$dir/data serve "$dir"
    "$BIN/loadgen" until "$URL" 600 "start $label" >/dev/null
    "$BIN/loadgen" fresh "$URL" "$CONNS" 2 warmup >/dev/null
    CPU_PID=$WX "$BIN/loadgen" fresh "$URL" "$CONNS" "$SECS" "new: $label" | tee -a "$WORK/results.txt"
    stop
}
want new && echo "== new pushes (pre-signed corpus, every push new, raw HTTP/1.1 client): $CONNS connections, $SECS s, $ROUNDS round(s)"
want new && for round in $(seq "$ROUNDS"); do
    fresh "echo" build/wasm/echo.wasm
    fresh "echo WIT 1.0 (released)" tests/fixtures/wit-1.0/echo.wasm
    fresh "echo WIT 0.2" tests/fixtures/wit-0.2/echo.wasm
    port=$(free_port)
    "$BIN/loadgen" floor "127.0.0.1:$port" &
    FL=$!
    sleep 0.3
    "$BIN/loadgen" fresh "http://127.0.0.1:$port/wechat" "$CONNS" 2 warmup >/dev/null
    CPU_PID=$FL "$BIN/loadgen" fresh "http://127.0.0.1:$port/wechat" "$CONNS" "$SECS" "new: floor (bare axum)" | tee -a "$WORK/results.txt"
    kill $FL; wait $FL 2>/dev/null || true
done

python3 - "$WORK/results.txt" <<'PY'
import re, statistics, sys
runs, cpu = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"(.+?): \d+ requests .*= (\d+) req/s, p50 ([\d.]+) ms, p99 ([\d.]+) ms", line)
    if m:
        runs.setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(4))))
    m = re.match(r"(.+?): server CPU .* = ([\d.]+) µs per request", line)
    if m:
        cpu.setdefault(m.group(1), []).append(float(m.group(2)))
med = lambda label, i: statistics.median(r[i] for r in runs[label])
if "new: floor (bare axum)" in runs:
    floor = med("new: floor (bare axum)", 0)
    print(f"== new pushes (medians over {len(runs['new: floor (bare axum)'])} round(s)); floor {floor:.0f} req/s, {statistics.median(cpu['new: floor (bare axum)']):.1f} µs CPU per request")
    for label in [k for k in runs if k.startswith("new: ") and k != "new: floor (bare axum)"]:
        rps, p99 = med(label, 0), max(p for _, p in runs[label])
        ok = "meets" if rps >= 0.3 * floor and p99 <= 5 else "misses"
        print(f"{label[5:]}: {rps:.0f} req/s = {rps / floor:.2f} x the floor, p99 max {p99:.2f} ms, {statistics.median(cpu[label]):.1f} µs CPU per push ({ok} the goal: >= 0.30 x, p99 <= 5 ms)")
if "echo (sqlite)" not in runs:
    sys.exit(0)
rust, floor = med("echo (sqlite)", 0), med("floor (bare axum)", 0)
print(f"== summary (medians over {len(runs['echo (sqlite)'])} round(s))")
print(f"Rust echo, sqlite: {rust:.0f} req/s, {100 * rust / floor:.0f}% of the floor (goal >= 40%)")
redis, redis_p99 = med("echo (redis)", 0), max(p for _, p in runs["echo (redis)"])
ok = "meets" if redis >= 0.8 * rust and redis_p99 <= 5 else "misses"
print(f"Rust echo, redis: {redis:.0f} req/s = {redis / rust:.2f} x sqlite, p99 max {redis_p99:.2f} ms ({ok} the goal: >= 0.8 x sqlite, p99 <= 5 ms)")
if "echo over 1 account(s)" not in runs:
    sys.exit(0)
one, many = med("echo over 1 account(s)", 0), [k for k in runs if k.startswith("echo over ") and k != "echo over 1 account(s)"]
for k in many:
    m = med(k, 0)
    ok = "meets" if m >= 0.9 * one else "misses"
    print(f"{k}: {m:.0f} req/s = {m / one:.2f} x one account ({one:.0f}) ({ok} the goal: >= 0.9 x)")
for label, goal in [("echo-js (fresh)", 0.3), ("echo-js (reuse)", 0.3), ("echo-py (fresh)", 0.2), ("echo-py (reuse)", 0.2)]:
    rps, p99 = med(label, 0), med(label, 1)
    ok = "meets" if rps >= goal * rust and p99 <= 5 else "misses"
    print(f"{label}: {rps:.0f} req/s = {rps / rust:.2f} x Rust, p99 {p99:.2f} ms ({ok} the goal: >= {goal} x Rust, p99 <= 5 ms)")
PY
