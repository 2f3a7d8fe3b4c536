#!/usr/bin/env bash
# Draws the plots of docs/benchmarks.md from the JSON reports of one bench/compare.sh run
# (DIR/<load>-<server>.json, as `vigilctl bench --json` writes them):
#
#   bench/plots.sh [DIR [IMG_DIR]]
#
#   DIR      the reports (default bench/results/2026-11-26: figures transcribed from the recorded
#            run, see bench/results/README.md; or the OUT directory of a compare.sh run)
#   IMG_DIR  where the PNGs go (default docs/img)
#
# Writes throughput.png (load a: delivered events/s against the baselines), latency.png (loads
# b, d0, d: latency percentiles per server) and memory.png (load c: RSS per idle connection).
# Needs gnuplot (Debian: apt-get install gnuplot-nox) and node. Servers without a report (e.g. no
# Bun in a run) are left out.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
DIR="${1:-$here/results/2026-11-26}"
IMG="${2:-$root/docs/img}"
SERVERS="${SERVERS:-vigild node bun}"
command -v gnuplot >/dev/null || { echo "plots.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 2; }
[[ -d "$DIR" ]] || { echo "plots.sh: no directory $DIR" >&2; exit 2; }
mkdir -p "$IMG"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# figure LOAD KEY: one "server value" line per server whose report has KEY.
figure() {
  node -e '
    const [dir, load, key, ...servers] = process.argv.slice(1);
    const fs = require("fs");
    for (const s of servers) {
      const f = `${dir}/${load}-${s}.json`;
      if (!fs.existsSync(f)) continue;
      const v = JSON.parse(fs.readFileSync(f, "utf8"))[key];
      if (typeof v === "number") console.log(`${s} ${v}`);
    }' "$DIR" "$1" "$2" $SERVERS
}

# Latency: one row per load/percentile, one column per server ("-" when absent).
node -e '
  const [dir, ...servers] = process.argv.slice(1);
  const fs = require("fs");
  const rows = [["b", "p50"], ["b", "p90"], ["b", "p99"], ["b", "p999"], ["d0", "p99"], ["d", "p99"]];
  const names = { p50: "p50", p90: "p90", p99: "p99", p999: "p99.9" };
  console.log(["figure", ...servers].join("\t"));
  for (const [load, p] of rows) {
    const vals = servers.map((s) => {
      const f = `${dir}/${load}-${s}.json`;
      if (!fs.existsSync(f)) return "-";
      const v = JSON.parse(fs.readFileSync(f, "utf8"))[`latency.${p}_ms`];
      return typeof v === "number" ? String(v) : "-";
    });
    if (vals.every((v) => v === "-")) continue;
    const label = load === "b" ? `b ${names[p]}` : load === "d0" ? "d0 p99" : "d p99 (stalled reader)";
    console.log([`"${label}"`, ...vals].join("\t"));
  }' "$DIR" $SERVERS >"$tmp/latency.dat"

figure a delivered.per_s >"$tmp/throughput.dat"
figure c server.rss_bytes_per_connection >"$tmp/memory.dat"
for f in throughput memory; do
  [[ -s "$tmp/$f.dat" ]] || { echo "plots.sh: no figures for $f in $DIR" >&2; exit 1; }
done

common='set terminal pngcairo size 800,450 font "DejaVu Sans,10" noenhanced
set style fill solid 0.8 border -1
set grid ytics
set key off'

gnuplot <<GP
$common
set output "$IMG/throughput.png"
set title "Load a: delivered events/s, 1,000 subscribers on one hospital (log scale)"
set logscale y
set yrange [1000:*]
set format y "%.0s%c"
set boxwidth 0.6
set arrow from graph 0, first 1000000 to graph 1, first 1000000 nohead dt 2 lc rgb "#c03030"
set label "target 1M/s" at graph 0.01, first 1000000 offset 0,0.7 tc rgb "#c03030"
plot "$tmp/throughput.dat" using 0:2:xtic(1) with boxes lc rgb "#3b75af", \
     "" using 0:2:(sprintf("%'.0f", \$2)) with labels offset 0,1
GP

gnuplot <<GP
$common
set output "$IMG/memory.png"
set title "Load c: server RSS per idle subscribed connection (15,000 connections)"
set ylabel "bytes"
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set arrow from graph 0, first 6144 to graph 1, first 6144 nohead dt 2 lc rgb "#c03030"
set label "target 6 KB" at graph 0.01, first 6144 offset 0,0.7 tc rgb "#c03030"
set boxwidth 0.6
plot "$tmp/memory.dat" using 0:2:xtic(1) with boxes lc rgb "#519e3e", \
     "" using 0:2:(sprintf("%.0f B", \$2)) with labels offset 0,1
GP

ncols=$(( $(head -1 "$tmp/latency.dat" | awk -F'\t' '{print NF}') ))
gnuplot <<GP
$common
set output "$IMG/latency.png"
set title "Loads b, d0, d: end-to-end latency percentiles at 100 alerts/s (ms, log scale)"
set key top left
set logscale y
set datafile separator "\t"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set boxwidth 0.9
set xtics rotate by -20
set arrow from graph 0, first 5 to graph 1, first 5 nohead dt 2 lc rgb "#c03030"
set label "target 5 ms" at graph 0.005, first 5 offset 0,0.7 tc rgb "#c03030"
set yrange [1:*]
plot for [i=2:$ncols] "$tmp/latency.dat" using i:xtic(1) title columnheader(i)
GP

echo "plots.sh: wrote $IMG/throughput.png $IMG/latency.png $IMG/memory.png from $DIR" >&2
