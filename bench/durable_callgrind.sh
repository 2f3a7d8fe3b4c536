#!/usr/bin/env bash
# Instructions per durable createAlert, by thread role, under callgrind (docs/benchmarks.md
# "Durable event log" §1). Instruction counts do not depend on the load of a shared box, so
# before/after comparisons are repeatable where timings are not.
#
# vigild runs under `valgrind --tool=callgrind`; `vigilctl bench durable create` warms it up
# (hospital actors started, SQLite cache filled), the counters are zeroed, a second run sends
# creates for DURATION seconds and drains, the counters are dumped. The number of creates is the
# growth of vigil_storage_commit_items_total over the same span. Prints the total instructions
# per create and the inclusive cost per create of the main parts of the write path.
#
# Usage: bench/durable_callgrind.sh                 (BUILD, VIGILD, VIGILCTL, OUT, DURATION,
#                                                    CONNECTIONS, WINDOW, VIGILD_ARGS as
#                                                    environment)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
VIGILD=${VIGILD:-$BUILD/vigild}
VIGILCTL=${VIGILCTL:-$BUILD/vigilctl}
OUT=${OUT:-$(mktemp -d /tmp/vigil-callgrind-XXXXXX)}
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-20}
WINDOW=${WINDOW:-16}
# No subscriber is online, so with the failsafe on every alert would escalate at once, three
# more durable writes per create: those are not the createAlert path.
VIGILD_ARGS=${VIGILD_ARGS:---escalation.failsafe off}
SECRET=durable-bench-secret
mkdir -p "$OUT"

PID=
cleanup() {
  if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"
    for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

AUTH_JWT_SECRET=$SECRET valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
  --log-file="$OUT/valgrind.log" --dump-instr=no --collect-jumps=no \
  "$VIGILD" --host 127.0.0.1 --port 0 --db "$OUT/db.sqlite" --admin.port 0 --limits.rate 0 $VIGILD_ARGS \
  >"$OUT/vigild.log" 2>&1 &
PID=$!
PORT=
for _ in $(seq 1200); do
  PORT=$(sed -n 's/.* event=listening .* port=\([0-9]*\).*/\1/p' "$OUT/vigild.log" | head -1)
  [[ -n $PORT ]] && break
  sleep 0.1
done
[[ -n $PORT ]] || { echo "vigild did not start" >&2; cat "$OUT/vigild.log" >&2; exit 1; }

items() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^vigil_storage_commit_items_total/ {print $2}'; }
load() {
  "$VIGILCTL" bench durable create --port "$PORT" --secret "$SECRET" --connections "$CONNECTIONS" \
    --window "$WINDOW" --hospitals 10 --warmup 0 "$@"
}

load --duration 5 >"$OUT/warmup.txt" || true
before=$(items)
callgrind_control -z "$PID" >/dev/null
load --duration "$DURATION" >"$OUT/load.txt" || true
callgrind_control -d "$PID" >/dev/null
after=$(items)
creates=$(awk -v a="$after" -v b="$before" 'BEGIN {print a - b}')
dump=$(ls -t "$OUT"/callgrind.out* | grep -v '\.0$' | head -1 || true)
[[ -n $dump ]] || dump=$(ls -t "$OUT"/callgrind.out* | head -1)

echo "creates: $creates (vigil_storage_commit_items_total $before -> $after)"
total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
echo "instructions: $total"
awk -v t="$total" -v n="$creates" 'BEGIN {printf "instructions per create: %.0f\n", t / n}'
# Inclusive cost per create of the main parts of the path.
callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null >"$OUT/inclusive.txt"
part() {
  local label=$1 pattern=$2
  local ir
  ir=$(grep -E "$pattern" "$OUT/inclusive.txt" | head -1 | awk '{gsub(",","",$1); print $1}' || true)
  [[ -n $ir ]] && awk -v l="$label" -v ir="$ir" -v n="$creates" \
    'BEGIN {printf "  %-34s %8.0f\n", l, ir / n}'
  return 0
}
echo "inclusive instructions per create:"
part "storage flush (storage thread)" "vigil::\(anonymous namespace\)::flush\("
part "  sqlite3_step" " sqlite3_step "
part "  audit append (sha-256 chain)" "audit_store::append"
part "hospital handle_mutation" "hospital_state::handle_mutation\("
part "hospital commit_transition" "hospital_state::commit_transition\("
part "hospital publish" "hospital_state::publish\("
part "format_iso" "vigil::format_iso\("
part "malloc" " malloc "
part "free" " free "
echo "files: $OUT"
