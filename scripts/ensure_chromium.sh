#!/usr/bin/env bash
# The console's browser tests drive Debian's chromium through its chromium-driver (selenium):
# install both when missing (`make test` runs this; as root, or with sudo). Nothing is
# downloaded at test time.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
echo "ensure_chromium: installing chromium and chromium-driver (apt-get)"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver
