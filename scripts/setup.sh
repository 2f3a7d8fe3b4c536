# Shared set-up for scripts/run and scripts/test (sourced, not run).
# Installs what is missing on a Debian 12 machine, then builds with CMake.

set -euo pipefail

VIGIL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VIGIL_BUILD="${VIGIL_BUILD:-$VIGIL_ROOT/build}"
VIGIL_BUILD_TYPE="${VIGIL_BUILD_TYPE:-RelWithDebInfo}"

VIGIL_APT_PACKAGES=(
  build-essential cmake pkg-config
  libcaf-dev libwebsockets-dev libsimdjson-dev libsqlite3-dev
  libgtest-dev libgmock-dev libjwt-dev libedit-dev
  # The sqlite3 CLI: tests/e2e/audit-trail.test.mjs tampers with a live database file with it
  # (node has no SQLite binding without a native npm package).
  sqlite3
  libnats-dev nats-server
  nodejs npm
)

vigil_sudo() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages that are not installed yet (apt-get update first, once).
vigil_install_packages() {
  local missing=()
  for p in "${VIGIL_APT_PACKAGES[@]}"; do
    if [ "$p" = nodejs ] || [ "$p" = npm ]; then
      # A machine may already have Node.js from elsewhere; only install when absent.
      if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
      if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
    fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    vigil_sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive vigil_sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Configures and builds every target (or the ones given) with two jobs.
vigil_build() {
  cmake -S "$VIGIL_ROOT" -B "$VIGIL_BUILD" -DCMAKE_BUILD_TYPE="$VIGIL_BUILD_TYPE" >/dev/null
  if [ $# -gt 0 ]; then
    cmake --build "$VIGIL_BUILD" -j2 --target "$@"
  else
    cmake --build "$VIGIL_BUILD" -j2
  fi
}
