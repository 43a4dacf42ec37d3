#!/usr/bin/env bash
# The Sentinel failover tests (tests/integration/test_sentinel_*.py) start their own
# redis-server and redis-sentinel processes on loopback: install Debian's packages when either
# program is missing (`make test` runs this; as root, or with sudo). Nothing else is installed.
set -euo pipefail
if command -v redis-server >/dev/null && command -v redis-sentinel >/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
echo "ensure_sentinel: installing redis-server and redis-sentinel (apt-get)"
$SUDO apt-get update -q
# The package's own service is not wanted (the tests start private processes): policy-rc.d
# would be intrusive, so the unit is stopped and disabled right after install when systemd runs.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q redis-server redis-sentinel
if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
  $SUDO systemctl disable --now redis-sentinel >/dev/null 2>&1 || true
fi
