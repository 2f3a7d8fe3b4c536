#!/usr/bin/env bash
# Memory independent of history (docs/benchmarks.md, "Lazy loading"): vigild on a database of
# 1,000,000 resolved alerts over 100 hospitals (gen-h0 … gen-h99) plus 10,000 open ones.
#
#   startup   exec to `event=listening`, first getActiveAlerts, /ready 200 and all 100
#             hospitals answered, with the file's pages evicted from the page cache (cold) and
#             cached (warm); `vigilctl bench durable startup` on a fresh copy each time
#   ready     exec to `event=listening` and to `/ready` 200 (polled every 20 ms) on a fresh,
#             evicted copy, $READY_RUNS times (default 3), with vigild's debug line `ready_probe`
#             (where the first successful probe spent its time)
#   memory    vigild on a fresh, evicted copy: RSS at /ready 200, then after "a day's worth of
#             queries" (bench/lazy_queries.mjs: 9,300 history pages, getAlert and timelines of
#             old alerts, listings, stats over all 100 hospitals), and the peak (VmHWM)
#
# Usage: bench/lazy.sh [startup] [ready] [memory]       (default: startup memory)
# Environment:
#   BUILD     build directory with vigild, vigilctl and bench/durable_gen (default build;
#             configure with -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_BUILD_BENCH=ON)
#   WORK      scratch directory (default /tmp/vigil-lazy-bench); the generated database (about
#             3 GB, several minutes to generate) is kept there and reused for a day
#   VIGILD, VIGILCTL, GEN   the binaries (default $BUILD/vigild, $BUILD/vigilctl,
#             $BUILD/bench/durable_gen)
#   ARGS      extra vigild arguments (e.g. --storage.resolved-window=1000)
#   SRC       the database to copy (default $WORK/lazy-1m.db, generated when missing)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
VIGILD=${VIGILD:-$BUILD/vigild}
VIGILCTL=${VIGILCTL:-$BUILD/vigilctl}
GEN=${GEN:-$BUILD/bench/durable_gen}
WORK=${WORK:-/tmp/vigil-lazy-bench}
SECRET=lazy-bench-secret
HOSPITALS=100
TESTS=${*:-startup memory}
read -r -a EXTRA <<<"${ARGS:-}"

for f in "$VIGILD" "$VIGILCTL" "$GEN"; do
  [[ -x $f ]] || { echo "lazy.sh: $f is missing (see the header of this script)" >&2; exit 2; }
done
mkdir -p "$WORK"
SRC=${SRC:-$WORK/lazy-1m.db}   # another database (e.g. an older schema for a "before" run)
RUN=$WORK/lazy-run.db

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

# evict FILE: drops the file's pages from the page cache (only this file's clean pages).
evict() {
  python3 -c 'import os,sys
for p in sys.argv[1:]:
    if os.path.exists(p):
        fd = os.open(p, os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$@"
}

fresh_copy() {
  rm -f "$RUN" "$RUN-wal" "$RUN-shm" "$RUN.lock"
  cp "$SRC" "$RUN"
}

# listening_port LOG: the port vigild announced in LOG (event=listening); 600 polls 20 ms apart.
listening_port() {
  local port=
  for _ in $(seq 600); do
    port=$(sed -n 's/.* event=listening .* port=\([0-9]*\).*/\1/p' "$1" | head -1)
    [[ -n $port ]] && { echo "$port"; return; }
    sleep 0.02
  done
  echo "lazy.sh: vigild did not start" >&2; cat "$1" >&2; exit 1
}

# await_ready PORT: polls /ready every 20 ms until 200, at most 600 s.
await_ready() {
  local deadline=$(( $(date +%s) + 600 ))
  until curl -sf "http://127.0.0.1:$1/ready" >/dev/null; do
    (( $(date +%s) < deadline )) || { echo "lazy.sh: not ready after 600 s" >&2; exit 1; }
    sleep 0.02
  done
}

rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }
hwm_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }

generate() {
  # Timestamps are relative to the generation time: regenerate daily.
  if [[ -f $SRC && -n $(find "$SRC" -mtime +0) ]]; then rm -f "$SRC"; fi
  if [[ ! -f $SRC ]]; then
    echo "-- generating $SRC (kept for later runs on the same day)"
    "$GEN" --db "$SRC.tmp" --alerts 1010000 --hospitals $HOSPITALS --open 10000 --days 29 \
      --events 1 --hospital-prefix gen-h | tee "$WORK/gen.out"
    mv "$SRC.tmp" "$SRC"
  fi
}

run_startup() {
  echo "== start-up: 1,000,000 resolved + 10,000 open alerts over $HOSPITALS hospitals"
  local out=$WORK/startup.out
  : >"$out"
  for cache in cold warm; do
    fresh_copy
    [[ $cache == cold ]] && evict "$RUN"
    echo "-- $cache page cache ($(du -h "$RUN" | cut -f1) database), load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$VIGILCTL" bench durable startup --vigild "$VIGILD" --db "$RUN" --secret "$SECRET" \
      --hospital-prefix gen-h --hospitals $HOSPITALS --log "$WORK/startup-$cache.log" \
      | sed "s/^/$cache./" | tee -a "$out"
  done
}

run_ready() {
  echo "== ready: exec to /ready 200, cold copy, ${READY_RUNS:-3} runs"
  local log=$WORK/ready.log t0 port i
  for i in $(seq "${READY_RUNS:-3}"); do
    fresh_copy
    evict "$RUN"
    echo "-- run $i, load $(cut -d' ' -f1-3 /proc/loadavg)"
    t0=$(date +%s%N)
    AUTH_JWT_SECRET=$SECRET "$VIGILD" --host 127.0.0.1 --port 0 --db "$RUN" --admin.port 0 \
      --limits.rate 0 --log.level debug "${EXTRA[@]}" >"$log" 2>&1 &
    VIGILD_PID=$!
    port=$(listening_port "$log")
    echo "ready.listening_ms=$(( ($(date +%s%N) - t0) / 1000000 ))"
    await_ready "$port"
    echo "ready.ready_ms=$(( ($(date +%s%N) - t0) / 1000000 ))"
    grep -m1 'event=ready_probe .*ready=true' "$log" | sed 's/.*event=ready_probe /ready.probe: /' || true
    stop_vigild
  done
}

run_memory() {
  echo "== memory: RSS at /ready and after a day's worth of queries"
  fresh_copy
  evict "$RUN"
  local log=$WORK/memory.log t0
  t0=$(date +%s%N)
  AUTH_JWT_SECRET=$SECRET "$VIGILD" --host 127.0.0.1 --port 0 --db "$RUN" --admin.port 0 \
    --limits.rate 0 "${EXTRA[@]}" >"$log" 2>&1 &
  VIGILD_PID=$!
  local port
  port=$(listening_port "$log")
  await_ready "$port"
  echo "memory.ready_ms=$(( ($(date +%s%N) - t0) / 1000000 ))"
  echo "memory.rss_at_ready_kb=$(rss_kb "$VIGILD_PID")"
  node "$ROOT/bench/lazy_queries.mjs" "$port" "$SECRET" $HOSPITALS | sed 's/^/memory./'
  echo "memory.rss_after_queries_kb=$(rss_kb "$VIGILD_PID")"
  echo "memory.rss_peak_kb=$(hwm_kb "$VIGILD_PID")"
  curl -s "http://127.0.0.1:$port/metrics" | grep -E '^process_resident_memory_bytes' | sed 's/^/memory./' || true
  stop_vigild
}

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "vigild: $VIGILD ${ARGS:-}"
generate
for t in $TESTS; do
  case $t in
    startup) run_startup ;;
    ready) run_ready ;;
    memory) run_memory ;;
    *) echo "lazy.sh: unknown test $t (startup, ready, memory)" >&2; exit 2 ;;
  esac
done
