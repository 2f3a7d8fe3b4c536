// getActiveAlerts filters, sorting and pagination (docs/api.md "Queries").

import assert from 'node:assert/strict';
import { describe, test, before } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, ms, newHospital } from './lib/clients.mjs';

const ctx = useServer();

/** Sorts like the server: key, then createdAt, then id, all in one direction; nulls last for acknowledgedAt. */
function sortLike(alerts, sortBy, sortOrder) {
  const dir = sortOrder === 'asc' ? 1 : -1;
  const key = (a) => (sortBy === 'urgencyLevel' ? a.urgencyLevel : sortBy === 'acknowledgedAt' ? (a.acknowledgedAt === null ? null : ms(a.acknowledgedAt)) : ms(a.createdAt));
  return [...alerts].sort((x, y) => {
    const kx = key(x);
    const ky = key(y);
    if (kx === null && ky !== null) return 1; // nulls last, whatever the direction
    if (ky === null && kx !== null) return -1;
    if (kx !== ky) return (kx < ky ? -1 : 1) * dir;
    const cx = ms(x.createdAt);
    const cy = ms(y.createdAt);
    if (cx !== cy) return (cx < cy ? -1 : 1) * dir;
    return (x.id < y.id ? -1 : 1) * dir;
  });
}

describe('getActiveAlerts', () => {
  let H, T, c, all;
  before(async () => {
    H = newHospital();
    T = team(H);
    c = ctx.client({ token: T.head_doctor });
    const spec = [
      [3, 'fire'], [1, 'cardiac_arrest'], [5, 'security'], [2, 'code_blue'], [1, 'medical_emergency'],
      [3, 'fire'], [4, 'security'], [2, 'cardiac_arrest'],
    ];
    const made = [];
    for (const [u, t] of spec) made.push((await c.h.createAlert.mutate(alertInput(H, { urgencyLevel: u, alertType: t, roomNumber: `R${made.length}` }))).alert);
    await c.h.acknowledgeAlert.mutate({ alertId: made[1].id });
    await c.h.acknowledgeAlert.mutate({ alertId: made[3].id });
    await c.h.acknowledgeAlert.mutate({ alertId: made[6].id });
    await c.h.resolveAlert.mutate({ alertId: made[6].id, resolution: 'resolved for the query test' });
    all = [];
    for (const a of made) all.push(await c.h.getAlert.query({ alertId: a.id }).then(({ escalations, ...x }) => x));
  });

  test('status filter: default active; acknowledged; resolved; all', async () => {
    const ids = (l) => new Set(l.alerts.map((a) => a.id));
    const by = (st) => new Set(all.filter((a) => st === 'all' || a.status === st).map((a) => a.id));
    const def = await c.h.getActiveAlerts.query({ hospitalId: H });
    assert.deepEqual(ids(def), by('active'));
    assert.equal(def.total, 5);
    for (const st of ['active', 'acknowledged', 'resolved', 'all']) {
      const l = await c.h.getActiveAlerts.query({ hospitalId: H, status: st });
      assert.deepEqual(ids(l), by(st), st);
      assert.equal(l.total, by(st).size, `${st} total`);
      assert.equal(l.pagination.total, l.total);
    }
  });

  test('urgencyLevel and alertType are exact-match filters', async () => {
    const l = await c.h.getActiveAlerts.query({ hospitalId: H, status: 'all', urgencyLevel: 3 });
    assert.deepEqual(new Set(l.alerts.map((a) => a.id)), new Set(all.filter((a) => a.urgencyLevel === 3).map((a) => a.id)));
    const t = await c.h.getActiveAlerts.query({ hospitalId: H, status: 'all', alertType: 'security' });
    assert.deepEqual(new Set(t.alerts.map((a) => a.id)), new Set(all.filter((a) => a.alertType === 'security').map((a) => a.id)));
    const both = await c.h.getActiveAlerts.query({ hospitalId: H, status: 'active', alertType: 'cardiac_arrest', urgencyLevel: 2 });
    assert.deepEqual(both.alerts.map((a) => a.id), all.filter((a) => a.status === 'active' && a.alertType === 'cardiac_arrest' && a.urgencyLevel === 2).map((a) => a.id));
  });

  test('sorting: createdAt / urgencyLevel / acknowledgedAt (nulls last), asc and desc, ties by createdAt then id', async () => {
    for (const sortBy of ['createdAt', 'urgencyLevel', 'acknowledgedAt']) {
      for (const sortOrder of ['asc', 'desc']) {
        const l = await c.h.getActiveAlerts.query({ hospitalId: H, status: 'all', sortBy, sortOrder, limit: 100 });
        assert.deepEqual(l.alerts.map((a) => a.id), sortLike(all, sortBy, sortOrder).map((a) => a.id), `${sortBy} ${sortOrder}`);
      }
    }
  });

  test('limit/offset and pagination fields', async () => {
    const full = sortLike(all, 'createdAt', 'desc');
    const p = await c.h.getActiveAlerts.query({ hospitalId: H, status: 'all', limit: 3, offset: 2 });
    assert.deepEqual(p.alerts.map((a) => a.id), full.slice(2, 5).map((a) => a.id));
    assert.equal(p.total, 8);
    assert.equal(p.pagination.limit, 3);
    assert.equal(p.pagination.offset, 2);
    assert.equal(p.pagination.hasMore, true);
    assert.equal(typeof p.pagination.nextCursor, 'string');
    const last = await c.h.getActiveAlerts.query({ hospitalId: H, status: 'all', limit: 3, offset: 6 });
    assert.equal(last.alerts.length, 2);
    assert.equal(last.pagination.hasMore, false);
    assert.equal(last.pagination.nextCursor, null);
    const beyond = await c.h.getActiveAlerts.query({ hospitalId: H, status: 'all', offset: 50 });
    assert.deepEqual(beyond.alerts, []);
    assert.equal(beyond.total, 8);
  });

  test('cursor pagination walks every alert once, in order', async () => {
    for (const [sortBy, sortOrder] of [['createdAt', 'desc'], ['urgencyLevel', 'asc'], ['acknowledgedAt', 'desc']]) {
      const seen = [];
      let cursor;
      for (let guard = 0; guard < 10; guard++) {
        const page = await c.h.getActiveAlerts.query({ hospitalId: H, status: 'all', sortBy, sortOrder, limit: 3, ...(cursor ? { cursor } : {}) });
        seen.push(...page.alerts.map((a) => a.id));
        assert.equal(page.total, 8, 'total ignores the cursor');
        assert.equal(page.pagination.nextCursor !== null, page.pagination.hasMore);
        if (!page.pagination.hasMore) break;
        cursor = page.pagination.nextCursor;
      }
      assert.deepEqual(seen, sortLike(all, sortBy, sortOrder).map((a) => a.id), `${sortBy} ${sortOrder} via cursor`);
    }
    // offset applies after the cursor
    const first = await c.h.getActiveAlerts.query({ hospitalId: H, status: 'all', limit: 2 });
    const next = await c.h.getActiveAlerts.query({ hospitalId: H, status: 'all', limit: 2, offset: 1, cursor: first.pagination.nextCursor });
    assert.deepEqual(next.alerts.map((a) => a.id), sortLike(all, 'createdAt', 'desc').slice(3, 5).map((a) => a.id));
  });

  test('an ISO timestamp cursor (the original form) with sortBy createdAt', async () => {
    const asc = sortLike(all, 'createdAt', 'asc');
    const pivot = asc[3];
    const iso = new Date(ms(pivot.createdAt)).toISOString();
    const plain = ctx.client({ token: T.viewer, superjson: false });
    const desc = await plain.h.getActiveAlerts.query({ hospitalId: H, status: 'all', cursor: iso, limit: 100 });
    assert.deepEqual(new Set(desc.alerts.map((a) => a.id)), new Set(all.filter((a) => ms(a.createdAt) <= ms(pivot.createdAt)).map((a) => a.id)), 'desc: created at or before');
    const up = await plain.h.getActiveAlerts.query({ hospitalId: H, status: 'all', cursor: iso, sortOrder: 'asc', limit: 100 });
    assert.deepEqual(new Set(up.alerts.map((a) => a.id)), new Set(all.filter((a) => ms(a.createdAt) >= ms(pivot.createdAt)).map((a) => a.id)), 'asc: created at or after');
  });
});
