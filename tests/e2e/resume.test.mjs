// Event ids, replay by lastEventId, resync, graceful shutdown, restart and crash durability
// (docs/api.md "Close codes", "Durability", "Event ids and resume").

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import {
  alertInput, assertIdsIncrease, collect, deferred, ms, newHospital, parseEventId, withTimeout, ISO_MS,
} from './lib/clients.mjs';

const ctx = useServer();

/** Creates `n` alerts in H over a WS mutation on `raw`-independent HTTP client; returns the alerts. */
async function createN(c, H, n, tag = 'R') {
  const out = [];
  for (let i = 0; i < n; i++) out.push((await c.h.createAlert.mutate(alertInput(H, { roomNumber: `${tag}${i + 1}` }))).alert);
  return out;
}

/** Opens a raw live subscriber on H and returns it with a helper that reads k event ids. */
async function liveIds(T, H, k, work) {
  const raw = await ctx.raw({ token: T.viewer, label: 'live' });
  await raw.subscribe('live', 'healthcare.subscribeToAlerts', { hospitalId: H });
  await work();
  const frames = await raw.dataN('live', k);
  await raw.close();
  return frames.map((f) => f.result.id);
}

describe('replay by lastEventId (raw socket)', () => {
  test('params.lastEventId: started, then every later event of the stream in order, then live; no gap, no duplicate', async () => {
    const H = newHospital();
    const H2 = newHospital();
    const T = team([H, H2]);
    const c = ctx.client({ token: T.nurse });
    const ids = await liveIds(T, H, 3, () => createN(c, H, 3));
    await createN(c, H2, 2, 'X'); // other streams interleave in the global seq
    const more = await liveIds(T, H, 2, () => createN(c, H, 2, 'M'));
    const all = [...ids, ...more];
    assertIdsIncrease(all);

    const raw = await ctx.raw({ token: T.viewer });
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H }, { lastEventId: all[0] });
    const replay = await raw.dataN(1, 4);
    assert.deepEqual(replay.map((f) => f.result.id), all.slice(1), 'replayed exactly the events after lastEventId');
    for (const f of replay) {
      assert.equal(f.result.data.id, f.result.id);
      assert.equal(f.result.data.hospitalId, H);
      assert.equal(f.result.data.type, 'alert.created');
    }
    const [live] = await createN(c, H, 1, 'L');
    const d = await raw.data(1);
    assert.equal(d.result.data.alertId, live.id, 'then live');
    assert.ok(parseEventId(d.result.id).seq > parseEventId(all.at(-1)).seq);
    assert.equal(raw.pending((m) => m.json?.id === 1).length, 0, 'no duplicates');
  });

  test('lastEventId in the input works; params.lastEventId wins over the input', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const ids = await liveIds(T, H, 4, () => createN(c, H, 4));
    const raw = await ctx.raw({ token: T.viewer });
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H, lastEventId: ids[1] });
    assert.deepEqual((await raw.dataN(1, 2)).map((f) => f.result.id), ids.slice(2));
    await raw.subscribe(2, 'healthcare.subscribeToAlerts', { hospitalId: H, lastEventId: ids[0] }, { lastEventId: ids[2] });
    assert.deepEqual((await raw.dataN(2, 1)).map((f) => f.result.id), [ids[3]]);
    // the newest id: nothing to replay, straight to live
    await raw.subscribe(3, 'healthcare.subscribeToAlerts', { hospitalId: H }, { lastEventId: ids[3] });
    const [x] = await createN(c, H, 1, 'N');
    assert.equal((await raw.data(3)).result.data.alertId, x.id);
    assert.equal((await raw.data(1)).result.data.alertId, x.id);
    assert.equal((await raw.data(2)).result.data.alertId, x.id);
  });

  test('an id of the current epoch from another stream is accepted: replay starts after its seq', async () => {
    const H = newHospital();
    const H2 = newHospital();
    const T = team([H, H2]);
    const c = ctx.client({ token: T.nurse });
    const h1 = await liveIds(T, H, 1, () => createN(c, H, 1));
    const other = await liveIds(T, H2, 1, () => createN(c, H2, 1, 'O'));
    const h2 = await liveIds(T, H, 2, () => createN(c, H, 2, 'P'));
    assertIdsIncrease([h1[0], other[0], h2[0], h2[1]]);
    const raw = await ctx.raw({ token: T.viewer });
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H }, { lastEventId: other[0] });
    assert.deepEqual((await raw.dataN(1, 2)).map((f) => f.result.id), h2);
  });

  test('replay covers every event type, with the same frames as live delivery (superjson)', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.head_doctor });
    const raw0 = await ctx.raw({ token: T.viewer });
    await raw0.subscribe(1, 'healthcare.subscribeToAlerts', { json: { hospitalId: H } });
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    await c.h.triggerEscalation.mutate({ alertId: alert.id });
    await c.h.updateAlert.mutate({ alertId: alert.id, description: 'changed' });
    await c.h.acknowledgeAlert.mutate({ alertId: alert.id, notes: 'n' });
    await c.h.resolveAlert.mutate({ alertId: alert.id, resolution: 'resolution text' });
    const live = await raw0.dataN(1, 5);
    const raw = await ctx.raw({ token: T.viewer });
    await raw.subscribe(7, 'healthcare.subscribeToAlerts', { json: { hospitalId: H } }, { lastEventId: live[0].result.id });
    const replay = await raw.dataN(7, 4);
    assert.deepEqual(replay.map((f) => f.result), live.slice(1).map((f) => f.result), 'replayed frames equal the live ones');
  });
});

describe('resync', () => {
  async function expectResync(raw, subId, H, expectedId, reason = 'unknown_event_id') {
    const f = await raw.data(subId);
    const e = f.result.data.json ?? f.result.data;
    assert.equal(e.type, 'alert.updated', JSON.stringify(f));
    assert.equal(e.alertId, '*');
    assert.equal(e.hospitalId, H);
    assert.deepEqual(e.data, { resync: true, reason });
    assert.equal(f.result.id, e.id, 'result.id == event.id');
    if (expectedId) assert.equal(e.id, expectedId, 'resync id = newest event id of the stream');
    assert.match(e.timestamp, ISO_MS);
    assert.ok(Math.abs(Date.parse(e.timestamp) - Date.now()) < 5000, 'timestamp = time the resync was sent');
    return f;
  }

  test('malformed, foreign-epoch and future ids -> exactly one resync event, then live', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const ids = await liveIds(T, H, 2, () => createN(c, H, 2));
    const { epoch, seq } = parseEventId(ids[1]);
    const otherEpoch = (epoch[0] === 'a' ? 'b' : 'a') + epoch.slice(1);
    const probes = [
      ['malformed', 'garbage'],
      ['empty seq', `${epoch}-`],
      ['foreign epoch', `${otherEpoch}-${seq}`],
      ['future seq', `${epoch}-${seq + 1000000n}`],
    ];
    const raw = await ctx.raw({ token: T.viewer });
    let id = 1;
    for (const [label, lastEventId] of probes) {
      await raw.subscribe(id, 'healthcare.subscribeToAlerts', { hospitalId: H }, { lastEventId });
      await expectResync(raw, id, H, ids[1]).catch((e) => { throw new Error(`${label}: ${e.message}`); });
      id += 1;
    }
    const [x] = await createN(c, H, 1, 'Z');
    for (let i = 1; i < id; i++) {
      const d = await raw.data(i);
      assert.equal(d.result.data.alertId, x.id, `subscription ${i} goes live after the resync`);
    }
    assert.equal(raw.pending((m) => m.json?.result?.type === 'data').length, 0, 'exactly one resync each, no replay');
  });

  test('resync in superjson mode; resync on an empty stream uses a current-epoch id', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.viewer });
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { json: { hospitalId: H } }, { lastEventId: 'nope' });
    const f = await expectResync(raw, 1, H);
    assert.deepEqual(f.result.data.meta.values, { timestamp: ['Date'] });
    parseEventId(f.result.id);
    // the app client gets it through onData, with a Date timestamp
    const c = ctx.client({ token: T.viewer });
    const s = collect(c.h.subscribeToAlerts, { hospitalId: H, lastEventId: 'bogus-id' }, 'app resync');
    await s.count(1);
    assert.equal(s.items[0].alertId, '*');
    assert.ok(s.items[0].timestamp instanceof Date);
    assert.deepEqual(s.items[0].data, { resync: true, reason: 'unknown_event_id' });
  });
});

describe('shutdown, restart and crash', () => {
  test('graceful shutdown: reconnect notification, close 1001, exit 0; the app client resumes with lastEventId after restart', async () => {
    const H = newHospital();
    const T = team(H);
    const srv = ctx.server;
    const c0 = ctx.client({ token: T.nurse });
    const opensAt = [];
    const closed = deferred();
    const app = ctx.client({
      token: T.viewer,
      ws: {
        onOpen: () => { opensAt.push(Date.now()); },
        onClose: (ev) => closed.resolve(ev?.code),
      },
    });
    const s = collect(app.h.subscribeToAlerts, { hospitalId: H }, 'app subscriber');
    await s.waitStarted();
    const before = await createN(c0, H, 2, 'A');
    await s.count(2);

    const raw = await ctx.raw({ token: T.viewer, label: 'raw at shutdown' });
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });

    ctx.expectDown = true;
    const exit = await srv.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `SIGTERM -> exit 0; stderr:\n${srv.tail(20)}`);
    const note = await raw.next((m) => m.json?.method === 'reconnect', 'reconnect notification');
    assert.deepEqual(note.json, { id: null, method: 'reconnect' });
    const info = await raw.waitClose();
    assert.equal(info.code, 1001, `close code: ${JSON.stringify(info)}`);
    await withTimeout(closed.promise, 5000, 'the app client noticed the close');

    await srv.start();
    ctx.expectDown = false;
    const c1 = ctx.client({ token: T.nurse });
    const missed = await createN(c1, H, 2, 'B');
    const createdAt = Date.now();
    await s.count(4, 15000);
    const reopenAt = opensAt.at(-1);
    assert.ok(opensAt.length >= 2, 'the client opened a new connection');
    const after = await createN(c1, H, 1, 'C');
    await s.count(5);
    assert.deepEqual(s.items.map((e) => e.alertId), [...before, ...missed, ...after].map((a) => a.id),
      'exactly the missed events, in order, then live; no duplicates');
    assertIdsIncrease(s.items.map((e) => e.id), 'ids across the restart');
    assert.equal(s.items.length, 5);
    assert.ok(reopenAt >= createdAt,
      'the client reconnected only after the missed events were created, so they came by replay (timing assumption of this test)');
  });

  test('kill -9: every acknowledged mutation survives; seqs are never reused', async () => {
    const H = newHospital();
    const T = team(H);
    const srv = ctx.server;
    const c = ctx.client({ token: T.nurse });
    const ids = await liveIds(T, H, 3, async () => {
      const [a] = await createN(c, H, 1);
      await c.h.acknowledgeAlert.mutate({ alertId: a.id, notes: 'before crash' });
      await c.h.createAlert.mutate(alertInput(H, { roomNumber: 'K2' }));
    });
    const list0 = await c.h.getActiveAlerts.query({ hospitalId: H, status: 'all' });
    ctx.expectDown = true;
    await srv.kill9();
    await srv.start();
    ctx.expectDown = false;
    const c2 = ctx.client({ token: T.nurse });
    const list1 = await c2.h.getActiveAlerts.query({ hospitalId: H, status: 'all' });
    assert.deepEqual(list1, list0, 'state after kill -9 equals the state before');
    const raw = await ctx.raw({ token: T.viewer });
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H }, { lastEventId: ids[0] });
    assert.deepEqual((await raw.dataN(1, 2)).map((f) => f.result.id), ids.slice(1), 'replay from storage after the crash');
    const [n] = await createN(c2, H, 1, 'N');
    const d = await raw.data(1);
    assert.equal(d.result.data.alertId, n.id);
    assert.equal(parseEventId(d.result.id).epoch, parseEventId(ids[0]).epoch, 'same database, same epoch');
    assert.ok(parseEventId(d.result.id).seq > parseEventId(ids[2]).seq, 'seq continues after the crash');
    const got = await c2.h.getAlert.query({ alertId: list0.alerts.find((a) => a.status === 'acknowledged').id });
    assert.equal(got.acknowledgementNotes, 'before crash');
    assert.ok(ms(got.acknowledgedAt) > 0);
  });
});
