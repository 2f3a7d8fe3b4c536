#!/bin/sh
# `cmake --install` into a temporary prefix puts every file where operators look for it
# (GNUInstallDirs layout). Usage: check_install.sh BUILD_DIR  (vigild and vigilctl built).
set -eu
build="$1"
prefix="$(mktemp -d "${TMPDIR:-/tmp}/vigil-install-XXXXXX")"
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
fail=0
for f in bin/vigild bin/vigilctl; do
  [ -x "$prefix/$f" ] || { echo "missing or not executable: $f"; fail=1; }
done
for f in lib/systemd/system/vigild.service share/doc/vigil/vigil.conf.example \
         share/doc/vigil/prometheus-rules.yml share/doc/vigil/grafana-dashboard.json \
         share/doc/vigil/LICENSE share/doc/vigil/README.md share/doc/vigil/operations.md; do
  [ -s "$prefix/$f" ] || { echo "missing: $f"; fail=1; }
done
unit="$prefix/lib/systemd/system/vigild.service"
grep -q '^Type=notify$' "$unit" || { echo "unit is not Type=notify"; fail=1; }
grep -q '^RestartPreventExitStatus=2$' "$unit" || { echo "unit lacks RestartPreventExitStatus=2"; fail=1; }
grep -q '^ExecStart=/.*/bin/vigild ' "$unit" || { echo "unit ExecStart does not name bin/vigild"; fail=1; }
# The installed binaries run, and the example configuration is valid as installed.
"$prefix/bin/vigild" --version | grep -q '^vigild [0-9]' || { echo "vigild --version failed"; fail=1; }
"$prefix/bin/vigild" --check-config --config "$prefix/share/doc/vigil/vigil.conf.example" \
  | grep -qx 'configuration OK' || { echo "the installed example configuration is refused"; fail=1; }
"$prefix/bin/vigilctl" --help >/dev/null 2>&1 || { echo "vigilctl --help failed"; fail=1; }
[ "$fail" = 0 ] && echo "install layout OK ($prefix)"
exit "$fail"
