#!/usr/bin/env bash
# Installs what the admin console's browser test (tests/tests/admin_browser.rs)
# needs, only when missing: Debian's Chromium and ChromeDriver, and CJK fonts
# so that Chinese menus render in the screenshots. Idempotent; uses sudo only
# when not root.
set -euo pipefail
want=()
command -v chromium >/dev/null 2>&1 || want+=(chromium)
command -v chromedriver >/dev/null 2>&1 || want+=(chromium-driver)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || want+=(fonts-noto-cjk)
if [ ${#want[@]} -eq 0 ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${want[@]}"
chromium --version
chromedriver --version
