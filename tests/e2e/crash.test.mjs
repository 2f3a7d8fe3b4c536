// kill -9 in the middle of a stream of pipelined mutations (docs/api.md "Durability").
// resume.test.mjs covers kill -9 between sequential mutations; this file kills the
// server while 20 createAlert calls are in flight on one WebSocket.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, deferred, newHospital, parseEventId, withTimeout } from './lib/clients.mjs';
import { createMany } from './lib/load.mjs';

const IN_FLIGHT = 20;
const KILL_AFTER = 300; // success replies before the kill
const LEAVE_AFTER = 100; // success replies before the subscriber drops its connection

/** The data frames of subscription `id` received so far on `raw`. */
const dataFrames = (raw, id) => raw.all.filter((m) => m.json?.id === id && m.json.result?.type === 'data').map((m) => m.json);

/** getAlert for every id, 50 to a batch frame; resolves to the replies in id order. */
async function getAlerts(raw, ids) {
  const out = [];
  for (let i = 0; i < ids.length; i += 50) {
    const frame = ids.slice(i, i + 50).map((alertId, k) => ({ id: `g${i + k}`, method: 'query', params: { path: 'healthcare.getAlert', input: { alertId } } }));
    raw.send(frame);
    out.push(...await Promise.all(frame.map((f) => raw.reply(f.id))));
  }
  return out;
}

describe('kill -9 during pipelined createAlert calls', () => {
  const ctx = useServer();

  test('every acknowledged alert survives and is replayed exactly once, in order, to a subscriber from before the crash', async () => {
    const H = newHospital();
    const T = team(H);
    const srv = ctx.server;
    const sub = await ctx.raw({ token: T.viewer, label: 'subscriber' });
    await sub.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });
    const pub = await ctx.raw({ token: T.nurse, label: 'publisher' });
    const [seed] = await createMany(pub, H, 1);
    await sub.data(1);

    // Stream: IN_FLIGHT calls outstanding; each success reply is recorded and replaced by a new call.
    const acked = [];
    const errors = [];
    let sent = 0;
    let killed;
    const send = () => {
      sent += 1;
      pub.send({ id: sent, method: 'mutation', params: { path: 'healthcare.createAlert', input: alertInput(H, { roomNumber: `K${Math.floor(sent / 1000)}-${sent % 1000}` }) } });
    };
    const killedNow = deferred();
    pub.ws.on('message', (data) => {
      let j;
      try { j = JSON.parse(data.toString()); } catch { return; }
      if (typeof j.id !== 'number') return;
      if (!j.result) { errors.push(j); return; }
      acked.push(j.result.data.alert.id);
      // The subscriber leaves mid-stream, so its replay covers events committed before the crash.
      if (acked.length === LEAVE_AFTER) sub.terminate();
      if (acked.length === KILL_AFTER) { killed = srv.kill9(); killedNow.resolve(); }
      if (pub.isOpen) send();
    });
    ctx.expectDown = true;
    for (let i = 0; i < IN_FLIGHT; i++) send();
    await withTimeout(killedNow.promise, 20000, `${KILL_AFTER} success replies`);
    const exit = await killed;
    assert.equal(exit.signal, 'SIGKILL');
    await pub.waitClose();
    await sub.waitClose();
    assert.deepEqual(errors, [], 'no error replies before the crash');
    assert.ok(acked.length >= KILL_AFTER);
    assert.ok(sent > acked.length, 'calls were still in flight at the kill');
    const live = dataFrames(sub, 1);
    assert.equal(live[0].result.data.alertId, seed);

    await srv.start();
    ctx.expectDown = false;

    // Every alert that got a success reply exists.
    const q = await ctx.raw({ token: T.viewer, label: 'queries' });
    const got = await getAlerts(q, acked);
    got.forEach((r, i) => assert.equal(r.result?.data?.id, acked[i], `getAlert ${acked[i]} after the crash: ${JSON.stringify(r).slice(0, 300)}`));

    // The subscriber resumes from its last seen id; a barrier created after `started` ends the replay.
    const again = await ctx.raw({ token: T.viewer, label: 'resumed' });
    await again.subscribe(2, 'healthcare.subscribeToAlerts', { hospitalId: H }, { lastEventId: live.at(-1).result.id });
    const [barrier] = await createMany(pub.isOpen ? pub : await ctx.raw({ token: T.nurse }), H, 1);
    await again.next((m) => m.json?.id === 2 && m.json.result?.data?.alertId === barrier, 'the barrier event after the replay', 15000);
    const replay = dataFrames(again, 2).slice(0, -1);
    assert.ok(replay.length >= acked.length + 1 - live.length && replay.length > 0, `the replay covers what the subscriber missed (${replay.length} events)`);
    assert.ok(replay.every((f) => f.result.data.type === 'alert.created'), 'only created events');

    const stream = [...live, ...replay];
    const seqs = stream.map((f) => parseEventId(f.result.id).seq);
    for (let i = 1; i < seqs.length; i++) {
      assert.equal(seqs[i], seqs[i - 1] + 1n, `live + replay must be gap-free and duplicate-free (the only active hospital): ${stream[i - 1].result.id} -> ${stream[i].result.id}`);
    }
    const counts = new Map();
    for (const f of stream) counts.set(f.result.data.alertId, (counts.get(f.result.data.alertId) || 0) + 1);
    for (const id of acked) assert.equal(counts.get(id), 1, `acknowledged alert ${id} appears exactly once in live + replay`);
    for (const [id, n] of counts) assert.equal(n, 1, `alert ${id} appears once`);
    // Events of alerts whose reply was lost in the crash were committed too: they exist.
    const unacked = [...counts.keys()].filter((id) => id !== seed && !acked.includes(id));
    const extra = await getAlerts(q, unacked);
    extra.forEach((r, i) => assert.equal(r.result?.data?.id, unacked[i], `alert ${unacked[i]} was delivered, so it must be stored`));
  });
});
