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
# The backend's scripts need Redis 6.2 or newer (GETDEL, SET ... GET).
version=$(redis-server --version | sed -n 's/.* v=\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
read -r major minor <<<"$version"
if [ "${major:-0}" -lt 6 ] || { [ "$major" -eq 6 ] && [ "${minor:-0}" -lt 2 ]; }; then
    log "redis-server $major.$minor is too old: wxhost needs Redis 6.2 or newer"
    exit 1
fi
