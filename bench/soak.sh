#!/usr/bin/env bash
# Soak: a bounded run of mixed safe-mode pushes through several plugins while
# `echo` is hot-replaced every 3 s, the `soak` plugin panics, spins and
# allocates without bound on some messages, and kv counters write to SQLite.
# Fails unless every push is answered 2xx with a verified, expected reply,
# the plugin versions switched, and RSS stays flat after warm-up.
# Usage: bench/soak.sh [SECONDS] [CONNECTIONS]   (SOAK_PROFILE=debug for CI)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
CONNS=${2:-16}
PROFILE=${SOAK_PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
scripts/build-plugins.sh >/dev/null
if [ "$PROFILE" = release ]; then
    cargo build --release -q -p wxhost -p wxhost-tests --bin wxhost --bin soak
    BIN=$CARGO_TARGET_DIR/release
else
    cargo build -q -p wxhost -p wxhost-tests --bin wxhost --bin soak
    BIN=$CARGO_TARGET_DIR/debug
fi
"$BIN/soak" "$BIN/wxhost" build/wasm "$SECS" "$CONNS"
