#!/usr/bin/env bash
# A/B of two wxhost builds (or one build under two environments) on new
# pushes: `loadgen fresh` (pre-signed corpus, every push new) against the
# Rust echo, A and B alternating run by run so drift on a shared machine
# hits both alike; prints every run and the medians of req/s, p99 and the
# server's CPU time per push (/proc/PID/stat — the steadier figure).
# Usage: bench/ab.sh BIN_A BIN_B [ROUNDS] [SECONDS] [CONNECTIONS] [WASM]
#        A_ENV / B_ENV: extra environment for A / B (e.g. B_ENV=WXHOST_LOG=warn);
#        CORPUS: pushes signed per run (default 20k a second: signing a
#        larger one than the run needs only costs time).
# Copy a release build aside first (cp target/release/wxhost /tmp/wxhost-a).
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1 B=$2
ROUNDS=${3:-5}
SECS=${4:-8}
CONNS=${5:-50}
WASM=${6:-build/wasm/echo.wasm}
CORPUS=${CORPUS:-$((SECS * 20000))}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p wxhost-tests --bin loadgen
LOADGEN=$CARGO_TARGET_DIR/release/loadgen
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# one LABEL BIN ENV: a fresh data dir, start, warm up, measure, stop.
one() {
    local label=$1 bin=$2 env=$3 dir=$WORK/$1-$RANDOM port
    mkdir -p "$dir/plugins" && cp "$WASM" "$dir/plugins/echo.wasm" && : >"$dir/wxhost.toml"
    port=$(free_port)
    # shellcheck disable=SC2086
    env $env WXHOST_LISTEN=127.0.0.1:$port WXHOST_ADMIN_LISTEN=127.0.0.1:$(free_port) \
        WXHOST_PLUGINS_DIR="$dir/plugins" WXHOST_DATA_DIR="$dir/data" \
        "$bin" --config "$dir/wxhost.toml" serve 2>"$dir/wxhost.log" &
    local wx=$!
    "$LOADGEN" until "http://127.0.0.1:$port/wechat" 600 start >/dev/null
    "$LOADGEN" fresh "http://127.0.0.1:$port/wechat" "$CONNS" 2 warmup 20000 >/dev/null
    CPU_PID=$wx "$LOADGEN" fresh "http://127.0.0.1:$port/wechat" "$CONNS" "$SECS" "$label" "$CORPUS" | grep -v answers | tee -a "$WORK/results.txt"
    kill "$wx"; wait "$wx" 2>/dev/null || true
    rm -rf "$dir"
}
for _ in $(seq "$ROUNDS"); do
    one A "$A" "${A_ENV:-}"
    one B "$B" "${B_ENV:-}"
done
python3 - "$WORK/results.txt" <<'PY'
import re, statistics, sys
rps, p99, cpu = {}, {}, {}
for line in open(sys.argv[1]):
    if m := re.match(r"(\w): \d+ requests .*= (\d+) req/s, p50 [\d.]+ ms, p99 ([\d.]+) ms", line):
        rps.setdefault(m[1], []).append(float(m[2])); p99.setdefault(m[1], []).append(float(m[3]))
    if m := re.match(r"(\w): server CPU .* = ([\d.]+) µs per request", line):
        cpu.setdefault(m[1], []).append(float(m[2]))
med = statistics.median
for k in "AB":
    print(f"{k}: median {med(rps[k]):.0f} req/s, p99 {med(p99[k]):.2f} ms, {med(cpu[k]):.1f} µs CPU per push")
print(f"B/A: req/s {med(rps['B']) / med(rps['A']):.3f}, CPU per push {med(cpu['B']) / med(cpu['A']):.3f}")
PY
