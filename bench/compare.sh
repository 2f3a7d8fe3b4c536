#!/usr/bin/env bash
# Runs the same loads against vigild and against the tRPC baseline (Node, then Bun) with
# `vigilctl bench`, and prints one table with the ratios. Not part of the test suite.
#
#   bench/compare.sh                 # every load, full size (several minutes)
#   SCALE=quick bench/compare.sh     # the same loads at about a tenth of the size (a smoke run)
#   LOADS="a b" RUNTIMES="node" bench/compare.sh
#
# Environment:
#   VIGILD, VIGILCTL   the binaries (default: build/vigild and build/vigilctl of this checkout;
#                      build them RelWithDebInfo or Release, never Debug, for numbers that mean
#                      anything)
#   RUNTIMES           baseline runtimes, in order (default "node bun")
#   LOADS              which loads, of a b c d e (default all)
#   SCALE              full (the issue's targets) or quick
#   OUT                where the servers' logs and each run's JSON go (default a new /tmp dir)
#
# Every server runs on 127.0.0.1 with port 0; each load gets a fresh server process (and a fresh
# database for vigild), so one load's garbage does not count against the next. vigild runs with
# its defaults except --limits.rate=0 (its per-connection rate limit of 1000 requests/s would cap
# a publisher connection; the baseline has no rate limit either).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
VIGILD="${VIGILD:-$root/build/vigild}"
VIGILCTL="${VIGILCTL:-$root/build/vigilctl}"
RUNTIMES="${RUNTIMES:-node bun}"
LOADS="${LOADS:-a b c d e}"
SCALE="${SCALE:-full}"
OUT="${OUT:-$(mktemp -d /tmp/vigil-bench-XXXXXX)}"
SECRET="bench-secret-$$-$RANDOM"
baseline="$here/baseline"

mkdir -p "$OUT"
for bin in "$VIGILD" "$VIGILCTL"; do
  [[ -x "$bin" ]] || { echo "compare.sh: $bin not found (build it first)" >&2; exit 2; }
done
if [[ ! -d "$baseline/node_modules/@trpc/server" ]]; then
  echo "compare.sh: installing the baseline's packages (npm ci)" >&2
  (cd "$baseline" && npm ci --no-audit --no-fund >&2)
fi
bun_bin="$baseline/node_modules/.bin/bun"
if ! "$bun_bin" --version >/dev/null 2>&1; then
  bun_bin="$(ls "$baseline"/node_modules/@oven/bun-linux-x64*/bin/bun 2>/dev/null | head -1 || true)"
fi

# Servers and the load generator both need many descriptors (15,000 connections in load c).
ulimit -n "$(ulimit -Hn)"

# ---- sizes -----------------------------------------------------------------------------------------
if [[ "$SCALE" == quick ]]; then
  A_SUBS=100;  B_SUBS=100;  C_CONNS=1500; D_SUBS=100;  E_SUBS=1000; E_HOSP=10; DUR=3; D_DUR=10
else
  # d runs 40 s: a stalled reader is only noticed once the kernel's send buffer for its socket
  # (autotuned, megabytes) and the server's own queue are full; at 100 alerts/s of ~1.1 KB that
  # takes about 30 s (see docs/benchmarks.md).
  A_SUBS=1000; B_SUBS=1000; C_CONNS=15000; D_SUBS=1000; E_SUBS=10000; E_HOSP=100; DUR=10; D_DUR=40
fi

# ---- servers ---------------------------------------------------------------------------------------
server_pid=""
server_port=""

# start_server NAME: starts a fresh server, sets server_pid and server_port.
start_server() {
  local name="$1" log="$OUT/$1-$2.log"
  case "$name" in
    vigild)
      local db="$OUT/db-$2"
      rm -rf "$db" && mkdir -p "$db"
      "$VIGILD" --port=0 --host=127.0.0.1 --db="$db/vigil.db" --auth.jwt-secret="$SECRET" \
        --admin.port=0 --limits.rate=0 2>"$log" &
      ;;
    node)
      (cd "$baseline" && exec node --import tsx server.ts --port=0 --host=127.0.0.1 --secret="$SECRET") 2>"$log" &
      ;;
    bun)
      [[ -n "$bun_bin" ]] || { echo "compare.sh: no bun binary in $baseline/node_modules" >&2; return 1; }
      (cd "$baseline" && exec "$bun_bin" run server.ts --port=0 --host=127.0.0.1 --secret="$SECRET") 2>"$log" &
      ;;
  esac
  server_pid=$!
  server_port=""
  for _ in $(seq 1 200); do
    server_port="$(grep -o 'event=listening.* port=[0-9]*' "$log" 2>/dev/null | grep -o 'port=[0-9]*' | tail -1 | cut -d= -f2 || true)"
    [[ -n "$server_port" ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "compare.sh: $name did not start (see $log)" >&2
  return 1
}

stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap stop_server EXIT

# ---- loads -----------------------------------------------------------------------------------------
# run_load LOAD SERVER: one bench run against a fresh server; the JSON goes to $OUT/LOAD-SERVER.json.
run_load() {
  local load="$1" name="$2" tag="$1-$2"
  local common=(--secret "$SECRET" --json --label "$tag")
  start_server "$name" "$load" || { echo '{"error":"server did not start"}' >"$OUT/$tag.json"; return; }
  local url="ws://127.0.0.1:$server_port" args=()
  case "$load" in
    # a: 8 publishers × 250 mutations in flight keep vigild's commit path busy (it allows 256 calls
    # in flight per connection); a hospital gets no new event while its slowest subscriber is
    # 1,000 events behind (under the 1 MiB outbound budget at ~700 B per event).
    a)  args=(--subscribers "$A_SUBS" --hospitals 1 --publishers 8 --rate 0 --window 250 --max-lag 1000 --duration "$DUR") ;;
    # b and d publish open-loop: a window of 1000 lets the offered rate hold even when replies
    # are slow (a closed loop would quietly publish less and flatter a slow server).
    b)  args=(--subscribers "$B_SUBS" --hospitals 1 --publishers 1 --rate 100 --window 1000 --duration "$DUR") ;;
    c)  args=(--subscribers "$C_CONNS" --hospitals 100 --connect-only --hold 5 --connect-concurrency 1000) ;;
    d0) args=(--subscribers "$D_SUBS" --hospitals 1 --publishers 1 --rate 100 --window 1000 --payload 400 --duration "$D_DUR") ;;
    d)  args=(--subscribers "$D_SUBS" --hospitals 1 --publishers 1 --rate 100 --window 1000 --payload 400 --duration "$D_DUR" --stall 1) ;;
    # e: "at once" means as fast as the generator can open them with at most 1,000 handshakes
    # in flight (lws keeps every pending handshake timeout in one sorted list, so 10,000 at
    # once would make the generator itself quadratic; see docs/benchmarks.md).
    e)  args=(--subscribers "$E_SUBS" --hospitals "$E_HOSP" --publishers 2 --reconnect-storm --events 100 --connect-concurrency 1000 --duration 60) ;;
  esac
  echo "== load $load on $name (port $server_port, pid $server_pid): ${args[*]}" >&2
  local poller=""
  if [[ "$name" == vigild && "$load" == d ]] && command -v curl >/dev/null; then
    # When vigild closes the stalled reader: its slow-consumer counter, once a second.
    (t0=$(date +%s.%N)
     while kill -0 "$server_pid" 2>/dev/null; do
       n="$(curl -s --max-time 1 "http://127.0.0.1:$server_port/metrics" | awk '/^vigil_connections_closed_total\{reason="slow_consumer"\}/{print $2}')"
       if [[ -n "$n" && "$n" != 0 ]]; then
         awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "first 4008 after %.1f s\n", a - b }' >"$OUT/$tag.slow"
         break
       fi
       sleep 1
     done) &
    poller=$!
  fi
  if ! timeout 300 "$VIGILCTL" bench --url "$url" --pid "$server_pid" "${args[@]}" "${common[@]}" >"$OUT/$tag.json" 2>"$OUT/$tag.err"; then
    echo "compare.sh: the bench run $tag failed (see $OUT/$tag.err)" >&2
    [[ -s "$OUT/$tag.json" ]] || echo '{"error":"bench run failed"}' >"$OUT/$tag.json"
  fi
  [[ -n "$poller" ]] && { kill "$poller" 2>/dev/null || true; wait "$poller" 2>/dev/null || true; }
  if [[ "$name" == vigild ]] && command -v curl >/dev/null; then
    # vigild's own counters (slow-consumer closes, deliveries, drops) after the run.
    curl -s --max-time 5 "http://127.0.0.1:$server_port/metrics" >"$OUT/$tag.metrics" || true
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "compare.sh: $name DIED during load $load (see $OUT/$name-$load.log)" >&2
    echo "$tag" >>"$OUT/server-died.txt"
  fi
  stop_server
}

servers=(vigild $RUNTIMES)
echo "compare.sh: results in $OUT" >&2
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "ram: $(free -g | awk '/^Mem:/{print $2 " GiB"}')"
  echo "uptime_before: $(uptime)"
  echo "scale: $SCALE"
  echo "node: $(node --version)"
  echo "bun: $("$bun_bin" --version 2>/dev/null || echo none)"
  echo "vigild: $VIGILD"
} >"$OUT/machine.txt"

for load in $LOADS; do
  for name in "${servers[@]}"; do
    if [[ "$load" == d ]]; then run_load d0 "$name"; fi
    run_load "$load" "$name"
  done
done
echo "uptime_after: $(uptime)" >>"$OUT/machine.txt"

node "$here/summarize.mjs" "$OUT" "${servers[@]}"
