#!/usr/bin/env bash
# Installs Debian's redis-server when it is missing: the tests of the Redis
# backend and bench/load.sh start their own redis-server (random loopback
# port, no persistence, a temp dir) and stop it. Idempotent: with
# redis-server on PATH it only checks. The system service the package may
# start is not used by anything here.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-guest.sh

command -v redis-server >/dev/null || apt_install redis-server
# The backend's scripts need Redis 7.0 or newer (SET NX GET, GETDEL).
major=$(redis-server --version | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')
if [ "${major:-0}" -lt 7 ]; then
    log "redis-server $major.x is too old: wxhost needs Redis 7.0 or newer"
    exit 1
fi
