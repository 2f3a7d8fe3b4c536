#!/usr/bin/env bash
# Tests of @vigil/client: installs the pinned packages, builds dist/, type-checks (strict, with the
# type assertions) and runs every vitest file: the connection machine, the contract test, the
# fallback/resume test and the React hooks against a real vigild.
# Environment: VIGIL_BIN (path to vigild; default ../../build/vigild). VIGILCTL_BIN is not needed.
set -euo pipefail
cd "$(dirname "$0")"
export VIGIL_BIN="${VIGIL_BIN:-$PWD/../../build/vigild}"
if [[ ! -x "$VIGIL_BIN" ]]; then
  echo "clients/ts: vigild not found at $VIGIL_BIN (build it or set VIGIL_BIN)" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
npm run --silent typecheck
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=$?
# A closing line in the plain "N passed, N failed" form.
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`clients/ts: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);' "$report" || true
exit "$status"
