#!/usr/bin/env bash
# Profile of the push path under load: starts wxhost (release) with one
# plugin, drives it with `loadgen fresh` (every push new, pre-signed corpus,
# raw keep-alive connections), records the server with `perf record -g`
# (DWARF call graphs) for SECONDS, and prints
#   1. the top frames by self time,
#   2. self time summed by crate / library (where a push's CPU goes),
#   3. the top frames by inclusive time (which designs the time sits under).
# The data file is kept (path printed) for `perf report -i`.
# Needs `perf` and kernel.perf_event_paranoid <= 2 (one's own processes;
# where the kernel's frames are hidden, compare the server's CPU per request
# that loadgen prints with the user-space share). DWARF unwinding slows the
# server (about 1.3x the CPU per push): compare profiles with profiles.
# Usage: bench/profile.sh [PLUGIN] [SECONDS] [CONNECTIONS]
#        PLUGIN: a name under build/wasm (echo, echo-js, member, …) or a .wasm
#        path (e.g. tests/fixtures/wit-1.0/echo.wasm); defaults echo 8 50.
set -euo pipefail
cd "$(dirname "$0")/.."
PLUGIN=${1:-echo}
SECS=${2:-8}
CONNS=${3:-50}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }
case $PLUGIN in
    *.wasm) WASM=$PLUGIN ;;
    *) WXHOST_GUEST_LANGS=${WXHOST_GUEST_LANGS-} scripts/build-plugins.sh >/dev/null; WASM=build/wasm/$PLUGIN.wasm ;;
esac
cargo build --release -q -p wxhost -p wxhost-tests --bin wxhost --bin loadgen
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
OUT=${OUT:-${TMPDIR:-/tmp}/wxhost-profile.data}
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir -p "$WORK/plugins"
cp "$WASM" "$WORK/plugins/"
: >"$WORK/wxhost.toml"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT/wechat
WXHOST_LISTEN=127.0.0.1:$PORT WXHOST_ADMIN_LISTEN=127.0.0.1:$(free_port) \
    WXHOST_PLUGINS_DIR="$WORK/plugins" WXHOST_DATA_DIR="$WORK/data" \
    "$BIN/wxhost" --config "$WORK/wxhost.toml" serve 2>>"$WORK/wxhost.log" &
WX=$!
"$BIN/loadgen" until "$URL" 600 "start" >/dev/null
"$BIN/loadgen" fresh "$URL" "$CONNS" 2 warmup >/dev/null

# The load outlasts the recording by a second at each end.
CPU_PID=$WX "$BIN/loadgen" fresh "$URL" "$CONNS" $((SECS + 2)) "$(basename "$WASM" .wasm) under profile" >"$WORK/load.txt" &
LOAD=$!
sleep 1
perf record -q -o "$OUT" -F 499 --call-graph dwarf,16384 -p "$WX" -- sleep "$SECS" 2>/dev/null
wait $LOAD
cat "$WORK/load.txt"

# perf pads its columns far to the right: trimmed. (`|| true`: `head`
# closing a pipe early is not a failure.)
trim() { sed 's/  *-  *-  *$//; s/  *$//' | grep -v '^#' | grep -v '^$' | cut -c1-200; }
echo "== top frames, self time"
perf report -i "$OUT" --no-children --stdio -g none --percent-limit 0.7 --sort dso,symbol 2>/dev/null | trim | head -40 || true
echo "== self time by crate / library"
perf report -i "$OUT" --no-children --stdio -g none --sort dso,symbol 2>/dev/null | python3 -c '
import re, sys, collections
tot = collections.Counter()
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[.\]\s+(.*)", line)
    if not m:
        continue
    pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
    # The crate: the first path segment of a Rust symbol (skipping `<` of
    # trait impls), else the library or, for JIT code, "guest (wasm)".
    s = sym.lstrip("<&")
    if s.startswith("wasm[") or dso.startswith("[JIT]") or "jitted" in dso:
        key = "guest (wasm)"
    elif "::" in s:
        key = s.split("::", 1)[0]
    else:
        key = dso
    tot[key] += pct
for k, v in tot.most_common(25):
    print(f"{v:6.2f}%  {k}")
'
echo "== the project's and the runtime's frames, inclusive time"
# Without the executor's and axum's generic poll frames, which wrap everything.
perf report -i "$OUT" --children --stdio -g none --percent-limit 0.5 --sort symbol 2>/dev/null | trim \
    | grep -E '\] <?(wxhost|wasmtime|metrics|tracing|__x64_sys|ksys|exc_page_fault)' \
    | grep -vE 'poll<|Harness|\{async_fn#0\} \(inlined\)|Handler<|read_within' | head -45 || true
echo "(perf data: $OUT)"
