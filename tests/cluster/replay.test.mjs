// Replay read from the stream, checked with the real vigilctl (VIGILCTL_BIN): `vigilctl replay
// --verify --url` against each node of a cluster (ordering, completeness, every alert derived
// from its events equal to the node's getAlert); the clients/ts package (its built dist/) and
// `vigilctl watch` given the list of node URLs move to the next node after a kill -9 and resume
// by the last event id.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { useCluster } from './lib/cluster.mjs';
import { team } from '../e2e/lib/fixture.mjs';
import { WebSocket, alertInput, collect, newHospital } from '../e2e/lib/clients.mjs';
import { Ctl, ctl, events, ids, assertIncreasing } from '../e2e/lib/vigilctl.mjs';
import { httpBase, wsBase } from '../e2e/lib/tls.mjs';

const ctx = useCluster();
const url = (i) => wsBase(ctx.node(i).port);
const tsDist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../clients/ts/dist/core.js');

/** Resolves when `check()` holds (polled every 20 ms); rejects after `ms`. */
async function until(check, what, ms = 15000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Alerts on `H` written through node `i`: created, acknowledged, updated, resolved. */
async function history(H, T, i, n) {
  const c = ctx.client(i, { token: T.head_doctor });
  const created = [];
  for (let k = 0; k < n; k++) created.push((await c.h.createAlert.mutate(alertInput(H, { roomNumber: `V${k}` }))).alert.id);
  await c.h.acknowledgeAlert.mutate({ alertId: created[0], notes: 'on my way' });
  await c.h.updateAlert.mutate({ alertId: created[1], urgencyLevel: 2 });
  await c.h.resolveAlert.mutate({ alertId: created[0], resolution: 'Patient is stable now' });
  return created;
}

/** `vigilctl replay --verify --url` against node `i`, its JSON report. */
async function verify(H, T, i) {
  const r = await ctl(['replay', '--verify', '--url', url(i), '--hospital', H, '--json'], { VIGIL_TOKEN: T.viewer });
  assert.ok(r.lines.length >= 1, `node ${i + 1}: a report (exit ${r.code}): ${r.stderr}`);
  return { code: r.code, report: JSON.parse(r.lines[0]), stderr: r.stderr };
}

describe('replay from the stream (vigil cluster)', () => {
  test('replay --verify --url: every node serves the same complete, ordered history, equal to its alerts; replay --url goes on with its checkpoint on another node', async () => {
    const H = newHospital('verify');
    const T = team(H);
    // Node 1 hosts the hospital and writes; nodes 2 and 3 load it only for the replay.
    const created = await history(H, T, 0, 6);
    const reports = [];
    for (const i of [0, 1, 2]) {
      const { code, report, stderr } = await verify(H, T, i);
      if (code !== 0) process.stderr.write(`node ${i + 1}:\n${JSON.stringify(report, null, 1)}\n${stderr}\n`);
      assert.equal(code, 0, `node ${i + 1}: consistent`);
      assert.equal(report.consistent, true);
      assert.deepEqual(report.differences, []);
      assert.equal(report.events, 6 + 3, `node ${i + 1}: 6 created, 1 acknowledged, 1 updated, 1 resolved`);
      assert.equal(report.last, report.newest, 'the replay reached the newest event');
      assert.equal(report.alerts, created.length);
      assert.equal(report.alertsVerified, created.length);
      assert.equal(report.alertsNotVerifiable, 0);
      reports.push(report);
    }
    assert.deepEqual(new Set(reports.map((r) => `${r.first}..${r.last}`)).size, 1, 'one history on every node');

    // vigilctl replay --url with a checkpoint: from the start on node 3, then on with the same
    // checkpoint file on node 2 (the ids are the stream's, valid on every node).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-cluster-replay-'));
    try {
      const cp = path.join(dir, 'cp');
      const env = { VIGIL_TOKEN: T.viewer };
      const first = await ctl(['replay', '--url', url(2), '--hospital', H, '--checkpoint', cp, '--from-start'], env);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.lines.length, 9);
      assert.deepEqual(events(first.lines).filter((e) => e.type === 'alert.created').map((e) => e.alertId), created);
      assert.equal(ids(first.lines).at(-1), reports[0].last);
      const more = await history(H, T, 0, 2);
      const second = await ctl(['replay', '--url', url(1), '--hospital', H, '--checkpoint', cp], env);
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual(events(second.lines).filter((e) => e.type === 'alert.created').map((e) => e.alertId), more);
      assert.equal(second.lines.length, 2 + 3);
      assertIncreasing([...ids(first.lines), ...ids(second.lines)], 'across the two nodes');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('replay --verify --url reports an unknown hospital as empty and consistent, bad input as usage errors', async () => {
    const H = newHospital('empty');
    const T = team(H);
    const { code, report } = await verify(H, T, 1);
    assert.equal(code, 0);
    assert.equal(report.events, 0);
    assert.equal(report.alerts, 0);
    for (const [args, message] of [
      [['replay', '--verify', '--url', url(0)], /--verify --url needs --hospital/],
      [['replay', '--verify', '--url', url(0), '--hospital', H, '--follow'], /takes only --hospital/],
      [['replay', '--verify', '--url', url(0), '--db', '/nonexistent', '--hospital', H], /either --db FILE or --url URL/],
    ]) {
      const r = await ctl(args, { VIGIL_TOKEN: T.viewer });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  // The last two kill node 1, then node 2.
  test('clients/ts with the node URLs moves to the next node after kill -9 and resumes by lastEventId', {
    skip: !existsSync(tsDist) && 'clients/ts is not built (cd clients/ts && npm ci && npm run build)',
  }, async () => {
    const { createVigilClient } = await import(pathToFileURL(tsDist).href);
    const H = newHospital('ts');
    const T = team(H);
    // Node 2 hosts the hospital before node 1 dies (a subscriber there): the resume there is
    // then served from its memory. A resume on a node that must read the missed events from the
    // stream is covered by tests/cluster/failover*.mjs.
    const host = collect(ctx.client(1, { token: T.viewer }).h.subscribeToAlerts, { hospitalId: H }, 'node 2 host');
    await host.waitStarted(10000);
    const client = createVigilClient({
      urls: [0, 1, 2].map((i) => httpBase(ctx.node(i).port)),
      token: T.viewer,
      WebSocket,
      retryDelayMs: (n) => Math.min(100 * (n + 1), 500),
    });
    const events = [];
    let started = 0;
    const sub = client.subscribeToAlerts({ hospitalId: H }, { onData: (e) => events.push(e), onStarted: () => started++ });
    try {
      await until(() => started === 1 && client.mode === 'live', 'live on node 1');
      const writer = ctx.client(2, { token: T.nurse });
      const created = [];
      const create = async (room) => created.push((await writer.h.createAlert.mutate(alertInput(H, { roomNumber: room }))).alert.id);
      for (let k = 0; k < 3; k++) await create(`B${k}`);
      await until(() => events.length === 3, '3 events before the kill');
      const resumePoint = sub.lastEventId;

      await ctx.node(0).kill9();
      for (let k = 0; k < 3; k++) await create(`D${k}`);
      await until(() => started === 2 && client.mode === 'live', 'live on another node');
      await until(() => events.length === 6, 'the 3 missed events');
      await create('A0');
      await until(() => events.length === 7, 'a live event');
      await new Promise((r) => setTimeout(r, 300)); // nothing more may arrive
      assert.deepEqual(events.map((e) => e.alertId), created, 'every event once, in order');
      assertIncreasing(events.map((e) => e.id), 'ids across the move');
      assert.equal(events[2].id, resumePoint);
      const m = await client.trpc.healthcare.getMetrics.query({ hospitalId: H });
      assert.equal(m.activeAlerts, 7, 'queries go to a live node');
    } finally {
      sub.unsubscribe();
      client.close();
    }
  });

  test('watch with the node URLs moves to the next node after kill -9 and resumes with nothing lost or doubled', async () => {
    const H = newHospital('watch');
    const T = team(H);
    // Node 3 hosts the hospital before node 2 dies (see above). Node 1 is down already.
    const host = collect(ctx.client(2, { token: T.viewer }).h.subscribeToAlerts, { hospitalId: H }, 'node 3 host');
    await host.waitStarted(10000);
    const w = new Ctl(['watch', '--url', `${url(1)},${url(2)}`, '--url', url(0), '--hospital', H, '--count', '8'],
      { VIGIL_TOKEN: T.viewer });
    await w.subscribed(1);
    const writer = ctx.client(2, { token: T.nurse });
    const created = [];
    const create = async (room) => created.push((await writer.h.createAlert.mutate(alertInput(H, { roomNumber: room }))).alert.id);
    for (let k = 0; k < 3; k++) await create(`B${k}`);
    await w.until(() => w.lines.length >= 3, '3 events before the kill');

    await ctx.node(1).kill9();
    for (let k = 0; k < 3; k++) await create(`D${k}`); // while watch moves on
    await w.subscribed(2);
    for (let k = 0; k < 2; k++) await create(`A${k}`);

    const r = await w.exit(30000);
    assert.equal(r.code, 0, w.describe());
    const evs = events(r.lines);
    assert.deepEqual(evs.map((e) => e.alertId), created, 'every event once, in order');
    assertIncreasing(ids(r.lines), 'ids across the move');
    assert.match(r.stderr, new RegExp(`reconnecting to ${url(2).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    assert.match(r.stderr, new RegExp(`subscribed to healthcare.subscribeToAlerts after ${evs[2].id}`));
  });
});
