#!/usr/bin/env bash
# Regenerates sdk-js/types/wit/ from wit/ after a WIT change (commit the
# result); `scripts/build-guest-plugins.sh` fails while they differ.
set -euo pipefail
cd "$(dirname "$0")/.."
WXHOST_JS_TOOLS=$(scripts/setup-js.sh) node sdk-js/tools/gen-types.mjs "$@"
