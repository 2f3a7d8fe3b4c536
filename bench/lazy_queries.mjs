// "A day's worth of queries" against a running vigild (bench/lazy.sh): for every hospital
// gen-h0 … gen-h<N-1>, over plain HTTP tRPC GETs, one after another:
//   20 getAlertHistory pages (limit 50) at random offsets over the hospital's whole history
//   50 getAlert of random old alerts (ids taken from those pages: mostly outside the window)
//   10 getAlertTimeline of random old alerts
//    5 getActiveAlerts (status active, 2 of them status resolved with limit 50)
//    5 getAlertStats, 5 getMetrics
// Every answer must be 200. Prints key=value lines (calls, errors, seconds, p50/p99 ms).
//
// Usage: node bench/lazy_queries.mjs PORT SECRET HOSPITALS [SEED]

import { createHmac } from 'node:crypto';

const [port, secret, hospitalsArg, seedArg] = process.argv.slice(2);
const hospitals = Array.from({ length: Number(hospitalsArg) }, (_, i) => `gen-h${i}`);
let seed = Number(seedArg || 1);
const random = () => {
  // xorshift32: the same calls on every run
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
};
const pick = (list) => list[Math.floor(random() * list.length)];

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const head = b64({ alg: 'HS256', typ: 'JWT' });
const body = b64({ sub: 'bench-lazy', role: 'admin', hospitals, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 86400 });
const token = `${head}.${body}.${createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}`;

const latencies = [];
let errors = 0;
async function call(proc, input) {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/api/trpc/healthcare.${proc}?input=${encodeURIComponent(JSON.stringify(input))}`,
    { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  latencies.push(performance.now() - t0);
  if (res.status !== 200) {
    if (errors++ < 5) console.error(`${proc} ${JSON.stringify(input)} -> ${res.status} ${text.slice(0, 200)}`);
    return undefined;
  }
  return JSON.parse(text).result.data;
}

const t0 = performance.now();
for (const H of hospitals) {
  const first = await call('getAlertHistory', { hospitalId: H, limit: 50, offset: 0 });
  const total = first?.total ?? 0;
  const ids = [];
  for (let i = 0; i < 20; i++) {
    const offset = Math.floor(random() * Math.max(1, total - 50));
    const page = await call('getAlertHistory', { hospitalId: H, limit: 50, offset });
    for (const a of page?.alerts ?? []) ids.push(a.id);
  }
  if (ids.length === 0) continue;
  for (let i = 0; i < 50; i++) await call('getAlert', { alertId: pick(ids) });
  for (let i = 0; i < 10; i++) await call('getAlertTimeline', { alertId: pick(ids) });
  for (let i = 0; i < 3; i++) await call('getActiveAlerts', { hospitalId: H, limit: 50 });
  for (let i = 0; i < 2; i++) await call('getActiveAlerts', { hospitalId: H, status: 'resolved', limit: 50 });
  for (let i = 0; i < 5; i++) await call('getAlertStats', { hospitalId: H });
  for (let i = 0; i < 5; i++) await call('getMetrics', { hospitalId: H });
}
const seconds = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]?.toFixed(1);
console.log(`queries_calls=${latencies.length}`);
console.log(`queries_errors=${errors}`);
console.log(`queries_seconds=${seconds.toFixed(1)}`);
console.log(`queries_p50_ms=${q(0.5)}`);
console.log(`queries_p99_ms=${q(0.99)}`);
console.log(`queries_max_ms=${latencies.at(-1)?.toFixed(1)}`);
process.exit(errors === 0 ? 0 : 1);
