// Prints the comparison table of a compare.sh run: node summarize.mjs OUT_DIR vigild node bun
// Reads OUT_DIR/<load>-<server>.json (one `vigilctl bench --json` report each).
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [dir, ...servers] = process.argv.slice(2);
if (!dir || servers.length === 0) {
  console.error('usage: node summarize.mjs OUT_DIR SERVER...');
  process.exit(2);
}

function load(tag) {
  const file = join(dir, `${tag}.json`);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return { error: 'unreadable report' };
  }
}

const fmt = (v, digits = 1) => {
  if (v === undefined || v === null || Number.isNaN(v)) return '—';
  if (typeof v === 'string') return v;
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(digits);
};

// Each row: the figure, where to find it, whether higher is better, and the target check.
const rows = [
  { load: 'a', what: 'delivered events/s, one hospital, publish at max rate', get: (r) => r['delivered.per_s'], higher: true,
    target: '≥ 1,000,000/s and ≥ 20× best baseline', ok: (v, ratio) => v >= 1e6 && ratio >= 20 },
  { load: 'a', what: '  latency p99 ms at that load', get: (r) => r['latency.p99_ms'], higher: false },
  { load: 'a', what: '  server CPU %', get: (r) => r['server.cpu_pct'], higher: false },
  { load: 'b', what: 'latency p99 ms, one hospital, 100 alerts/s', get: (r) => r['latency.p99_ms'], higher: false,
    target: '≤ 5 ms', ok: (v) => v <= 5 },
  { load: 'b', what: '  latency p50 ms', get: (r) => r['latency.p50_ms'], higher: false },
  { load: 'b', what: '  alerts/s actually published', get: (r) => r['published.per_s'], higher: true },
  { load: 'c', what: 'server RSS bytes per idle subscribed connection', get: (r) => r['server.rss_bytes_per_connection'], higher: false,
    target: '≤ 6,144 B', ok: (v) => v <= 6144 },
  { load: 'c', what: '  connections held', get: (r) => r['connections_held'], higher: true },
  { load: 'd0', what: 'p99 ms, 100 alerts/s, +400 B description, no stall', get: (r) => r['latency.p99_ms'], higher: false },
  { load: 'd', what: 'p99 ms, the same with 1 stalled subscriber', get: (r) => r['latency.p99_ms'], higher: false },
  { load: 'd', what: '  stalled p99 / unstalled p99', get: (r, server) => {
      const base = load(`d0-${server}`);
      return base && r['latency.p99_ms'] && base['latency.p99_ms'] ? r['latency.p99_ms'] / base['latency.p99_ms'] : undefined;
    }, higher: false, target: '≤ 2', ok: (v) => v <= 2 },
  { load: 'd', what: '  stalled subscriber close codes', get: (r) => JSON.stringify(r['stalled.close_codes'] ?? {}), text: true,
    target: '4008', ok: (v) => v.includes('"4008"') },
  { load: 'e', what: 'reconnect storm: ms until all caught up', get: (r) => (r['storm.all_caught_up'] === 'yes' ? r['storm.all_caught_up_ms'] : undefined), higher: false,
    target: '≤ 2,000 ms', ok: (v) => v <= 2000 },
  { load: 'e', what: '  subscribers caught up', get: (r) => r['storm.caught_up'], higher: true },
  { load: 'e', what: '  reconnected (started) p99 ms', get: (r) => r['storm.started.p99_ms'], higher: false },
];

const header = ['load', 'figure', ...servers, 'vigild vs best baseline', 'target', 'met'];
const lines = [header];
for (const row of rows) {
  const values = servers.map((s) => {
    const r = load(`${row.load}-${s}`);
    if (!r) return undefined;
    if (r.error) return 'error';
    return row.get(r, s);
  });
  if (values.every((x) => x === undefined)) continue;  // a load that was not run
  const v = values[0];
  const baselines = values.slice(1).filter((x) => typeof x === 'number');
  let ratio;
  if (!row.text && typeof v === 'number' && baselines.length > 0) {
    const best = row.higher ? Math.max(...baselines) : Math.min(...baselines);
    ratio = row.higher ? v / best : best / v;
  }
  let met = '';
  if (row.ok && v !== undefined && v !== 'error') met = row.ok(v, ratio ?? 0) ? 'yes' : 'NO';
  lines.push([
    row.load,
    row.what,
    ...values.map((x) => (row.text ? x ?? '—' : fmt(x, 2))),
    ratio === undefined ? '' : `${ratio.toFixed(1)}×`,
    row.target ?? '',
    met,
  ]);
}

// Correctness under load: lost, duplicated, out of order, per run.
const integrity = [['run', ...servers]];
for (const tag of ['a', 'b', 'd0', 'd', 'e']) {
  if (servers.every((s) => !load(`${tag}-${s}`))) continue;
  integrity.push([
    tag,
    ...servers.map((s) => {
      const r = load(`${tag}-${s}`);
      if (!r) return '—';
      if (r.error) return r.error;
      const closed = Object.entries(r.closed_during_run ?? {}).map(([k, n]) => `${k}×${n}`).join(' ');
      const late = r.drained === 'no' ? ' (NOT DRAINED: missing events may be late, not lost)' : '';
      return `lost ${r.lost ?? '?'} dup ${r.duplicated ?? '?'} ooo ${r.out_of_order ?? '?'}${closed ? ` closed ${closed}` : ''}${late}`;
    }),
  ]);
}

function print(table) {
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => String(row[i]).length)));
  for (const [n, row] of table.entries()) {
    console.log('| ' + row.map((c, i) => String(c).padEnd(widths[i])).join(' | ') + ' |');
    if (n === 0) console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  }
}

// What each load was, from the first server's report.
for (const tag of ['a', 'b', 'c', 'd0', 'd', 'e']) {
  const r = servers.map((s) => load(`${tag}-${s}`)).find((x) => x && !x.error);
  if (!r) continue;
  const parts = [`${r.subscribers} subscribers`, `${r.hospitals} hospital(s)`];
  if (r.mode === 'publish') {
    parts.push(`${r.publishers} ${r.transport} publisher(s)`, r.rate === 0 ? `max rate (window ${r.window}, max lag ${r.max_lag})` : `${r.rate} alerts/s`, `${r.duration_s} s`);
    if (r.payload) parts.push(`+${r.payload} B description`);
    if (r.stall) parts.push(`${r.stall} stalled`);
  } else if (r.mode === 'connect-only') {
    parts.push(`idle, held ${r.hold_s} s`);
  } else {
    parts.push(`${r.events_per_hospital} events per hospital behind`);
  }
  console.log(`${tag.padEnd(3)} ${parts.join(', ')}`);
}
console.log('');
print(lines);
console.log('');
console.log('Lost / duplicated / out-of-order events (subscribers still connected at the end):');
print(integrity);
const slow = join(dir, 'd-vigild.slow');
if (existsSync(slow)) console.log(`\nvigild, load d (from its /metrics, polled every second): ${readFileSync(slow, 'utf8').trim()}`);
const died = join(dir, 'server-died.txt');
if (existsSync(died)) console.log(`\nSERVERS THAT DIED: ${readFileSync(died, 'utf8').trim().split('\n').join(', ')}`);
console.log(`\nReports: ${dir}`);
