#!/usr/bin/env bash
# Three nodes writing the same hospitals at once (docs/benchmarks.md "Cluster: one hospital
# written on three nodes"): a cluster started by scripts/cluster (3 nats-server with JetStream,
# replicas 3, and 3 vigild), and against each vigild at the same time `vigilctl bench durable
# lifecycle` (createAlert, acknowledgeAlert, resolveAlert per alert). Two phases on the same
# cluster, for a ratio measured in one run: "shared" (the 3 nodes write the same hospitals, so
# every hospital's order is contended by 3 nodes), then "separate" (each node its own
# hospitals). Prints, per phase and node, lifecycles/s, latency and the calls that failed (by
# code). Not part of the test suite.
#
#   bench/cluster_shared.sh                       # 3 x 3,000 lifecycles on 2 hospitals a phase
#   LIFECYCLES=500 HOSPITALS=1 bench/cluster_shared.sh
#
# Environment: VIGILD, VIGILCTL (default build/ of this checkout), LIFECYCLES (per node and
# phase), HOSPITALS, CONNECTIONS and WINDOW (per node: lifecycles in flight = CONNECTIONS x
# WINDOW), OUT (logs; default a new /tmp dir), NATS_SERVER_BIN.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VIGILD="${VIGILD:-$root/build/vigild}"
VIGILCTL="${VIGILCTL:-$root/build/vigilctl}"
LIFECYCLES="${LIFECYCLES:-3000}"
HOSPITALS="${HOSPITALS:-2}"
CONNECTIONS="${CONNECTIONS:-8}"
WINDOW="${WINDOW:-4}"
OUT="${OUT:-$(mktemp -d /tmp/vigil-bench-shared-XXXXXX)}"
SECRET="bench-secret-$$-$RANDOM"
mkdir -p "$OUT"
for bin in "$VIGILD" "$VIGILCTL"; do
  [[ -x "$bin" ]] || { echo "cluster_shared.sh: $bin not found (build it first)" >&2; exit 2; }
done

# Below the ephemeral port range (32768..), so that no outgoing connection holds one of them.
base=$((20000 + (RANDOM % 120) * 100))
export VIGIL_CLUSTER_DIR="$OUT/cluster" VIGIL_CLUSTER_BASE="$base" VIGIL_BIN="$VIGILD"
export AUTH_JWT_SECRET="$SECRET" VIGIL_CLUSTER_ARGS="--limits.rate=0 --escalation.failsafe=off"
trap '"$root/scripts/cluster" stop >/dev/null 2>&1 || true' EXIT

echo "cluster_shared.sh: output in $OUT" >&2
"$root/scripts/cluster" start >"$OUT/cluster-start.log"
failed=0
run_phase() { # phase name, then how a node's hospital prefix is made from its number
  local phase=$1 prefix_of=$2 start pids=() n p wall
  start=$(date +%s.%N)
  for n in 1 2 3; do
    "$VIGILCTL" bench durable lifecycle --port $((base + n)) --secret "$SECRET" \
      --lifecycles "$LIFECYCLES" --connections "$CONNECTIONS" --window "$WINDOW" \
      --hospitals "$HOSPITALS" --hospital-prefix "$($prefix_of "$n")" --subscribers 1 \
      --max-seconds 600 >"$OUT/$phase-node$n.txt" 2>"$OUT/$phase-node$n.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  printf '%s: node  lifecycles  per second  p50 ms  p99 ms  failed calls\n' "$phase"
  for n in 1 2 3; do
    kv() { grep "^$1=" "$OUT/$phase-node$n.txt" | cut -d= -f2 || true; }
    codes=$(grep '^lifecycle_error\.' "$OUT/$phase-node$n.txt" | sed 's/^lifecycle_error\.//' | tr '\n' ' ' || true)
    printf '%s: %-5s %-11s %-11s %-7s %-7s %s%s\n' "$phase" "$n" "$(kv lifecycles_done)" \
      "$(kv lifecycles_per_second)" "$(kv lifecycle_p50_ms)" "$(kv lifecycle_p99_ms)" \
      "$(kv lifecycle_errors)" "${codes:+ ($codes)}"
  done
  printf '%s: wall %.1f s for %d lifecycles\n' "$phase" "$wall" $((3 * LIFECYCLES))
}
shared_prefix() { echo "shared-h"; }
own_prefix() { echo "node$1-h"; }
run_phase shared shared_prefix
run_phase separate own_prefix
"$root/scripts/cluster" stop >/dev/null
exit "$failed"
