# Shared by scripts/setup-js.sh, scripts/setup-python.sh and
# scripts/build-guest-plugins.sh (sourced, not run): the tool cache location,
# Debian package installs, and content hashes for skip-if-unchanged builds.

# Tools live outside the checkout, keyed by what pins them, so fresh clones
# (CI) and other checkouts on the same machine reuse one install.
WXHOST_CACHE=${WXHOST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wxhost}

log() { echo "$(basename "$0"): $*" >&2; }

# apt_install PKG...: installs the Debian packages (non-interactive; sudo only
# when not root). Callers check first, so an installed system is never touched.
apt_install() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { log "need root or sudo to install: $*"; exit 1; }
        sudo=(sudo)
    fi
    log "installing Debian packages: $*"
    # A fresh machine has no package lists yet; update once per run.
    if [ -z "${_WXHOST_APT_UPDATED:-}" ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _WXHOST_APT_UPDATED=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# hash_files PATH...: one sha256 over the names and contents of every file
# under the paths (sorted, so the order of the tree does not matter).
hash_files() {
    find "$@" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' ! -path '*/node_modules/*' -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-32
}

# hash_text TEXT: sha256 of a string (tool versions, flags).
hash_text() { printf '%s' "$1" | sha256sum | cut -c1-32; }
