// The NATS side of failover (docs/operations.md "Running a cluster"): kill -9 of the NATS server
// leading the stream (3 servers, replicas 3): writes continue after a bounded pause and every
// acknowledged write is in the stream; the quorum lost (2 of 3 down): writes fail at once with an
// error, /ready says not ready, and both recover when the servers are back.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useCluster } from './lib/cluster.mjs';
import { ResumingSubscriber } from './lib/resume.mjs';
import { team } from '../e2e/lib/fixture.mjs';
import { alertInput, http, newHospital } from '../e2e/lib/clients.mjs';

const ctx = useCluster();

/** Polls fn() every 100 ms until it returns a truthy value (at most ms). */
async function eventually(fn, what, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The stream's epoch, from a node's start-up line. */
function epoch() {
  const m = /event=cluster_node .*epoch=([a-z0-9]+)/.exec(ctx.node(0).logs());
  assert.ok(m, 'cluster_node line with the epoch');
  return m[1];
}

const readyStatus = async (i) => (await http(ctx.node(i).port, '/ready')).status;

describe('vigil cluster: NATS failover', () => {
  test('kill -9 of the NATS server leading the stream: writes go on, no acknowledged write lost', async () => {
    const leader = await eventually(() => ctx.cluster.streamLeader(), 'a stream leader', 10000);
    // One writer per vigild, each on its own hospital (no contention between nodes).
    const writers = [0, 1, 2].map((i) => {
      const H = newHospital(`nats${i}`);
      return { node: i, H, T: team(H), acked: [], failed: [], slowest: 0 };
    });
    let writing = true;
    const loops = writers.map(async (w) => {
      const c = ctx.client(w.node, { token: w.T.nurse });
      for (let i = 0; writing; i++) {
        const t0 = Date.now();
        try {
          w.acked.push((await c.h.createAlert.mutate(alertInput(w.H, { roomNumber: `N${i}` }))).alert.id);
        } catch (e) {
          w.failed.push(e.data?.code ?? e.message);
          await new Promise((r) => setTimeout(r, 100)); // as a client would before trying again
        }
        w.slowest = Math.max(w.slowest, Date.now() - t0);
      }
    });
    try {
      await eventually(() => writers.every((w) => w.acked.length >= 20), '20 writes on each node', 20000);
      const before = writers.map((w) => w.acked.length);
      const killedAt = Date.now();
      await leader.kill9();
      // Bound: each node has 30 more acknowledged writes within 30 s of the kill.
      await eventually(() => writers.every((w, i) => w.acked.length >= before[i] + 30), '30 writes on each node after the kill', 30000);
      const recovered = Date.now() - killedAt;
      writing = false;
      await Promise.all(loops);
      process.stderr.write(`nats failover: killed ${leader.name} (stream leader); 30 writes per node after ${recovered} ms; `
        + `slowest write ${Math.max(...writers.map((w) => w.slowest))} ms; failed writes ${JSON.stringify(writers.map((w) => w.failed.length))}\n`);
      for (const w of writers) {
        const kinds = [...new Set(w.failed)];
        assert.ok(kinds.every((f) => f === 'INTERNAL_SERVER_ERROR' || f === 'CONFLICT'), `node ${w.node + 1}: failures are storage errors: ${kinds}`);
        assert.ok(w.slowest < 12000, `node ${w.node + 1}: no write waited ${w.slowest} ms`);
      }
      // A fresh subscriber on a node that never hosted the hospital replays it from the stream:
      // every acknowledged write is there, once.
      const e = epoch();
      for (const w of writers) {
        const other = ctx.node((w.node + 1) % 3).port;
        const s = new ResumingSubscriber({ hospitalId: w.H, token: w.T.viewer, ports: [other], label: `replay of node ${w.node + 1}` });
        s.lastEventId = `${e}-0`;
        try {
          await s.connect();
          const last = w.acked[w.acked.length - 1];
          await s.until((ev) => ev.some((x) => x.alertId === last), 'the last acknowledged write', 20000);
          const created = s.events.filter((x) => x.type === 'alert.created').map((x) => x.alertId);
          assert.deepEqual(s.resyncs, [], 'no resync');
          assert.equal(new Set(created).size, created.length, 'each alert created once');
          for (const a of w.acked) assert.ok(created.includes(a), `node ${w.node + 1}: acknowledged ${a} is in the stream`);
        } catch (err) {
          process.stderr.write(`resyncs: ${JSON.stringify(s.resyncs)}\n${ctx.cluster.nodes.map((n, i) => `--- node ${i + 1}\n${n.logs().split('\n')
            .filter((l) => /cluster_(read|follow|stream)|replay|hospital_load|unavailable|not_stored/.test(l)).slice(-15).join('\n')}`).join('\n')}\n`);
          throw err;
        } finally {
          s.close();
        }
      }
    } finally {
      writing = false;
      await Promise.allSettled(loops);
      if (!leader.running) await leader.start();
    }
  });

  test('quorum lost (2 of 3 NATS servers down): writes fail at once, /ready is 503; both recover', async () => {
    const H = newHospital('quorum');
    const T = team(H);
    const c = ctx.client(0, { token: T.nurse });
    await c.h.createAlert.mutate(alertInput(H, { roomNumber: 'Q0' }));
    assert.equal(await readyStatus(0), 200);
    // The two servers that do not lead the stream: the survivor keeps leading and answering
    // stream info (nats-server steps down only after 10 s without a quorum), the hard case for
    // the readiness probe.
    const leader = await eventually(() => ctx.cluster.streamLeader(), 'a stream leader', 10000);
    const down = ctx.cluster.nats.filter((n) => n !== leader);
    await Promise.all(down.map((n) => n.kill9()));
    try {
      // A write is refused, not acknowledged and not left hanging: at most the publish timeout.
      const t0 = Date.now();
      const err = await c.h.createAlert.mutate(alertInput(H, { roomNumber: 'Q1' })).then(() => null, (e) => e);
      const took = Date.now() - t0;
      assert.ok(err, 'the write is refused');
      assert.equal(err.data?.code, 'INTERNAL_SERVER_ERROR');
      assert.ok(took < 8000, `refused after ${took} ms`);
      // The next ones fail at once (no publish timeout per write while the stream is unavailable).
      const t1 = Date.now();
      const errs = await Promise.all([1, 2, 3].map((i) => c.h.createAlert.mutate(alertInput(H, { roomNumber: `Q${i + 1}` })).then(() => null, (e) => e)));
      // (Refused, never acknowledged: INTERNAL_SERVER_ERROR, or CONFLICT for a write chained on
      // one that failed when its retries ran out.)
      assert.ok(errs.every((e) => ['INTERNAL_SERVER_ERROR', 'CONFLICT'].includes(e?.data?.code)),
        `all refused: ${JSON.stringify(errs.map((e) => e && [e.data?.code, e.message]))}`);
      const fast = Date.now() - t1;
      await eventually(async () => (await readyStatus(0)) === 503, '/ready 503', 5000);
      const body = (await http(ctx.node(0).port, '/ready')).json;
      assert.equal(body.status, 'not_ready');
      process.stderr.write(`quorum lost: first write refused after ${took} ms, 3 more in ${fast} ms; /ready ${JSON.stringify(body)}\n`);
    } finally {
      await Promise.all(down.map((n) => (n.running ? null : n.start())));
    }
    // The quorum is back: writes are acknowledged again and /ready is 200.
    const t2 = Date.now();
    const { alert } = await eventually(() => c.h.createAlert.mutate(alertInput(H, { roomNumber: 'Q9' })).catch(() => null),
      'a write after the quorum is back', 30000);
    await eventually(async () => (await readyStatus(0)) === 200, '/ready 200', 10000);
    process.stderr.write(`quorum back: writes acknowledged after ${Date.now() - t2} ms\n`);
    const s = new ResumingSubscriber({ hospitalId: H, token: T.viewer, ports: [ctx.node(1).port], label: 'replay' });
    s.lastEventId = `${epoch()}-0`;
    await s.connect();
    try {
      await s.until((ev) => ev.some((x) => x.alertId === alert.id), 'the write after the quorum is back', 20000);
      const created = s.events.filter((x) => x.type === 'alert.created').map((x) => x.alertId);
      assert.equal(new Set(created).size, created.length, 'each alert created once');
      assert.ok(created.includes(alert.id) && created.length >= 2, 'the acknowledged writes are there');
      // (A refused write whose publish was still pending on the surviving server may be stored
      // once the quorum is back: refused means "not known to be stored", as when a reply is lost.)
      process.stderr.write(`quorum back: ${created.length - 2} of the 4 refused writes were stored after all\n`);
    } finally {
      s.close();
    }
  });
});
