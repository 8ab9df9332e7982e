#!/usr/bin/env bash
# Builds the JavaScript plugins (plugins/<name>/plugin.js or plugin.ts, with
# componentize-js) and the Python plugins (plugins/<name>/app.py, with
# componentize-py) into build/wasm/<name>.wasm, like the Rust ones; the
# plugin id is the directory name. A component whose inputs (its sources,
# the SDK, wit/, the pinned tool versions, this script) are unchanged since
# its last build is not rebuilt: build/wasm/<name>.wasm.inputs holds their hash,
# and $WXHOST_CACHE/components keeps recent builds by that hash, so a fresh
# clone (CI) with the same inputs copies instead of building (~5-10 s each).
#
# WXHOST_GUEST_LANGS="js python" (the default) selects the languages.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib-guest.sh
langs=" ${WXHOST_GUEST_LANGS-js python} "

js=() py=()
for d in plugins/*/; do
    name=$(basename "$d")
    if [ -f "$d/plugin.js" ] || [ -f "$d/plugin.ts" ]; then js+=("$name"); fi
    if [ -f "$d/app.py" ]; then py+=("$name"); fi
done
mkdir -p build/wasm

# up_to_date NAME HASH: whether build/wasm/NAME.wasm was built from HASH.
up_to_date() {
    [ -f "build/wasm/$1.wasm" ] && [ "$(cat "build/wasm/$1.wasm.inputs" 2>/dev/null)" = "$2" ]
}

components=$WXHOST_CACHE/components

# from_cache NAME HASH: installs a build of NAME from HASH kept in the cache.
from_cache() {
    [ -f "$components/$1-$2.wasm" ] || return 1
    cp "$components/$1-$2.wasm" "build/wasm/$1.wasm.tmp"
    mv "build/wasm/$1.wasm.tmp" "build/wasm/$1.wasm"
    echo "$2" >"build/wasm/$1.wasm.inputs"
    touch "$components/$1-$2.wasm"
    echo "build/wasm/$1.wasm (same inputs as a previous build: copied from $components)"
}

# install NAME HASH SECONDS: moves the fresh build into place with its stamp
# and keeps a copy (the three most recent per plugin; ~14-18 MB each).
install() {
    mv "build/wasm/$1.wasm.tmp" "build/wasm/$1.wasm"
    echo "$2" >"build/wasm/$1.wasm.inputs"
    mkdir -p "$components"
    cp "build/wasm/$1.wasm" "$components/.$1-$2.tmp"
    mv "$components/.$1-$2.tmp" "$components/$1-$2.wasm"
    ls -t "$components/$1-"*.wasm | tail -n +4 | xargs -r rm -f
    echo "build/wasm/$1.wasm ($(wc -c <"build/wasm/$1.wasm") bytes, built in $3 s)"
}

# run_once STAMP HASH LABEL CMD...: runs CMD unless it last passed for HASH;
# prints its output only when it fails.
run_once() {
    local stamp=build/wasm/.$1.inputs hash=$2 label=$3 out
    shift 3
    [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ] && return 0
    if ! out=$("$@" 2>&1); then
        echo "$out" >&2
        log "$label failed"
        exit 1
    fi
    echo "$hash" >"$stamp"
    echo "$label passed"
}

if [ ${#js[@]} -gt 0 ] && [[ $langs == *" js "* ]]; then
    tools=$(scripts/setup-js.sh)
    bin=$tools/node_modules/.bin
    # The checked-in WIT types must match wit/, and every plugin must
    # type-check against the SDK's declarations (both well under a second).
    WXHOST_JS_TOOLS=$tools node sdk-js/tools/gen-types.mjs --check
    "$bin/tsc" -p sdk-js/tsconfig.json
    tool_id="node $(node --version) $(hash_files sdk-js/package-lock.json)"
    run_once sdk-js-tests "$(hash_text "$tool_id $(hash_files sdk-js/src sdk-js/tests)")" "sdk-js unit tests" \
        node --import ./sdk-js/tests/hooks.mjs --test sdk-js/tests/
    for name in "${js[@]}"; do
        dir=plugins/$name
        inputs=$(hash_text "js $tool_id $(hash_files "$dir" sdk-js/src sdk-js/types wit scripts/build-guest-plugins.sh)")
        if up_to_date "$name" "$inputs"; then
            echo "build/wasm/$name.wasm (up to date)"
            continue
        fi
        from_cache "$name" "$inputs" && continue
        start=$SECONDS
        src=$dir/plugin.js stage=$root
        if [ -f "$dir/plugin.ts" ]; then
            # TypeScript: emit JavaScript into a staging tree with the same
            # layout, so the plugin's relative import of ../../sdk-js/src
            # still resolves there (types were checked above).
            stage=$root/build/guest-stage/$name
            rm -rf "$stage" && mkdir -p "$stage/sdk-js"
            "$bin/tsc" --target es2022 --module es2022 --moduleResolution bundler --types "" \
                --noCheck --rootDir "$root" --outDir "$stage" "$dir/plugin.ts"
            cp -r sdk-js/src "$stage/sdk-js/src"
        fi
        # componentize-js maps its working directory to / for the engine, so
        # it runs from the root of the tree the imports are relative to.
        # -d http fetch-event: no wasi:http import (our world has no HTTP, and
        # the host does not link wasi:http).
        (cd "$stage" && "$bin/componentize-js" "$src" --wit "$root/wit" --world-name plugin \
            -d http fetch-event -o "$root/build/wasm/$name.wasm.tmp" >&2)
        install "$name" "$inputs" $((SECONDS - start))
    done
fi

if [ ${#py[@]} -gt 0 ] && [[ $langs == *" python "* ]]; then
    venv=$(scripts/setup-python.sh)
    tool_id="$("$venv/bin/componentize-py" --version) $(hash_files sdk-python/requirements.txt)"
    # The SDK's unit tests run on the venv's CPython against the bindings
    # componentize-py generates for wit/.
    sdk_tests() {
        rm -rf build/py-bindings
        "$venv/bin/componentize-py" -q -d wit -w plugin bindings build/py-bindings
        PYTHONPATH=build/py-bindings:sdk-python PYTHONDONTWRITEBYTECODE=1 \
            "$venv/bin/python" -m unittest discover -s sdk-python/tests
    }
    run_once sdk-python-tests "$(hash_text "$tool_id $(hash_files sdk-python/wxhost_sdk sdk-python/tests wit)")" \
        "sdk-python unit tests" sdk_tests
    for name in "${py[@]}"; do
        dir=plugins/$name
        inputs=$(hash_text "py $tool_id $(hash_files "$dir" sdk-python/wxhost_sdk wit scripts/build-guest-plugins.sh)")
        if up_to_date "$name" "$inputs"; then
            echo "build/wasm/$name.wasm (up to date)"
            continue
        fi
        from_cache "$name" "$inputs" && continue
        start=$SECONDS
        # Build from a copy of the plugin and the SDK: componentize-py writes
        # __pycache__ into the directories it imports from. Only that copy is
        # on the path (VIRTUAL_ENV points the tool at its own venv, not at
        # whatever packages the user's python has).
        stage=build/guest-stage/$name
        rm -rf "$stage" && mkdir -p "$stage"
        cp -r "$dir/." sdk-python/wxhost_sdk "$stage/"
        VIRTUAL_ENV=$venv "$venv/bin/componentize-py" -q -d wit -w plugin componentize \
            -p "$stage" app -o "build/wasm/$name.wasm.tmp" >&2
        install "$name" "$inputs" $((SECONDS - start))
    done
fi
