#!/usr/bin/env bash
# The soak (docs/benchmarks.md, section "Soak"): N full alert lifecycles (createAlert,
# acknowledgeAlert, resolveAlert) over many WebSocket connections with subscribers attached,
# while vigild's RSS, open descriptors and database size are sampled every INTERVAL seconds.
#
# Retention runs in days; a soak runs in minutes. vigild's wall clock therefore runs RATE times
# faster (libfaketime, Debian package `faketime`, preloaded into vigild only, monotonic clocks
# left alone): with retention.days = retention.resolved-alert-days = audit.retention-days = 1,
# the retention horizon is 86400/RATE real seconds (120 s at the default RATE 720), so pruning
# deletes events, resolved alerts and audit records during the run through exactly the code that
# runs in production (CAF timers and lws use the monotonic clock: unaffected). What reads the
# wall clock sees time fly: the client signs its token for long enough (--token-ttl), and since
# vigild's keep-alive deadlines are wall-clock ones (a 5 s pong-wait would be 7 ms), vigild runs
# with keepalive.ping-interval 1h (5 s real) and the client sends PONG on every connection every
# 250 ms, so vigild never needs to PING. RATE=1 runs on the real clock (no pruning for a day).
#
# Usage: bench/soak.sh
# Environment:
#   BUILD        build directory with vigild and vigilctl (default build)
#   WORK         scratch directory (default /tmp/vigil-soak); the database is created fresh
#   OUT          where the CSV, the summary and the plot go (default bench/results/soak-<date>)
#   LIFECYCLES   (default 1000000)  CONNECTIONS (50)  WINDOW (8 lifecycles in flight each)
#   HOSPITALS    (10)  SUBSCRIBERS per hospital (2)  INTERVAL sampling seconds (10)
#   RATE         how much faster vigild's wall clock runs (default 720: a day in 2 minutes)
#   MAX_SECONDS  the load client gives up after this long (default 7200)
#
# Writes OUT/soak.csv (one row per sample: elapsed s, lifecycles done, RSS KiB, open fds, db, wal
# and shm bytes, free pages, alerts and events rows), OUT/summary.txt (start/end figures and
# slopes over the second half) and OUT/soak.png. vigild is stopped on exit. Loopback only.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
VIGILD=${VIGILD:-$BUILD/vigild}
VIGILCTL=${VIGILCTL:-$BUILD/vigilctl}
WORK=${WORK:-/tmp/vigil-soak}
OUT=${OUT:-$ROOT/bench/results/soak-$(date -u +%Y-%m-%d)}
LIFECYCLES=${LIFECYCLES:-1000000}
CONNECTIONS=${CONNECTIONS:-50}
WINDOW=${WINDOW:-8}
HOSPITALS=${HOSPITALS:-10}
SUBSCRIBERS=${SUBSCRIBERS:-2}
INTERVAL=${INTERVAL:-10}
RATE=${RATE:-720}
MAX_SECONDS=${MAX_SECONDS:-7200}
SECRET=soak-bench-secret

for f in "$VIGILD" "$VIGILCTL"; do
  [[ -x $f ]] || { echo "soak.sh: $f is missing (set BUILD)" >&2; exit 2; }
done
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1 || true)
[[ -n $FAKETIME_LIB ]] || { echo "soak.sh: libfaketime not found (apt-get install faketime)" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "soak.sh: sqlite3 not found (apt-get install sqlite3)" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "soak.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 2; }

rm -rf "$WORK"
mkdir -p "$WORK" "$OUT"
DB=$WORK/soak.db
LOG=$WORK/vigild.log
PROGRESS=$WORK/progress

VIGILD_PID=
LOAD_PID=
cleanup() {
  [[ -n $LOAD_PID ]] && kill "$LOAD_PID" 2>/dev/null || true
  if [[ -n $VIGILD_PID ]] && kill -0 "$VIGILD_PID" 2>/dev/null; then
    kill -TERM "$VIGILD_PID"
    for _ in $(seq 300); do kill -0 "$VIGILD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$VIGILD_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

PRELOAD=(env LD_PRELOAD="$FAKETIME_LIB" FAKETIME="+0 x$RATE" FAKETIME_DONT_FAKE_MONOTONIC=1)
[[ $RATE == 1 ]] && PRELOAD=(env)  # RATE=1: the real clock (retention then needs a day)
"${PRELOAD[@]}" AUTH_JWT_SECRET=$SECRET \
  "$VIGILD" --host 127.0.0.1 --port 0 --db "$DB" --admin.port 0 --limits.rate 0 \
  --retention.days 1 --retention.resolved-alert-days 1 --audit.retention-days 1 \
  --keepalive.ping-interval 1h --keepalive.pong-wait 10m \
  >"$LOG" 2>&1 &
VIGILD_PID=$!
PORT=
for _ in $(seq 300); do
  PORT=$(sed -n 's/.* event=listening .* port=\([0-9]*\).*/\1/p' "$LOG" | head -1)
  [[ -n $PORT ]] && break
  kill -0 "$VIGILD_PID" 2>/dev/null || break
  sleep 0.05
done
[[ -n $PORT ]] || { echo "soak.sh: vigild did not start; its log:" >&2; cat "$LOG" >&2; exit 1; }

{
  echo "date:        $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine:     $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "vigild:      $VIGILD ($(cd "$ROOT" && git log -1 --format=%h 2>/dev/null || echo '?'))"
  echo "run:         LIFECYCLES=$LIFECYCLES CONNECTIONS=$CONNECTIONS WINDOW=$WINDOW HOSPITALS=$HOSPITALS SUBSCRIBERS=$SUBSCRIBERS/hospital RATE=x$RATE INTERVAL=${INTERVAL}s"
  echo "retention:   1 day (events, resolved alerts, audit) = $((86400 / RATE)) s of real time"
} >"$OUT/summary.txt"

"$VIGILCTL" bench durable lifecycle --port "$PORT" --secret "$SECRET" \
  --lifecycles "$LIFECYCLES" --connections "$CONNECTIONS" --window "$WINDOW" \
  --hospitals "$HOSPITALS" --hospital-prefix soak-h --subscribers "$SUBSCRIBERS" \
  --progress "$PROGRESS" --max-seconds "$MAX_SECONDS" --token-ttl 1000000000 --keepalive-ms 250 \
  >"$WORK/load.out" 2>"$WORK/load.err" &
LOAD_PID=$!

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
sample() {
  local t=$1 done rss fds db wal shm free alerts events
  done=$(sed -n 's/^done=\([0-9]*\).*/\1/p' "$PROGRESS" 2>/dev/null || true)
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$VIGILD_PID/status")
  fds=$(ls "/proc/$VIGILD_PID/fd" | wc -l)
  db=$(size_of "$DB"); wal=$(size_of "$DB-wal"); shm=$(size_of "$DB-shm")
  read -r free alerts events < <(sqlite3 -readonly "$DB" \
    "PRAGMA busy_timeout=5000; SELECT (SELECT freelist_count FROM pragma_freelist_count), \
     (SELECT count(*) FROM alerts), (SELECT count(*) FROM events);" 2>/dev/null | tr '|' ' ' | tail -1)
  echo "$t,${done:-0},$rss,$fds,$db,$wal,$shm,${free:-},${alerts:-},${events:-}"
}

CSV=$OUT/soak.csv
echo "elapsed_s,lifecycles,rss_kib,fds,db_bytes,wal_bytes,shm_bytes,free_pages,alerts,events" >"$CSV"
start=$(date +%s)
sample 0 >>"$CSV"
while kill -0 "$LOAD_PID" 2>/dev/null; do
  sleep "$INTERVAL" &
  wait $! || true
  kill -0 "$VIGILD_PID" 2>/dev/null || { echo "soak.sh: vigild died; its log:" >&2; tail -20 "$LOG" >&2; exit 1; }
  sample $(( $(date +%s) - start )) >>"$CSV"
done
load_rc=0
wait "$LOAD_PID" || load_rc=$?
LOAD_PID=
# Two more samples after the load: what the server holds at rest.
for _ in 1 2; do
  sleep "$INTERVAL"
  sample $(( $(date +%s) - start )) >>"$CSV"
done

{
  echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "client (exit $load_rc):"
  sed 's/^/  /' "$WORK/load.out"
  grep -v '^$' "$WORK/load.err" | head -5 | sed 's/^/  client stderr: /' || true
  echo "pruned (vigild log): events $(grep -o 'event=storage_pruned events=[0-9]*' "$LOG" | awk -F= '{s+=$NF} END {print s+0}'), alerts $(grep -o 'event=alerts_pruned alerts=[0-9]*' "$LOG" | awk -F= '{s+=$NF} END {print s+0}'), audit $(grep -o 'event=audit_pruned records=[0-9]*' "$LOG" | awk -F= '{s+=$NF} END {print s+0}')"
  # Start, end, and the least-squares slope over the second half of the load (per 1,000
  # lifecycles), when retention is in its steady state.
  awk -F, 'NR > 1 { n++; t[n]=$1; l[n]=$2; r[n]=$3; f[n]=$4; d[n]=$5; w[n]=$6; a[n]=$9; e[n]=$10 }
    function slope(y,   i, from, k, sx, sy, sxx, sxy) {
      from = int(n / 2); k = 0; sx = sy = sxx = sxy = 0
      for (i = from; i <= n - 2; i++) { k++; sx += l[i]; sy += y[i]; sxx += l[i]*l[i]; sxy += l[i]*y[i] }
      if (k < 2 || k * sxx - sx * sx == 0) return "n/a"
      return sprintf("%.3f", 1000 * (k * sxy - sx * sy) / (k * sxx - sx * sx))
    }
    END {
      printf "samples:     %d over %d s\n", n, t[n]
      printf "RSS KiB:     start %d, after 1st sample %d, max %d, end %d; slope (2nd half) %s KiB per 1,000 lifecycles\n", r[1], r[2], maxof(r), r[n], slope(r)
      printf "open fds:    start %d, max %d, end %d; slope %s per 1,000 lifecycles\n", f[1], maxof(f), f[n], slope(f)
      printf "db bytes:    start %d, max %d, end %d; slope %s bytes per 1,000 lifecycles\n", d[1], maxof(d), d[n], slope(d)
      printf "wal bytes:   max %d, end %d\n", maxof(w), w[n]
      printf "rows at end: alerts %s, events %s\n", a[n], e[n]
    }
    function maxof(y,   i, m) { m = y[1]; for (i = 2; i <= n; i++) if (y[i] > m) m = y[i]; return m }' "$CSV"
} >>"$OUT/summary.txt"

gnuplot <<GP
set terminal pngcairo size 900,560 font "DejaVu Sans,10" noenhanced
set output "$OUT/soak.png"
set datafile separator ","
set key top left
set grid ytics
set multiplot layout 2,1 title "Soak: $LIFECYCLES alert lifecycles (create, acknowledge, resolve), retention 1 day = $((86400 / RATE)) s"
set xlabel "lifecycles completed (thousands)"
set ylabel "MiB"
set yrange [0:*]
plot "$CSV" every ::1 using (\$2/1000):(\$3/1024) with linespoints pt 7 ps 0.4 title "vigild RSS", \
     "" every ::1 using (\$2/1000):(\$5/1048576) with linespoints pt 7 ps 0.4 title "database file", \
     "" every ::1 using (\$2/1000):(\$6/1048576) with lines title "WAL file"
set ylabel "count"
plot "$CSV" every ::1 using (\$2/1000):4 with linespoints pt 7 ps 0.4 title "open fds", \
     "" every ::1 using (\$2/1000):(\$9/100) with lines title "alerts rows / 100", \
     "" every ::1 using (\$2/1000):(\$10/1000) with lines title "events rows / 1000"
unset multiplot
GP
cat "$OUT/summary.txt"
echo "soak.sh: wrote $CSV, $OUT/summary.txt, $OUT/soak.png" >&2
exit "$load_rc"
