#!/usr/bin/env bash
# One vigild on SQLite against a 3-node cluster (3 nats-server with JetStream, replicas 3, and
# 3 vigild with storage.engine = jetstream), the same `vigilctl bench` loads in one run, printed
# as one table with the ratios (docs/benchmarks.md "Cluster"). Not part of the test suite.
#
#   bench/cluster.sh                  # default sizes (about 2 minutes)
#   SCALE=quick bench/cluster.sh      # smaller and shorter (a smoke run)
#
# Loads (SQLite: a fresh vigild each; cluster: one cluster, each load its own hospitals):
#   fanout   SUBS subscribers on 10 hospitals, 1 publisher as fast as the subscribers keep up
#            (rate 0, window 32, --max-lag 200): deliveries/s (latency here includes queueing)
#   latency  the same subscribers, 100 createAlert/s: end-to-end latency (publish to receipt)
#   rtt      1 subscriber, 1 publisher with one mutation in flight at 50/s: the createAlert
#            round trip (SQLite: a group commit; JetStream: a publish acknowledged by a quorum)
#   cross    cluster only: the latency load with the subscribers on node 2 and the publisher on
#            node 1 (--publish-port): end-to-end latency across nodes
#   spread   cluster only: the fanout load split over the 3 nodes (3 bench processes at once,
#            SUBS/3 subscribers each, their own hospitals): what the cluster serves in total
#
# Environment: VIGILD, VIGILCTL (default build/ of this checkout; RelWithDebInfo or Release),
# SCALE (full | quick), OUT (logs and JSON reports; default a new /tmp dir), NATS_SERVER_BIN.
# Every process runs on 127.0.0.1; the cluster uses a random port base (scripts/cluster).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
VIGILD="${VIGILD:-$root/build/vigild}"
VIGILCTL="${VIGILCTL:-$root/build/vigilctl}"
SCALE="${SCALE:-full}"
OUT="${OUT:-$(mktemp -d /tmp/vigil-bench-cluster-XXXXXX)}"
SECRET="bench-secret-$$-$RANDOM"
mkdir -p "$OUT"
for bin in "$VIGILD" "$VIGILCTL"; do
  [[ -x "$bin" ]] || { echo "cluster.sh: $bin not found (build it first)" >&2; exit 2; }
done
command -v "${NATS_SERVER_BIN:-nats-server}" >/dev/null || { echo "cluster.sh: nats-server not found" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)"

if [[ "$SCALE" == quick ]]; then SUBS=90; DUR=4; else SUBS=300; DUR=10; fi

# ---- servers ---------------------------------------------------------------------------------------
single_pid=""
cluster_dir="$OUT/cluster"
# Below the ephemeral port range (32768..), so that no outgoing connection holds one of them.
cluster_base=$((20000 + (RANDOM % 120) * 100))
export VIGIL_CLUSTER_DIR="$cluster_dir" VIGIL_CLUSTER_BASE="$cluster_base" VIGIL_BIN="$VIGILD"
export AUTH_JWT_SECRET="$SECRET" VIGIL_CLUSTER_ARGS="--limits.rate=0 --escalation.failsafe=off"

cleanup() {
  [[ -n "$single_pid" ]] && kill "$single_pid" 2>/dev/null || true
  "$root/scripts/cluster" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# start_single: a fresh SQLite vigild; sets single_pid and single_port.
start_single() {
  local db="$OUT/single-db-$1"
  rm -rf "$db" && mkdir -p "$db"
  "$VIGILD" --port=0 --host=127.0.0.1 --db="$db/vigil.db" --auth.jwt-secret="$SECRET" \
    --admin.port=0 --limits.rate=0 --escalation.failsafe=off 2>"$OUT/single-$1.log" &
  single_pid=$!
  for _ in $(seq 1 300); do
    single_port=$(grep -v 'admin\|console' "$OUT/single-$1.log" | grep -o 'event=listening.* port=[0-9]*' \
      | grep -o 'port=[0-9]*' | head -1 | cut -d= -f2 || true)
    [[ -n "$single_port" ]] && return 0
    sleep 0.1
  done
  echo "cluster.sh: the single vigild did not start" >&2
  exit 1
}
stop_single() { kill "$single_pid" 2>/dev/null || true; wait "$single_pid" 2>/dev/null || true; single_pid=""; }

node_port() { echo $((cluster_base + $1)); }
# cpu_ticks KIND: utime+stime (clock ticks) of the cluster's nats-server or vigild processes.
cpu_ticks() {
  local total=0 f
  for f in "$cluster_dir"/"$1"[123]/pid; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$(cat "$f")/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
node_pid() { cat "$cluster_dir/vigild$1/pid"; }

# ---- loads -----------------------------------------------------------------------------------------
# bench NAME PORT PID ARGS...: one `vigilctl bench` run, its JSON report in $OUT/NAME.json.
bench() {
  local name=$1 port=$2 pid=$3
  shift 3
  "$VIGILCTL" bench --url "ws://127.0.0.1:$port" --secret "$SECRET" --pid "$pid" --json \
    --label "$name" "$@" >"$OUT/$name.json" 2>"$OUT/$name.err" || {
    echo "cluster.sh: $name failed:" >&2; cat "$OUT/$name.err" >&2; return 1; }
}
fanout_args() { echo --subscribers "$1" --hospitals 10 --publishers 1 --rate 0 --duration "$DUR" --drain 10 --hospital-prefix "$2"; }
latency_args() { echo --subscribers "$1" --hospitals 10 --publishers 1 --rate 100 --duration "$DUR" --drain 10 --hospital-prefix "$2"; }
rtt_args() { echo --subscribers 1 --hospitals 1 --publishers 1 --window 1 --rate 50 --duration "$DUR" --drain 5 --hospital-prefix "$1"; }

echo "cluster.sh: output in $OUT" >&2
start_single fanout
bench single-fanout "$single_port" "$single_pid" $(fanout_args "$SUBS" sf-)
stop_single
start_single latency
bench single-latency "$single_port" "$single_pid" $(latency_args "$SUBS" sl-)
stop_single
start_single rtt
bench single-rtt "$single_port" "$single_pid" $(rtt_args sr-)
stop_single

"$root/scripts/cluster" start >"$OUT/cluster-start.log"
nats0=$(cpu_ticks nats) vigil0=$(cpu_ticks vigild) t0=$(date +%s.%N)
bench cluster-fanout "$(node_port 1)" "$(node_pid 1)" $(fanout_args "$SUBS" cf-)
bench cluster-latency "$(node_port 1)" "$(node_pid 1)" $(latency_args "$SUBS" cl-)
bench cluster-cross "$(node_port 2)" "$(node_pid 2)" $(latency_args "$SUBS" cx-) --publish-port "$(node_port 1)"
bench cluster-rtt "$(node_port 1)" "$(node_pid 1)" $(rtt_args cr-)
pids=()
for n in 1 2 3; do
  bench "cluster-spread-$n" "$(node_port "$n")" "$(node_pid "$n")" $(fanout_args $((SUBS / 3)) "cs$n-") &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
hz=$(getconf CLK_TCK)
echo "{\"nats_cpu_s\": $(( ($(cpu_ticks nats) - nats0) / hz )), \"vigild_cpu_s\": $(( ($(cpu_ticks vigild) - vigil0) / hz )), \"wall_s\": $(echo "$(date +%s.%N) - $t0" | bc | cut -d. -f1)}" >"$OUT/cluster-cpu.json"
"$root/scripts/cluster" stop >/dev/null

# ---- table -----------------------------------------------------------------------------------------
node - "$OUT" "$SUBS" <<'EOF'
const fs = require('fs');
const [out, subs] = process.argv.slice(2);
const r = (n) => JSON.parse(fs.readFileSync(`${out}/${n}.json`, 'utf8'));
const get = (o, k) => o[k]; // the report is flat: "latency.p99_ms" is one key
const sf = r('single-fanout'), cf = r('cluster-fanout'), sr = r('single-rtt'), cr = r('cluster-rtt');
const sl = r('single-latency'), cl = r('cluster-latency'), cx = r('cluster-cross');
const spread = [1, 2, 3].map((n) => r(`cluster-spread-${n}`));
const sum = (k) => spread.reduce((a, o) => a + (get(o, k) || 0), 0);
const ratio = (a, b) => (a && b ? (b / a).toFixed(2) : '-');
const rows = [
  ['fanout: deliveries/s', get(sf, 'delivered.per_s'), get(cf, 'delivered.per_s')],
  ['fanout: creates/s', get(sf, 'published.per_s'), get(cf, 'published.per_s')],
  ['fanout: end-to-end p99 ms (queued)', get(sf, 'latency.p99_ms'), get(cf, 'latency.p99_ms')],
  ['latency (100/s): deliveries/s', get(sl, 'delivered.per_s'), get(cl, 'delivered.per_s')],
  ['latency (100/s): end-to-end p50 ms', get(sl, 'latency.p50_ms'), get(cl, 'latency.p50_ms')],
  ['latency (100/s): end-to-end p99 ms', get(sl, 'latency.p99_ms'), get(cl, 'latency.p99_ms')],
  ['rtt: createAlert p50 ms', get(sr, 'mutation_rtt.p50_ms'), get(cr, 'mutation_rtt.p50_ms')],
  ['rtt: createAlert p99 ms', get(sr, 'mutation_rtt.p99_ms'), get(cr, 'mutation_rtt.p99_ms')],
];
console.log(`${subs} subscribers, 10 hospitals; cluster = 3 nats-server (replicas 3) + 3 vigild on this machine`);
console.log(['load', 'SQLite 1 node', 'cluster node 1', 'cluster / SQLite'].join(' | '));
for (const [k, a, b] of rows) console.log([k, a ?? '-', b ?? '-', ratio(a, b)].join(' | '));
console.log(`cross (100/s, publisher on node 1, subscribers on node 2): deliveries/s ${get(cx, 'delivered.per_s')}, `
  + `end-to-end p50 ${get(cx, 'latency.p50_ms')} ms (same node ${get(cl, 'latency.p50_ms')}), p99 ${get(cx, 'latency.p99_ms')} ms (same node ${get(cl, 'latency.p99_ms')})`);
const cpu = JSON.parse(fs.readFileSync(`${out}/cluster-cpu.json`, 'utf8'));
console.log(`spread over 3 nodes (${spread.length} x ${Math.floor(subs / 3)} subscribers, 1 publisher each): creates/s ${sum('published.per_s').toFixed(1)} in total `
  + `(one node: ${get(cf, 'published.per_s')}), deliveries/s ${sum('delivered.per_s').toFixed(0)} in total, `
  + `end-to-end p99 ms per node ${spread.map((o) => get(o, 'latency.p99_ms')).join(' / ')}`);
console.log(`CPU during the cluster loads (${cpu.wall_s} s): 3 nats-server ${cpu.nats_cpu_s} s, 3 vigild ${cpu.vigild_cpu_s} s`);
const loss = (o) => `${get(o, 'lost')} lost, ${get(o, 'duplicated')} doubled`;
console.log(`events: single ${loss(sf)}, ${loss(sl)}, ${loss(sr)}; cluster ${loss(cf)}, ${loss(cl)}, ${loss(cx)}, ${loss(cr)}; spread ${spread.map(loss).join(' / ')}`);
EOF
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
