// Helpers for the load and failure tests: Prometheus metrics, process CPU time, many raw sockets,
// and pipelined createAlert calls over one raw WebSocket.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { RawWs, WAIT_MS, WebSocket, alertInput, http, withTimeout } from './clients.mjs';
import { TLS, wsBase } from './tls.mjs';

/** All samples of /metrics as a Map `name{labels}` -> number. */
export async function metrics(port) {
  const r = await http(port, '/metrics');
  assert.equal(r.status, 200, `/metrics: ${r.status} ${r.text.slice(0, 200)}`);
  const out = new Map();
  for (const line of r.text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** One sample of /metrics (e.g. `vigil_connections_closed_total{reason="slow_consumer"}`); fails if it is absent. */
export async function metric(port, name) {
  const m = await metrics(port);
  assert.ok(m.has(name), `/metrics has no sample ${name}`);
  return m.get(name);
}

/** user + system CPU time of a process in clock ticks (100 per second on Linux), from /proc. */
export function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

/** Opens `n` raw sockets at once (each with the token), resolving to them in order. */
export function openMany(port, n, { token, label = 'raw' } = {}) {
  // Over TLS every socket costs the server a handshake first: hundreds at once take seconds of
  // the lws thread on the shared 2-core test machine, so each open gets three times as long.
  const openTimeout = TLS ? WAIT_MS * 3 : WAIT_MS;
  return Promise.all(Array.from({ length: n }, (_, i) => RawWs.open(port, { token, label: `${label}#${i}`, openTimeout })));
}

/** A description of `len` characters that is recognisable in a frame. */
export function longText(tag, len = 400) {
  return `${tag}-`.padEnd(len, 'x');
}

let nextCallId = 1_000_000;

/**
 * Creates `n` alerts in H over one raw socket, pipelined: `inFlight` calls are outstanding at a time,
 * sent `perFrame` to a frame (batch frames when > 1). `onReply(alertId)` sees every success as it
 * arrives. Resolves with the created alert ids in reply order; fails on the first error reply.
 */
export async function createMany(raw, H, n, { inFlight = 50, perFrame = 50, over = {}, onReply, timeout = WAIT_MS * 2 } = {}) {
  const ids = [];
  let sent = 0;
  const slot = async () => {
    while (sent < n) {
      const k = Math.min(perFrame, n - sent);
      const frame = [];
      for (let i = 0; i < k; i++) {
        sent += 1;
        frame.push({ id: nextCallId++, method: 'mutation', params: { path: 'healthcare.createAlert', input: alertInput(H, { roomNumber: `L${Math.floor(sent / 1000)}-${sent % 1000}`, ...over }) } });
      }
      raw.send(frame.length === 1 ? frame[0] : frame);
      await Promise.all(frame.map(async (f) => {
        const r = await raw.reply(f.id, `createAlert reply ${f.id}`, timeout);
        assert.ok(r.result, `createAlert failed: ${JSON.stringify(r).slice(0, 400)}`);
        ids.push(r.result.data.alert.id);
        onReply?.(r.result.data.alert.id);
      }));
    }
  };
  const slots = Math.max(1, Math.floor(inFlight / perFrame));
  await Promise.all(Array.from({ length: slots }, slot));
  return ids;
}

/**
 * Starts a WebSocket upgrade without waiting for it. The returned record's `state` moves from
 * 'pending' to 'open', 'refused' (HTTP status in `status`, headers in `headers`) or 'error';
 * `settled` resolves when it leaves 'pending'.
 */
export function tryOpen(port, { token, label = 'try' } = {}) {
  const ws = new WebSocket(`${wsBase(port)}/api/trpc`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  const rec = { label, ws, state: 'pending', status: undefined, headers: undefined, error: undefined };
  rec.settled = new Promise((resolve) => {
    ws.once('open', () => { rec.state = 'open'; resolve(rec); });
    ws.once('unexpected-response', (req, res) => {
      rec.state = 'refused';
      rec.status = res.statusCode;
      rec.headers = res.headers;
      res.resume();
      req.destroy();
      resolve(rec);
    });
    ws.on('error', (e) => {
      if (rec.state === 'pending') { rec.state = 'error'; rec.error = e; resolve(rec); }
    });
  });
  return rec;
}

/**
 * CPU time (user + system, in seconds) that a process uses over a window of `windowMs`. The wait is
 * the measurement window itself, not a synchronisation.
 */
export async function cpuSecondsOver(pid, windowMs) {
  const t0 = cpuTicks(pid);
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  return (cpuTicks(pid) - t0) / 100;
}

/**
 * Counts the data frames of subscription `subId` on a RawWs as they arrive; `until(n)` resolves once
 * at least n arrived (in total, since this counter was made).
 */
export function frameCounter(raw, subId) {
  const c = { count: 0, waiters: [] };
  raw.ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let j;
    try { j = JSON.parse(data.toString('utf8')); } catch { return; }
    if (j?.id !== subId || j.result?.type !== 'data') return;
    c.count += 1;
    c.waiters = c.waiters.filter((w) => (c.count >= w.n ? (w.resolve(), false) : true));
  });
  c.until = (n, timeout = WAIT_MS, what = `${n} data frames of ${JSON.stringify(subId)} on ${raw.label}`) => {
    if (c.count >= n) return Promise.resolve();
    let resolve;
    const p = new Promise((r) => { resolve = r; });
    c.waiters.push({ n, resolve });
    return withTimeout(p, timeout, `${what} (got ${c.count})`);
  };
  return c;
}
