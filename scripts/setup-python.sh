#!/usr/bin/env bash
# Installs what Python plugins need to build: Debian's python3 and
# python3-venv when missing, then a venv at $WXHOST_CACHE/py-<hash> with the
# componentize-py pinned (with hashes) in sdk-python/requirements.txt.
# Idempotent: with the venv in place it only checks. Prints the venv path.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-guest.sh

need=()
command -v python3 >/dev/null || need+=(python3)
# Debian's python3 has no ensurepip (so no `python3 -m venv`) without python3-venv.
if [ ${#need[@]} -gt 0 ] || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    need+=(python3-venv)
fi
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

py_version=$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
dir="$WXHOST_CACHE/py-$(hash_text "$py_version $(hash_files sdk-python/requirements.txt)")"
if [ ! -f "$dir/.installed" ]; then
    mkdir -p "$WXHOST_CACHE"
    log "creating venv with pinned componentize-py at $dir"
    # The venv is built in place (venvs are not relocatable); a lock keeps two
    # runs from building the same one at once.
    exec 9>"$dir.lock"
    flock 9
    if [ ! -f "$dir/.installed" ]; then
        rm -rf "$dir"
        python3 -m venv "$dir"
        "$dir/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps \
            -r sdk-python/requirements.txt >&2
        touch "$dir/.installed"
    fi
    flock -u 9
fi
touch "$dir/.installed"
find "$WXHOST_CACHE" -maxdepth 1 -name 'py-*' -type d ! -path "$dir" -mtime +14 -exec rm -rf {} + 2>/dev/null || true
echo "$dir"
