#!/usr/bin/env bash
# Installs what JavaScript plugins need to build: Debian's nodejs and npm when
# missing, then the tools pinned by sdk-js/package-lock.json (componentize-js,
# jco, typescript) with `npm ci` into $WXHOST_CACHE/js-<hash of the lock>.
# Idempotent: with the tools in place it only checks. Prints the tools
# directory (its node_modules/.bin holds componentize-js, jco and tsc).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-guest.sh

need=()
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

# jco 1.35's dependencies (rolldown, oxc) require Node ^20.19 || >=22.12;
# Debian 12's nodejs is 18.20, Debian 13's is 20.19.
node -e '
  const [a, b] = process.versions.node.split(".").map(Number);
  if (a < 20 || (a === 20 && b < 19) || a === 21 || (a === 22 && b < 12)) {
    console.error(`setup-js.sh: Node ${process.versions.node} is too old: the pinned JS tools need Node ^20.19 or >=22.12`
      + " (WXHOST_GUEST_LANGS=python builds only the Python plugins)");
    process.exit(1);
  }'

dir="$WXHOST_CACHE/js-$(hash_files sdk-js/package.json sdk-js/package-lock.json)"
if [ ! -f "$dir/.installed" ]; then
    mkdir -p "$WXHOST_CACHE"
    tmp=$(mktemp -d "$WXHOST_CACHE/tmp-js.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    cp sdk-js/package.json sdk-js/package-lock.json "$tmp/"
    log "npm ci (pinned componentize-js, jco, typescript) into $dir"
    (cd "$tmp" && npm ci --no-audit --no-fund --loglevel=error >&2)
    touch "$tmp/.installed"
    # Rename into place so a half-finished install is never used; if another
    # run got there first, keep its copy.
    mv -T "$tmp" "$dir" 2>/dev/null || true
fi
touch "$dir/.installed"
# Drop tool sets no checkout has used for two weeks (each is ~400 MB).
find "$WXHOST_CACHE" -maxdepth 1 -name 'js-*' -type d ! -path "$dir" -mtime +14 -exec rm -rf {} + 2>/dev/null || true
echo "$dir"
