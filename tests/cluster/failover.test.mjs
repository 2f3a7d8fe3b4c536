// kill -9 of a vigild: a client resumes on another node by lastEventId, reading the events it
// missed from the stream (a node that never hosted the hospital), nothing lost or doubled.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useCluster } from './lib/cluster.mjs';
import { team } from '../e2e/lib/fixture.mjs';
import { RawWs, alertInput, assertIdsIncrease, collect, newHospital } from '../e2e/lib/clients.mjs';
import { ResumingSubscriber, seqOf } from './lib/resume.mjs';

const ctx = useCluster();

describe('vigil cluster failover', () => {
  // (Was a todo "the replay stops after 4 of 10": the replay was complete; the test waited for 11
  // more frames after consuming the 10, and the failure's frame dump is cut at 3000 characters.)
  test('kill -9 of the node a subscriber used: it resumes on another node with nothing lost or doubled', async () => {
    const H = newHospital('fail');
    const T = team(H);
    const s = collect(ctx.client(0, { token: T.viewer }).h.subscribeToAlerts, { hospitalId: H }, 'subscriber on node 1');
    await s.waitStarted(10000);
    const writer = ctx.client(2, { token: T.nurse });
    const before = [];
    for (let i = 0; i < 10; i++) before.push((await writer.h.createAlert.mutate(alertInput(H, { roomNumber: `B${i}` }))).alert.id);
    await s.until((it) => it.length >= 10, '10 events', 10000);
    const lastSeen = s.items[9].id;
    await ctx.node(0).kill9();
    const after = [];
    for (let i = 0; i < 10; i++) after.push((await writer.h.createAlert.mutate(alertInput(H, { roomNumber: `A${i}` }))).alert.id);
    // Resume on node 2, which never hosted the hospital: the missed events come from the stream.
    const raw = await RawWs.open(ctx.node(1).port, { token: T.viewer });
    try {
      await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H }, { lastEventId: lastSeen });
      const replay = await raw.dataN(1, 10);
      assert.deepEqual(replay.map((f) => f.result.data.alertId), after, 'exactly the events after lastEventId, in order');
      assertIdsIncrease([lastSeen, ...replay.map((f) => f.result.id)]);
      // Live after the replay: the next data frames are exactly the two new events (a doubled
      // replay event would come before them).
      const l1 = (await writer.h.createAlert.mutate(alertInput(H, { roomNumber: 'L1' }))).alert.id;
      const l2 = (await writer.h.createAlert.mutate(alertInput(H, { roomNumber: 'L2' }))).alert.id;
      const live = await raw.dataN(1, 2);
      assert.deepEqual(live.map((f) => f.result.data.alertId), [l1, l2], 'live events follow the replay, nothing doubled');
      assertIdsIncrease([lastSeen, ...replay.map((f) => f.result.id), ...live.map((f) => f.result.id)]);
    } catch (e) {
      process.stderr.write(ctx.node(1).logs().split('\n').filter((l) => /cluster_read|replay/.test(l)).join('\n') + '\n');
      throw e;
    } finally {
      raw.close();
    }
  });

  test('kill -9 of a vigild under load: each of its subscribers resumes on another node and sees every acknowledged event once, in order', async () => {
    if (!ctx.node(0).child) await ctx.node(0).start(); // killed by the test before
    const H = newHospital('load');
    const T = team(H);
    const ports = ctx.cluster.nodes.map((n) => n.port);
    // A reference subscriber on node 2 (stays up) sees the hospital's whole order live.
    const ref = new ResumingSubscriber({ hospitalId: H, token: T.viewer, ports: [ports[1]], label: 'reference' });
    await ref.connect();
    // 6 subscribers on node 1 (the one killed); they resume on node 2 or 3 by lastEventId.
    const subs = [];
    for (let i = 0; i < 6; i++) {
      const order = i % 2 ? [ports[0], ports[1], ports[2]] : [ports[0], ports[2], ports[1]];
      subs.push(new ResumingSubscriber({ hospitalId: H, token: T.viewer, ports: order, label: `subscriber ${i}` }));
    }
    await Promise.all(subs.map((s) => s.connect()));
    for (const s of subs) s.resumeOnClose();
    // 4 writers on nodes 2 and 3, writing without pause until told to stop.
    const acked = [];
    const failures = [];
    let conflicts = 0;
    let writing = true;
    const writers = [1, 2, 1, 2].map(async (node, w) => {
      const c = ctx.client(node, { token: T.nurse });
      for (let i = 0; writing; i++) {
        try {
          acked.push((await c.h.createAlert.mutate(alertInput(H, { roomNumber: `W${w}-${i}` }))).alert.id);
        } catch (e) {
          // Two nodes creating in one hospital at once contend for its order: after a few lost
          // races a write gives up with CONFLICT (not acknowledged, so not expected anywhere).
          if (e.data?.code === 'CONFLICT') conflicts += 1;
          else failures.push(e.message);
        }
      }
    });
    try {
      // Under load: every subscriber has seen 20 events, then node 1 dies.
      await Promise.all(subs.map((s) => s.until((ev) => ev.length >= 20, '20 events before the kill')));
      const ackedAtKill = acked.length;
      await ctx.node(0).kill9();
      // The writers go on until 40 more writes are acknowledged and every subscriber resumed.
      await Promise.all(subs.map((s) => s.until(() => s.resumes >= 1 && acked.length >= ackedAtKill + 40,
        'resumed, 40 writes after the kill', 30000).catch(async (e) => {
        // (`until` is woken by events: poll the write count once more.)
        if (!(s.resumes >= 1)) throw e;
      })));
      while (acked.length < ackedAtKill + 40) await new Promise((r) => setTimeout(r, 50));
      writing = false;
      await Promise.all(writers);
      // A last event marks the end: everything acknowledged before it precedes it.
      const marker = (await ctx.client(1, { token: T.nurse }).h.createAlert.mutate(alertInput(H, { roomNumber: 'END' }))).alert.id;
      acked.push(marker);
      const hasMarker = (ev) => ev.some((e) => e.alertId === marker);
      await ref.until(hasMarker, 'the marker', 20000);
      await Promise.all(subs.map((s) => s.until(hasMarker, 'the marker', 20000)));
      assert.deepEqual(failures, [], 'writers on the surviving nodes never failed (other than CONFLICT)');
      const refIds = ref.events.map((e) => e.id);
      assert.equal(new Set(ref.events.filter((e) => e.type === 'alert.created').map((e) => e.alertId)).size,
        ref.events.filter((e) => e.type === 'alert.created').length, 'reference: each alert created once');
      for (const a of acked) assert.ok(ref.events.some((e) => e.alertId === a && e.type === 'alert.created'), `reference has ${a}`);
      for (const s of subs) {
        assert.deepEqual(s.resyncs, [], `${s.label}: no resync`);
        assert.deepEqual(s.errors, [], `${s.label}: no error`);
        assert.equal(s.resumes, 1, `${s.label}: resumed once`);
        const ids = s.events.map((e) => e.id);
        assertIdsIncrease(ids, `${s.label} ids`);
        // Exactly the reference's order from the subscriber's first event on: nothing lost, nothing doubled.
        const from = refIds.indexOf(ids[0]);
        assert.ok(from >= 0, `${s.label}: its first event is in the reference`);
        assert.deepEqual(ids, refIds.slice(from, from + ids.length), `${s.label}: the reference's order`);
        assert.equal(from + ids.length, refIds.length, `${s.label}: up to the marker`);
        for (const a of acked) assert.ok(s.events.some((e) => e.alertId === a), `${s.label} has acknowledged ${a}`);
      }
      process.stderr.write(`load failover: ${acked.length} acknowledged writes (${conflicts} CONFLICT), ${refIds.length} events; `
        + `resumed after ${Math.max(...subs.map((s) => s.startedAt[1] - s.closedAt[0]))} ms at most; `
        + `resumes on ports ${subs.map((s) => s.port).join(',')}\n`);
    } finally {
      writing = false;
      await Promise.allSettled(writers);
      ref.close();
      for (const s of subs) s.close();
    }
  });

  test('a resume on a node that never hosted the hospital, while writes go on: the stream read meets the live events with nothing lost or doubled', async () => {
    if (!ctx.node(0).child) await ctx.node(0).start();
    const H = newHospital('live');
    const T = team(H);
    const ports = ctx.cluster.nodes.map((n) => n.port);
    const ref = new ResumingSubscriber({ hospitalId: H, token: T.viewer, ports: [ports[2]], label: 'reference' });
    await ref.connect();
    const acked = [];
    let writing = true;
    const writer = (async () => {
      const c = ctx.client(2, { token: T.nurse });
      for (let i = 0; writing; i++) acked.push((await c.h.createAlert.mutate(alertInput(H, { roomNumber: `V${i}` }))).alert.id);
    })();
    try {
      await ref.until((ev) => ev.length >= 30, '30 events');
      // Resume from the 5th event on node 2 (a fresh process or one that never saw H): it loads
      // the hospital from the stream and replays 25+ events while new ones keep arriving.
      const r = new ResumingSubscriber({ hospitalId: H, token: T.viewer, ports: [ports[1]], label: 'resumed' });
      r.lastEventId = ref.events[4].id;
      await r.connect();
      const n = acked.length;
      await r.until(() => acked.length >= n + 30, '30 writes after the resume', 30000);
      writing = false;
      await writer;
      const last = acked[acked.length - 1];
      await ref.until((ev) => ev.some((e) => e.alertId === last), 'the last write', 20000);
      await r.until((ev) => ev.some((e) => e.alertId === last), 'the last write', 20000);
      r.close();
      assert.deepEqual(r.resyncs, [], 'no resync');
      assert.deepEqual(r.events.map((e) => e.id), ref.events.slice(5).map((e) => e.id), 'exactly the events after lastEventId, in order, once');
    } finally {
      writing = false;
      await writer.catch(() => null);
      ref.close();
    }
  });
});
