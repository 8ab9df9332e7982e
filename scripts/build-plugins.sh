#!/usr/bin/env bash
# Builds every crate under plugins/ for wasm32-wasip2 with the `plugin` profile
# and copies the components to build/wasm/<name>.wasm (name = package name,
# which is the plugin id the host uses); then the JavaScript and Python
# plugins (scripts/build-guest-plugins.sh, which installs their tools).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2

target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac

packages=()
for manifest in plugins/*/Cargo.toml; do
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$manifest" | head -n1)
    packages+=("$name")
done

args=()
for p in "${packages[@]}"; do args+=(-p "$p"); done
cargo build --profile plugin --target wasm32-wasip2 "${args[@]}" "$@"

mkdir -p build/wasm
for p in "${packages[@]}"; do
    src="$target_dir/wasm32-wasip2/plugin/${p//-/_}.wasm"
    cp "$src" "build/wasm/$p.wasm.tmp"
    mv "build/wasm/$p.wasm.tmp" "build/wasm/$p.wasm"
    echo "build/wasm/$p.wasm ($(wc -c <"build/wasm/$p.wasm") bytes)"
done

# JavaScript and Python plugins; components whose inputs are unchanged are
# kept (WXHOST_GUEST_LANGS="" skips them).
scripts/build-guest-plugins.sh
