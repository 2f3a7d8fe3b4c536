// Connection limits under a low descriptor limit (docs/api.md "Limits"): upgrades
// beyond limits.max-connections get 503 with Retry-After: 5; when descriptors are truly exhausted,
// new connections wait in the listen backlog and the server never spins; closing connections lets
// the waiting ones in, and the server keeps answering /health.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { http, newHospital, withTimeout } from './lib/clients.mjs';
import { cpuSecondsOver, metric, tryOpen } from './lib/load.mjs';

const FD_LIMIT = 64;
const CPU_WINDOW_MS = 2000;
const MAX_CPU_SEC = 0.5; // an accept busy-loop would burn the whole window

const count = (recs, state) => recs.filter((r) => r.state === state).length;
const terminate = (recs) => { for (const r of recs) r.ws.terminate(); };

/** Waits until every record left 'pending'; the timeout message shows how far it got. */
async function settleAll(recs, ms, what) {
  try {
    await withTimeout(Promise.all(recs.map((r) => r.settled)), ms, what);
  } catch (e) {
    throw new Error(`${e.message}: ${count(recs, 'open')} open, ${count(recs, 'refused')} refused, ${count(recs, 'pending')} pending`);
  }
}

/** Sends PING on an open socket and waits for PONG. */
function ping(ws, what) {
  return withTimeout(new Promise((resolve) => {
    ws.on('message', (d) => { if (d.toString() === 'PONG') resolve(); });
    ws.send('PING');
  }), 5000, `PONG on ${what}`);
}

describe(`ulimit -n ${FD_LIMIT}, derived limits.max-connections`, () => {
  const ctx = useServer({ fdLimit: FD_LIMIT });
  const all = [];

  test('100 upgrades at once: some open, the rest get 503 + Retry-After: 5; no spinning; closing frees room', async () => {
    const T = team(newHospital());
    for (let i = 0; i < 100; i++) all.push(tryOpen(ctx.port, { token: T.viewer, label: `c${i}` }));
    await settleAll(all, 15000, 'every upgrade answered');
    const open = all.filter((r) => r.state === 'open');
    const refused = all.filter((r) => r.state === 'refused');
    assert.equal(count(all, 'error'), 0, `no connection errors: ${all.filter((r) => r.error).map((r) => r.error.message).slice(0, 3)}`);
    assert.ok(open.length >= 1 && open.length < FD_LIMIT, `open: ${open.length}`);
    assert.equal(open.length + refused.length, 100);
    for (const r of refused) {
      assert.equal(r.status, 503, `${r.label}: HTTP ${r.status}`);
      assert.equal(r.headers['retry-after'], '5', `${r.label}: Retry-After`);
    }

    const cpu = await cpuSecondsOver(ctx.server.pid, CPU_WINDOW_MS);
    assert.ok(cpu < MAX_CPU_SEC, `vigild used ${cpu} s CPU in ${CPU_WINDOW_MS} ms while full`);
    assert.equal((await http(ctx.port, '/health')).status, 200);
    await ping(open[0].ws, 'an admitted connection');

    terminate(open.slice(0, 10));
    // The server notices the closes asynchronously; retry refused upgrades until one is admitted.
    let again;
    for (let i = 0; i < 50; i++) {
      again = tryOpen(ctx.port, { token: T.viewer, label: `again${i}` });
      all.push(again);
      await withTimeout(again.settled, 5000, 'an upgrade after closing connections');
      if (again.state === 'open') break;
      assert.equal(again.status, 503);
    }
    assert.equal(again.state, 'open', 'a new connection succeeds after some were closed');
    await ping(again.ws, 'the new connection');
    terminate(all);
  });
});

describe(`ulimit -n ${FD_LIMIT}, limits.max-connections=1000 (descriptors truly exhausted)`, () => {
  const ctx = useServer({ fdLimit: FD_LIMIT, args: ['--limits.max-connections=1000'] });
  const all = [];

  test('80 upgrades at once: those without a descriptor wait (no spin, no crash); closing lets them in; /health answers', async () => {
    const T = team(newHospital());
    for (let i = 0; i < 80; i++) all.push(tryOpen(ctx.port, { token: T.viewer, label: `c${i}` }));
    await withTimeout(Promise.race(all.map((r) => r.settled)), 10000, 'a first upgrade');

    const cpu = await cpuSecondsOver(ctx.server.pid, CPU_WINDOW_MS);
    assert.ok(cpu < MAX_CPU_SEC, `vigild used ${cpu} s CPU in ${CPU_WINDOW_MS} ms with descriptors exhausted`);
    assert.ok(ctx.server.child, `vigild is still running: ${ctx.server.tail(10)}`);
    const open = all.filter((r) => r.state === 'open');
    assert.equal(count(all, 'error'), 0, `no connection errors: ${all.filter((r) => r.error).map((r) => r.error.message).slice(0, 3)}`);
    assert.ok(open.length >= 1 && open.length < FD_LIMIT, `open: ${open.length}`);
    assert.ok(count(all, 'pending') >= 1, 'connections beyond the descriptors wait');
    for (const r of all.filter((x) => x.state === 'refused')) assert.equal(r.status, 503, `${r.label}: HTTP ${r.status}`);

    // Each upgrade admitted from the backlog is closed again at once, but the first, so every
    // waiting one gets a descriptor whatever number of them vigild itself holds (more waited than
    // were open once vigild held a few more for its loader connections).
    let kept;
    for (const r of all.filter((x) => x.state === 'pending')) {
      r.settled.then(() => {
        if (r.state !== 'open') return;
        if (!kept) kept = r;
        else r.ws.terminate();
      });
    }
    terminate(open);
    await settleAll(all, 15000, `the waiting upgrades answered after closing ${open.length}`);
    assert.equal(count(all, 'error'), 0);
    const h = await http(ctx.port, '/health');
    assert.equal(h.status, 200, `/health: ${h.status} ${h.text}`);
    assert.ok(await metric(ctx.port, 'vigil_accept_pauses_total') >= 1,
      'accepting paused while descriptors ran low (vigil_accept_pauses_total)');
    const late = all.filter((r) => r.state === 'open' && !open.includes(r));
    assert.ok(late.length >= 1 && kept, 'waiting connections were admitted');
    await ping(kept.ws, 'a connection admitted from the backlog');
    terminate(all);
  });
});
