// Slow consumer (docs/api.md "Limits"): a connection that stops reading is closed with 4008 once
// its outbound queue exceeds limits.outbound-budget; other subscribers are unaffected; the closed
// client resumes by lastEventId and gets exactly what it missed.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { WebSocket, assertIdsIncrease, collect, newHospital } from './lib/clients.mjs';
import { createMany, frameCounter, longText, metric } from './lib/load.mjs';

const ROUND = 50; // alerts per publishing round (~50 KiB of replies in flight, within the budget)
const MAX_ALERTS = 12000; // give up if the kernel buffers swallow more than this

/** The data frames of subscription `id` received so far on `raw`. */
const dataFrames = (raw, id) => raw.all.filter((m) => m.json?.id === id && m.json.result?.type === 'data').map((m) => m.json);

/**
 * Publishes rounds of alerts with long descriptions until /metrics counts one more slow-consumer
 * close. Returns the alert ids created. With `reader` (a frameCounter of a subscriber that keeps
 * reading), each round waits until that subscriber has caught up: its lag then stays below one round
 * (~50 KiB), so on a busy machine it is never the one that overflows the 64 KiB budget.
 */
async function publishUntilSlowClose(ctx, pub, H, reader) {
  const closesBefore = await metric(ctx.port, 'vigil_connections_closed_total{reason="slow_consumer"}');
  const description = longText('slow-consumer', 400);
  const created = [];
  let closes = closesBefore;
  const base = reader?.count ?? 0;
  while (closes === closesBefore) {
    assert.ok(created.length < MAX_ALERTS,
      `no slow-consumer close after ${created.length} events of ~1 KiB with a 64 KiB budget`);
    created.push(...await createMany(pub, H, ROUND, { inFlight: ROUND, over: { description } }));
    if (reader) await reader.until(base + created.length, 10000);
    closes = await metric(ctx.port, 'vigil_connections_closed_total{reason="slow_consumer"}');
  }
  assert.equal(closes, closesBefore + 1, 'exactly one slow-consumer close (the stalled client)');
  return created;
}

describe('slow consumer (limits.outbound-budget=64KiB, rate limit off)', () => {
  const ctx = useServer({ args: ['--limits.outbound-budget=65536', '--limits.rate=0'] });

  test('a stalled reader is closed with 4008, a reading one gets every event in order; resume gets exactly the rest', async () => {
    const H = newHospital();
    const T = team(H);
    const normal = await ctx.raw({ token: T.viewer, label: 'normal' });
    await normal.subscribe('n', 'healthcare.subscribeToAlerts', { hospitalId: H });
    const stalled = await ctx.raw({ token: T.viewer, label: 'stalled' });
    await stalled.subscribe('s', 'healthcare.subscribeToAlerts', { hospitalId: H });
    const pub = await ctx.raw({ token: T.nurse, label: 'publisher' });
    const reader = frameCounter(normal, 'n');

    // One event read by both, so the stalled client has an id to resume from in any case.
    const [first] = await createMany(pub, H, 1);
    await normal.data('n');
    const firstFrame = await stalled.data('s');
    assert.equal(firstFrame.result.data.alertId, first);

    stalled.ws._socket.pause();
    const created = [first, ...await publishUntilSlowClose(ctx, pub, H, reader)];
    assert.ok(await metric(ctx.port, 'vigil_connections_closed_total{reason="slow_consumer"}') >= 1,
      'the close is counted under reason="slow_consumer"');
    assert.ok(normal.isOpen, 'the reading subscriber stays connected');

    // The reader gets every event, in commit order, exactly once (a barrier created last ends it).
    const [barrier] = await createMany(pub, H, 1);
    created.push(barrier);
    await normal.next((m) => m.json?.id === 'n' && m.json.result?.data?.alertId === barrier, 'the barrier on the reading subscriber', 15000);
    const seen = dataFrames(normal, 'n');
    assert.equal(seen.length, created.length, 'the reading subscriber got one frame per event');
    assert.deepEqual(new Set(seen.map((f) => f.result.data.alertId)), new Set(created), 'every created alert, once');
    assertIdsIncrease(seen.map((f) => f.result.id), 'reading subscriber');

    // The stalled client reads what the kernel still holds, then the close frame.
    stalled.ws._socket.resume();
    const info = await stalled.waitClose(15000);
    assert.equal(info.code, 4008, `close code of the stalled client: ${JSON.stringify(info)}`);
    assert.equal(info.reason, 'slow consumer');
    const got = dataFrames(stalled, 's');
    assert.ok(got.length < seen.length, 'the stalled client missed events');
    assert.deepEqual(got.map((f) => f.result.id), seen.slice(0, got.length).map((f) => f.result.id),
      'what the stalled client got before the close is a gap-free prefix of the stream');

    // Resume: exactly the missed events, in order, then live.
    const again = await ctx.raw({ token: T.viewer, label: 'resumed' });
    await again.subscribe('r', 'healthcare.subscribeToAlerts', { hospitalId: H }, { lastEventId: got.at(-1).result.id });
    const missed = seen.slice(got.length);
    const replay = await again.dataN('r', missed.length, 15000);
    assert.deepEqual(replay.map((f) => f.result.id), missed.map((f) => f.result.id), 'replay = exactly the missed events');
    const [live] = await createMany(pub, H, 1);
    const next = await again.data('r');
    assert.equal(next.result.data.alertId, live, 'after the replay: the next live event, nothing in between');
  });
});

describe('slow consumer with the app client (limits.outbound-budget=64KiB, rate limit off)', () => {
  const ctx = useServer({ args: ['--limits.outbound-budget=65536', '--limits.rate=0'] });

  test('wsLink is closed with 4008 while stalled, reconnects by itself and resumes: every event exactly once, in order', async () => {
    const H = newHospital();
    const T = team(H);
    // Records the sockets the client opens, so the test can stop reading from one.
    const sockets = [];
    class TrackedWebSocket extends WebSocket {
      constructor(...args) { super(...args); sockets.push(this); }
    }
    const closeCodes = [];
    const app = ctx.client({ token: T.viewer, ws: { WebSocket: TrackedWebSocket, onClose: (cause) => closeCodes.push(cause?.code) } });
    const s = collect(app.h.subscribeToAlerts, { hospitalId: H }, 'app subscriber');
    await s.waitStarted();
    const pub = await ctx.raw({ token: T.nurse, label: 'publisher' });
    const [first] = await createMany(pub, H, 1);
    await s.count(1);
    assert.equal(sockets.length, 1);

    sockets[0]._socket.pause();
    const created = [first, ...await publishUntilSlowClose(ctx, pub, H)];
    sockets[0]._socket.resume();
    await s.count(created.length, 20000);
    const [live] = await createMany(pub, H, 1);
    await s.until((it) => it.some((e) => e.alertId === live), 'the live event after the resume', 10000);
    assert.equal(closeCodes[0], 4008, `close codes seen by the client: ${closeCodes}`);
    assert.ok(sockets.length >= 2, 'the client opened a new connection');
    assert.equal(s.items.length, created.length + 1, 'every event exactly once (no duplicates from the replay)');
    assert.deepEqual(new Set(s.items.map((e) => e.alertId)), new Set([...created, live]));
    assertIdsIncrease(s.items.map((e) => e.id), 'app subscriber across the 4008 close');
  });
});

describe('slow consumer silent past the keep-alive (keepalive.ping-interval=1s, pong-wait=500ms)', () => {
  const ctx = useServer({ args: ['--limits.outbound-budget=65536', '--limits.rate=0',
    '--keepalive.ping-interval=1s', '--keepalive.pong-wait=500ms'] });

  test('a culled reader that stays silent for several keep-alive cycles still reads 4008 when it reads again', async () => {
    const H = newHospital();
    const T = team(H);
    const normal = await ctx.raw({ token: T.viewer, label: 'normal' });
    normal.autoPong = true;
    await normal.subscribe('n', 'healthcare.subscribeToAlerts', { hospitalId: H });
    const stalled = await ctx.raw({ token: T.viewer, label: 'stalled' });
    await stalled.subscribe('s', 'healthcare.subscribeToAlerts', { hospitalId: H });
    const pub = await ctx.raw({ token: T.nurse, label: 'publisher' });
    pub.autoPong = true;
    const reader = frameCounter(normal, 'n');

    // Until it is culled, the stalled client still writes (it only stopped reading), so the
    // keep-alive does not drop it first.
    stalled.ws._socket.pause();
    const alive = setInterval(() => stalled.ws.send('PONG'), 200);
    try {
      await publishUntilSlowClose(ctx, pub, H, reader);
    } finally {
      clearInterval(alive);
    }
    // Now silent: two more keep-alive rounds pass (seen as PINGs on the reading connection).
    const pings = () => normal.all.filter((m) => m.text === 'PING').length;
    const before = pings();
    await normal.next(() => pings() >= before + 3, 'three keep-alive PINGs on the reading connection', 10000);
    assert.equal(await metric(ctx.port, 'vigil_connections_closed_total{reason="keepalive"}'), 0,
      'the culled connection is not dropped by the keep-alive');

    stalled.ws._socket.resume();
    const info = await stalled.waitClose(15000);
    assert.equal(info.code, 4008, `close code of the stalled client: ${JSON.stringify(info)}`);
  });
});
