// Replay under load (docs/api.md "Event ids and resume"): many clients resuming at once, and a
// replay far beyond the in-memory ring while new events keep coming.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { assertIdsIncrease, newHospital, RawWs } from './lib/clients.mjs';
import { createMany, openMany } from './lib/load.mjs';

const CLIENTS = 300;
const MISSED = 50;

/** The data frames of subscription `id` received so far on `raw`. */
const dataFrames = (raw, id) => raw.all.filter((m) => m.json?.id === id && m.json.result?.type === 'data').map((m) => m.json);

describe(`reconnect storm (${CLIENTS} clients)`, () => {
  const ctx = useServer();
  const closeAll = (socks) => Promise.all(socks.map((s) => s.close()));

  test(`${CLIENTS} clients resume at once with params.lastEventId: each gets exactly the ${MISSED} missed events in order, then live`, async () => {
    const H = newHospital();
    const T = team(H);
    const pub = await ctx.raw({ token: T.nurse, label: 'publisher' });

    let socks = await openMany(ctx.port, CLIENTS, { token: T.viewer, label: 'storm' });
    await Promise.all(socks.map((s) => s.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H })));
    const [seed] = await createMany(pub, H, 1);
    const lastIds = await Promise.all(socks.map(async (s) => {
      const f = await s.data(1);
      assert.equal(f.result.data.alertId, seed);
      return f.result.id;
    }));
    assert.equal(new Set(lastIds).size, 1, 'every subscriber saw the same event id');
    await closeAll(socks);

    const missed = await createMany(pub, H, MISSED);
    // A reference stream for the ids: one replay read on its own first.
    const ref = await ctx.raw({ token: T.viewer, label: 'reference' });
    await ref.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H }, { lastEventId: lastIds[0] });
    const refFrames = await ref.dataN(1, MISSED);
    assert.deepEqual(new Set(refFrames.map((f) => f.result.data.alertId)), new Set(missed));
    assertIdsIncrease(refFrames.map((f) => f.result.id), 'reference replay');
    const expected = refFrames.map((f) => f.result.id);

    // Everyone at once: open, send connectionParams + subscription without waiting in between.
    socks = await openMany(ctx.port, CLIENTS, { token: T.viewer, label: 'storm-again' });
    for (const s of socks) {
      s.send({ id: 2, method: 'subscription', params: { path: 'healthcare.subscribeToAlerts', input: { hospitalId: H }, lastEventId: lastIds[0] } });
    }
    await Promise.all(socks.map(async (s, i) => {
      const started = await s.reply(2, `started #${i}`, 15000);
      assert.deepEqual(started.result, { type: 'started' }, `client ${i}: ${JSON.stringify(started)}`);
      const frames = await s.dataN(2, MISSED, 15000);
      assert.deepEqual(frames.map((f) => f.result.id), expected, `client ${i}: exactly the missed events, in order`);
    }));

    const [live] = await createMany(pub, H, 1);
    await Promise.all(socks.map(async (s, i) => {
      const f = await s.data(2, 15000);
      assert.equal(f.result.data.alertId, live, `client ${i}: the live event right after the replay`);
      assert.equal(dataFrames(s, 2).length, MISSED + 1, `client ${i}: no duplicates`);
    }));
    await closeAll(socks);
  });
});

describe('replay beyond the ring (storage.ring-size=16)', () => {
  const ctx = useServer({ args: ['--storage.ring-size=16'] });
  const TOTAL = 1500;

  test(`resume after ${TOTAL} events: all of them from storage in order, then the ones created during the replay; no gap, no duplicate`, async () => {
    const H = newHospital();
    const T = team(H);
    const pub = await ctx.raw({ token: T.nurse, label: 'publisher' });
    const pub2 = await ctx.raw({ token: T.operator, label: 'publisher 2' });
    // A reference subscriber that stays connected throughout: its stream is the truth.
    const ref = await ctx.raw({ token: T.viewer, label: 'reference' });
    await ref.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });
    const sub = await ctx.raw({ token: T.viewer, label: 'resumer' });
    await sub.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });
    const [seed] = await createMany(pub, H, 1);
    const seen = await sub.data(1);
    assert.equal(seen.result.data.alertId, seed);
    await sub.close();

    const bulk = await createMany(pub, H, TOTAL);
    const again = await RawWs.open(ctx.port, { token: T.viewer, label: 'resumed' });
    ctx.open.push(again);
    again.send({ id: 2, method: 'subscription', params: { path: 'healthcare.subscribeToAlerts', input: { hospitalId: H }, lastEventId: seen.result.id } });
    // Publisher 2 creates alerts one by one while the replay streams.
    let replayDone = false;
    const during = [];
    const concurrent = (async () => {
      while (!replayDone && during.length < 200) during.push(...await createMany(pub2, H, 1));
    })();
    const started = await again.reply(2, 'started', 10000);
    assert.deepEqual(started.result, { type: 'started' });
    const replayed = await again.dataN(2, TOTAL, 20000);
    replayDone = true;
    await concurrent;
    assert.ok(during.length >= 1, 'publisher 2 created at least one alert during the replay');
    const [barrier] = await createMany(pub, H, 1);

    const lastRef = await ref.next((m) => m.json?.id === 1 && m.json.result?.data?.alertId === barrier, 'barrier on the reference', 15000);
    assert.ok(lastRef);
    const refIds = dataFrames(ref, 1).map((f) => f.result.id);
    assert.equal(refIds.length, 1 + TOTAL + during.length + 1, 'reference: one frame per event');
    await again.next((m) => m.json?.id === 2 && m.json.result?.data?.alertId === barrier, 'barrier on the resumed subscriber', 15000);
    const gotIds = dataFrames(again, 2).map((f) => f.result.id);
    assert.deepEqual(new Set(replayed.map((f) => f.result.data.alertId)), new Set(bulk), `the first ${TOTAL} frames are the bulk events`);
    assert.deepEqual(gotIds, refIds.slice(1), 'resumed stream = every event after lastEventId, in order, each once (bulk, then the concurrent ones, then the barrier)');
  });
});
