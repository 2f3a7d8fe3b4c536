#!/usr/bin/env bash
# Browser tests of the dashboard: installs Debian's chromium if missing, builds the dashboard
# (scripts/build-web), then runs web/test/*.test.mjs with node --test against a real vigild
# (VIGIL_BIN, default build/vigild). Screenshots go to web/test-artifacts/.
set -euo pipefail
web="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$web/.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "web/test.sh: installing chromium"
  sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

# puppeteer-core never downloads a browser; this keeps any other tool from trying.
export PUPPETEER_SKIP_DOWNLOAD=1
"$root/scripts/build-web"

export VIGIL_BIN="${VIGIL_BIN:-$root/build/vigild}"
export VIGILCTL_BIN="${VIGILCTL_BIN:-$root/build/vigilctl}"
cd "$web"
rm -rf test-artifacts
node --test --test-concurrency=1 --test-timeout=180000 test/*.test.mjs
