#!/usr/bin/env bash
# The durable event log benchmarks (docs/benchmarks.md, section "Durable event log"):
#
#   throughput  durable createAlert pipelined over 100 WebSocket connections (64 in flight each,
#               10 hospitals), 10 s after a 2 s warm-up; server CPU and storage commit counters;
#               then the mutation round trip (p50/p99) at a fixed RATE creates/s
#   replay      10,000 events of one hospital replayed to one client by lastEventId (default
#               ring of 1024: most come from SQLite), three times, then once more after a restart
#   startup     vigild on a database of 1,000,000 events, 200,000 alerts over 20 hospitals,
#               10,000 of them open: exec to `event=listening`, to the first getActiveAlerts
#               (hospital warm-up) and to /ready 200; with the file's pages evicted from the page
#               cache (cold) and cached (warm)
#
# Usage: bench/durable.sh [throughput] [replay] [startup]     (default: all three)
# Environment:
#   BUILD     build directory with vigild, vigilctl and bench/durable_gen
#             (default build-measure; configure it with -DCMAKE_BUILD_TYPE=RelWithDebInfo
#             -DVIGIL_BUILD_BENCH=ON and build vigild vigilctl durable_gen)
#   WORK      scratch directory (default /tmp/vigil-durable-bench); the generated 1M-event
#             database (~1 GB, about a minute to generate) is kept there and reused for a day
#   DURATION  measured seconds of the throughput run (default 10)
#   RATE      creates/s of the fixed-rate latency run that follows it (default 5000)
#   VIGILD    the vigild binary (default $BUILD/vigild); VIGILD_SOURCE says what it was built
#             from (printed in the header, e.g. "commit f44656a")
#   VIGILCTL  the vigilctl binary whose `bench durable` is the load client (default
#             $BUILD/vigilctl)
#
# Every run is bounded: each step has a deadline inside the tools, and every vigild started here
# is stopped on exit. Only loopback is used.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-measure}
VIGILD=${VIGILD:-$BUILD/vigild}
VIGILCTL=${VIGILCTL:-$BUILD/vigilctl}
GEN=${GEN:-$BUILD/bench/durable_gen}
WORK=${WORK:-/tmp/vigil-durable-bench}
DURATION=${DURATION:-10}
RATE=${RATE:-5000}
SECRET=durable-bench-secret
TESTS=${*:-throughput replay startup}

for f in "$VIGILD" "$VIGILCTL" "$GEN"; do
  [[ -x $f ]] || { echo "durable.sh: $f is missing (see the header of this script)" >&2; exit 2; }
done
mkdir -p "$WORK"

# load MODE [options]: the load client (`vigilctl bench durable`).
load() { "$VIGILCTL" bench durable "$@"; }

VIGILD_PID=
stop_vigild() {
  if [[ -n $VIGILD_PID ]] && kill -0 "$VIGILD_PID" 2>/dev/null; then
    kill -TERM "$VIGILD_PID"
    for _ in $(seq 100); do kill -0 "$VIGILD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$VIGILD_PID" 2>/dev/null || true
    wait "$VIGILD_PID" 2>/dev/null || true
  fi
  VIGILD_PID=
}
trap stop_vigild EXIT

# start_vigild DB LOG [args…]: starts vigild on a free port; sets VIGILD_PID and PORT.
start_vigild() {
  local db=$1 log=$2
  shift 2
  AUTH_JWT_SECRET=$SECRET "$VIGILD" --host 127.0.0.1 --port 0 --db "$db" --admin.port 0 \
    --limits.rate 0 "$@" >"$log" 2>&1 &
  VIGILD_PID=$!
  PORT=
  for _ in $(seq 300); do
    PORT=$(sed -n 's/.* event=listening .* port=\([0-9]*\).*/\1/p' "$log" | head -1)
    [[ -n $PORT ]] && return 0
    kill -0 "$VIGILD_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "durable.sh: vigild did not start; its log:" >&2
  cat "$log" >&2
  exit 1
}

machine() {
  echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)," \
       "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo "commit:  $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
       "(plus uncommitted changes: $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) files)"
  echo "vigild:  $VIGILD (${VIGILD_SOURCE:-built from the work tree}; build type" \
       "$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$(dirname "$VIGILD")/CMakeCache.txt" 2>/dev/null))"
}

loadavg() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

# value KEY FILE: the value of a key=value line.
value() { sed -n "s/^$1=//p" "$2" | head -1; }

run_throughput() {
  echo "== 1. durable createAlert throughput (100 connections x 64 in flight, 10 hospitals)"
  local db=$WORK/throughput.db out=$WORK/throughput.out
  rm -f "$db" "$db-wal" "$db-shm"
  loadavg
  # Nobody is subscribed, so with the failsafe on every new alert would escalate at once: three
  # more durable writes per create, which are not what this measures.
  start_vigild "$db" "$WORK/throughput.log" --escalation.failsafe off
  load create --port "$PORT" --pid "$VIGILD_PID" --secret "$SECRET" --connections 100 \
    --window 64 --hospitals 10 --warmup 2 --duration "$DURATION" | tee "$out"
  loadavg
  stop_vigild
  echo "-- mutation round trip at a fixed ${RATE} createAlert/s (open loop, 100 connections)"
  rm -f "$db" "$db-wal" "$db-shm"
  start_vigild "$db" "$WORK/latency.log" --escalation.failsafe off
  load create --port "$PORT" --pid "$VIGILD_PID" --secret "$SECRET" --connections 100 \
    --rate "$RATE" --hospitals 10 --warmup 2 --duration "$DURATION" | tee "$WORK/latency.out"
  loadavg
  stop_vigild
  printf 'RESULT throughput: %.0f createAlert/s (target 50000), server CPU %.0f%%, client CPU %.0f%%, mean batch %.1f, mean commit %.2f ms, p99 %.1f ms\n' \
    "$(value create_per_second "$out")" "$(value server_cpu_pct "$out")" \
    "$(value client_cpu_pct "$out")" "$(value storage_mean_batch "$out")" \
    "$(value storage_mean_commit_ms "$out")" "$(value latency_p99_ms "$out")"
  printf 'RESULT latency at %s/s: p50 %.1f ms, p99 %.1f ms (%.0f createAlert/s answered), server CPU %.0f%%\n' \
    "$RATE" "$(value latency_p50_ms "$WORK/latency.out")" "$(value latency_p99_ms "$WORK/latency.out")" \
    "$(value create_per_second "$WORK/latency.out")" "$(value server_cpu_pct "$WORK/latency.out")"
}

run_replay() {
  echo "== 2. replay of 10,000 events to one client (ring 1024)"
  local db=$WORK/replay.db out=$WORK/replay.out
  rm -f "$db" "$db-wal" "$db-shm"
  loadavg
  start_vigild "$db" "$WORK/replay.log"
  load replay --port "$PORT" --secret "$SECRET" --hospital durable-replay --events 10001 \
    --repeats 3 | tee "$out"
  echo "-- after a restart (hospital actor cold: every event from SQLite)"
  stop_vigild
  start_vigild "$db" "$WORK/replay-restart.log"
  load resume --port "$PORT" --secret "$SECRET" --hospital durable-replay \
    --after "$(value replay_after_id "$out")" --until "$(value replay_until_id "$out")" \
    --repeats 1 | tee -a "$out"
  loadavg
  stop_vigild
  printf 'RESULT replay: %s events in %s / %s / %s ms (same process), %s ms after a restart\n' \
    "$(value replay_expected_events "$out")" "$(value replay1_total_ms "$out")" \
    "$(value replay2_total_ms "$out")" "$(value replay3_total_ms "$out")" \
    "$(value resume1_total_ms "$out")"
}

# evict FILE: drops the file's pages from the page cache (only this file's clean pages).
evict() {
  python3 -c 'import os,sys
for p in sys.argv[1:]:
    if os.path.exists(p):
        fd = os.open(p, os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$@"
}

run_startup() {
  echo "== 3. start-up with 1,000,000 events, 200,000 alerts (20 hospitals), 10,000 open"
  local src=$WORK/startup-1m.db run=$WORK/startup-run.db out=$WORK/startup.out
  # Timestamps are relative to the generation time: an old copy would have its open alerts'
  # timers long overdue and, after 10 days, events past retention. Regenerate daily.
  if [[ -f $src && -n $(find "$src" -mtime +0) ]]; then rm -f "$src"; fi
  if [[ ! -f $src ]]; then
    echo "-- generating $src (kept for later runs on the same day)"
    "$GEN" --db "$src.tmp" --alerts 200000 --hospitals 20 --events 1000000 --open 10000 \
      --days 20 --hospital-prefix gen-h | tee "$WORK/gen.out"
    mv "$src.tmp" "$src"
  fi
  : >"$out"
  for cache in cold warm; do
    rm -f "$run" "$run-wal" "$run-shm"
    cp "$src" "$run"  # a fresh copy each time: a start may escalate overdue alerts
    [[ $cache == cold ]] && evict "$run"
    echo "-- $cache page cache ($(du -h "$run" | cut -f1) database)"
    loadavg
    load startup --vigild "$VIGILD" --db "$run" --secret "$SECRET" --hospital-prefix gen-h \
      --hospitals 20 --log "$WORK/startup-$cache.log" | sed "s/^/$cache./" | tee -a "$out"
  done
  printf 'RESULT startup (cold cache): listening %s ms, first getActiveAlerts %s ms, /ready %s ms, all 20 hospitals %s ms (target: ready < 1000 ms)\n' \
    "$(value cold.startup_listening_ms "$out")" "$(value cold.startup_first_query_ms "$out")" \
    "$(value cold.startup_ready_ms "$out")" "$(value cold.startup_all_hospitals_ms "$out")"
  printf 'RESULT startup (warm cache): listening %s ms, first getActiveAlerts %s ms, /ready %s ms, all 20 hospitals %s ms\n' \
    "$(value warm.startup_listening_ms "$out")" "$(value warm.startup_first_query_ms "$out")" \
    "$(value warm.startup_ready_ms "$out")" "$(value warm.startup_all_hospitals_ms "$out")"
}

machine
for t in $TESTS; do
  case $t in
    throughput) run_throughput ;;
    replay) run_replay ;;
    startup) run_startup ;;
    *) echo "durable.sh: unknown test $t (throughput, replay, startup)" >&2; exit 2 ;;
  esac
done
