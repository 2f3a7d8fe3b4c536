// Lazy loading (config `storage.resolved-window`, docs/architecture.md "Lazy loading"): a hospital
// keeps its open alerts and its newest resolved ones in memory and reads older ones from SQLite on
// demand. With a window of 2, every query and mutation of docs/api.md that names an old alert, and
// history paging across the memory/storage boundary, answer exactly as before a restart (and as
// when everything was in memory), while the console shows the hospital holding only its window.
// Env: VIGIL_BIN (see lib/server.mjs), VIGILCTL_BIN (default <repo>/build/vigilctl).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { team } from './lib/fixture.mjs';
import { alertInput, appClient, newHospital, rejectsTrpc, withTimeout } from './lib/clients.mjs';
import { JETSTREAM, VigilServer, freePort } from './lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const VIGILCTL_BIN = process.env.VIGILCTL_BIN || path.resolve(here, '..', '..', 'build', 'vigilctl');
const WINDOW = 2;

function ctl(args) {
  if (!existsSync(VIGILCTL_BIN)) throw new Error(`vigilctl not found at ${VIGILCTL_BIN} (build it, or set VIGILCTL_BIN)`);
  return withTimeout(new Promise((resolve, reject) => {
    const child = execFile(VIGILCTL_BIN, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') { reject(err); return; }
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
    child.stdin.end();
  }), 20000, `vigilctl ${args.join(' ')}`);
}

/** The error of a call that must fail: {code, message}. */
async function failure(promise) {
  try {
    await promise;
  } catch (e) {
    return { code: e.data?.code, message: e.message };
  }
  assert.fail('the call succeeded');
}

describe('lazy loading: old alerts are read from SQLite on demand', { skip: JETSTREAM && 'lazy loading is off on a cluster node, storage.resolved-window is ignored (docs/operations.md "Running a cluster")' }, () => {
  let server;
  let adminPort;
  const clients = [];
  const H = newHospital('lazy');
  const T = team(H);
  const other = newHospital('lazy-other');
  const made = [];

  before(async () => {
    adminPort = await freePort();
    server = new VigilServer({ args: [`--storage.resolved-window=${WINDOW}`, `--admin.port=${adminPort}`] });
    await server.start();
  });
  after(async () => {
    for (const c of clients) await c.close();
    await server?.stop();
  });

  const client = (token = T.head_doctor) => {
    const c = appClient({ port: server.port, token });
    clients.push(c);
    return c;
  };

  /** What the hospital's console row says (loaded hospitals only). */
  async function hospitalRow() {
    const r = await ctl(['console', '--port', String(adminPort), '--db', server.dbPath, '--exec', 'hospitals', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout);
    const list = Array.isArray(rows) ? rows : rows.hospitals;
    return list.find((h) => (h.hospital ?? h.hospital_id ?? h.id) === H);
  }

  /** Every answer that names the hospital's alerts, as a client sees it. */
  async function observe() {
    const c = client();
    const out = {};
    for (const a of made) {
      out[`getAlert ${a.id}`] = await c.h.getAlert.query({ alertId: a.id });
      const e = await c.h.getEscalationStatus.query({ alertId: a.id });
      delete e.timeUntilNextEscalation; // time-dependent
      out[`getEscalationStatus ${a.id}`] = e;
      const t = await c.h.getAlertTimeline.query({ alertId: a.id });
      out[`getAlertTimeline ${a.id}`] = t;
    }
    for (const limit of [1, 2, 3, 50]) {
      for (let offset = 0; offset <= made.length; offset += limit) {
        out[`history ${limit}/${offset}`] = await c.h.getAlertHistory.query({ hospitalId: H, limit, offset });
      }
    }
    out['history range'] = await c.h.getAlertHistory.query({
      hospitalId: H, startDate: made[1].createdAt, endDate: made[4].createdAt, limit: 2, offset: 1,
    });
    for (const status of ['all', 'resolved', 'active', 'acknowledged']) {
      let cursor;
      const pages = [];
      do {
        const p = await c.h.getActiveAlerts.query({ hospitalId: H, status, limit: 2, ...(cursor ? { cursor } : {}) });
        pages.push(p);
        cursor = p.pagination.nextCursor;
      } while (cursor);
      out[`getActiveAlerts ${status}`] = pages;
      out[`getActiveAlerts ${status} by urgency`] = await c.h.getActiveAlerts.query({ hospitalId: H, status, sortBy: 'urgencyLevel', sortOrder: 'asc', limit: 3, offset: 1 });
    }
    out.stats = await c.h.getAlertStats.query({ hospitalId: H });
    const m = await c.h.getMetrics.query({ hospitalId: H });
    delete m.timestamp;
    out.metrics = m;
    out.escalations = await c.h.getActiveEscalations.query({ hospitalId: H });
    for (const e of Object.values(out.escalations.byTier)) for (const item of e) delete item.timeUntilEscalation;
    const old = made[0].id;
    out['ack old'] = await failure(c.h.acknowledgeAlert.mutate({ alertId: old }));
    out['resolve old'] = await failure(c.h.resolveAlert.mutate({ alertId: old, resolution: 'resolved once more' }));
    out['update old'] = await failure(c.h.updateAlert.mutate({ alertId: old, description: 'changed' }));
    out['escalate old'] = await failure(c.h.triggerEscalation.mutate({ alertId: old }));
    out['unknown'] = await failure(c.h.getAlert.query({ alertId: '00000000-0000-4000-8000-000000000000' }));
    out['other hospital'] = await failure(client(team(other).head_doctor).h.getAlert.query({ alertId: old }));
    return out;
  }

  let before1;

  test('with a window of 2, queries of evicted alerts answer as when they were in memory', async () => {
    const c = client();
    for (let i = 0; i < 7; i++) {
      made.push((await c.h.createAlert.mutate(alertInput(H, { roomNumber: `L${i}`, urgencyLevel: 1 + (i % 4) }))).alert);
    }
    // The first answers, while every alert is still in memory.
    const c2 = client();
    const early = await c2.h.getAlert.query({ alertId: made[0].id });
    await c.h.triggerEscalation.mutate({ alertId: made[0].id, reason: 'lazy test' });
    for (let i = 0; i < 5; i++) {
      await c.h.acknowledgeAlert.mutate({ alertId: made[i].id });
      await c.h.resolveAlert.mutate({ alertId: made[i].id, resolution: `resolved, case ${i}` });
    }
    await c.h.acknowledgeAlert.mutate({ alertId: made[5].id });
    assert.equal(early.id, made[0].id);
    // 2 open + the 2 newest resolved in memory; 3 resolved evicted.
    const row = await hospitalRow();
    assert.ok(row, 'the hospital is loaded');
    assert.equal(row.alerts, 2 + WINDOW, JSON.stringify(row));
    before1 = await observe();
    assert.equal(before1['getAlert ' + made[0].id].resolution, 'resolved, case 0');
    assert.equal(before1['getAlertTimeline ' + made[0].id].timeline.length, 4);
    assert.equal(before1['history 50/0'].total, 7);
    assert.deepEqual(before1['history 50/0'].alerts.map((a) => a.id), [...made].reverse().map((a) => a.id));
    assert.deepEqual(before1['history 2/2'].alerts.map((a) => a.id), [made[4].id, made[3].id]);
    assert.equal(before1['getActiveAlerts all'].flatMap((p) => p.alerts).length, 7);
    assert.equal(before1['getActiveAlerts resolved'].flatMap((p) => p.alerts).length, 5);
    assert.equal(before1.stats.resolved24h, 5);
    assert.equal(before1['ack old'].code, 'CONFLICT');
    assert.equal(before1['unknown'].code, 'NOT_FOUND');
    assert.equal(before1['other hospital'].code, 'FORBIDDEN');
    // Reading old alerts does not keep them: the hospital is back to its window.
    assert.equal((await hospitalRow()).alerts, 2 + WINDOW);
  });

  test('after a restart (only open alerts and the window loaded) every answer is the same', async () => {
    assert.ok(before1, 'the first test ran');
    for (const c of clients.splice(0)) await c.close();
    await server.restart();
    // Before anything touches the hospital: an old alert's id routes to it (read from SQLite).
    const c = client();
    const a = await c.h.getAlert.query({ alertId: made[0].id });
    assert.deepEqual(a, before1['getAlert ' + made[0].id]);
    assert.equal((await hospitalRow()).alerts, 2 + WINDOW);
    const after1 = await observe();
    assert.deepEqual(Object.keys(after1), Object.keys(before1));
    for (const k of Object.keys(before1)) assert.deepEqual(after1[k], before1[k], k);
    await rejectsTrpc(c.h.acknowledgeAlert.mutate({ alertId: made[1].id }), { code: 'CONFLICT' });
  });
});
