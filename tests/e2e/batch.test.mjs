// batchAcknowledgeAlerts and batchResolveAlerts (docs/api.md "Mutations").

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, collect, newHospital, rejectsTrpc } from './lib/clients.mjs';

const UNKNOWN = '0b7c6f0e-4f59-4a3e-9a53-2f6f1f0d9c11';

describe('batch mutations', () => {
  const ctx = useServer();

  test('batchAcknowledgeAlerts: successes in order, per-alert errors with the single-call messages', async () => {
    const H = newHospital();
    const H2 = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'subscriber');
    await s.waitStarted();
    const mk = async (room) => (await c.h.createAlert.mutate(alertInput(H, { roomNumber: room }))).alert;
    const a = await mk('1');
    const b = await mk('2');
    const done = await mk('3');
    await c.h.acknowledgeAlert.mutate({ alertId: done.id });
    const foreign = (await ctx.client({ token: team(H2).nurse }).h.createAlert.mutate(alertInput(H2))).alert;
    const r = await c.h.batchAcknowledgeAlerts.mutate({ alertIds: [b.id, done.id, UNKNOWN, foreign.id, a.id, b.id], notes: 'Covering ward 3' });
    assert.equal(r.success, true);
    assert.deepEqual(r.acknowledged, [b.id, a.id]);
    assert.deepEqual(r.errors, [
      { alertId: done.id, error: 'Alert is not active' },
      { alertId: UNKNOWN, error: 'Alert not found' },
      { alertId: foreign.id, error: 'Access denied to this hospital' },
    ]);
    await s.count(6);
    const acks = s.items.filter((e) => e.type === 'alert.acknowledged').slice(1);
    assert.deepEqual(acks.map((e) => e.alertId), [b.id, a.id], 'one event per success, in the order of alertIds');
    for (const e of acks) {
      assert.equal(e.data.notes, 'Covering ward 3');
      assert.equal(e.data.urgencyAssessment, 'maintain');
      assert.equal(e.data.responseAction, null);
    }
    const none = await c.h.batchAcknowledgeAlerts.mutate({ alertIds: [a.id] });
    assert.equal(none.success, false);
    assert.deepEqual(none.acknowledged, []);
  });

  test('batchResolveAlerts: only from acknowledged', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.doctor });
    const a = (await c.h.createAlert.mutate(alertInput(H))).alert;
    const b = (await c.h.createAlert.mutate(alertInput(H, { roomNumber: '2' }))).alert;
    await c.h.acknowledgeAlert.mutate({ alertId: a.id });
    const r = await c.h.batchResolveAlerts.mutate({ alertIds: [a.id, b.id], resolution: 'False alarm, sensor detached' });
    assert.equal(r.success, true);
    assert.deepEqual(r.resolved, [a.id]);
    assert.deepEqual(r.errors, [{ alertId: b.id, error: 'Alert not found or not acknowledged' }]);
    const got = await c.h.getAlert.query({ alertId: a.id });
    assert.equal(got.status, 'resolved');
    assert.equal(got.resolution, 'False alarm, sensor detached');
    assert.equal(got.resolvedBy, T.subs.doctor);
  });

  test('validation and permissions', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const ids51 = Array.from({ length: 51 }, () => UNKNOWN);
    const bad = [
      ['batchAcknowledgeAlerts', { alertIds: [] }, 'alertIds'],
      ['batchAcknowledgeAlerts', { alertIds: ids51 }, 'alertIds'],
      ['batchAcknowledgeAlerts', { alertIds: [UNKNOWN, 'x'] }, 'alertIds.1'],
      ['batchAcknowledgeAlerts', { alertIds: [UNKNOWN], notes: '' }, 'notes'],
      ['batchResolveAlerts', { alertIds: [UNKNOWN], resolution: 'short' }, 'resolution'],
      ['batchResolveAlerts', { alertIds: [UNKNOWN] }, 'resolution'],
      ['batchResolveAlerts', { alertIds: [UNKNOWN], resolution: 'r'.repeat(1001) }, 'resolution'],
    ];
    for (const [proc, input, path] of bad) {
      const e = await rejectsTrpc(c.h[proc].mutate(input), { code: 'BAD_REQUEST' });
      assert.match(e.message, new RegExp(`(?:^Invalid input: |; )${path.replace('.', '\\.')}: `), `${proc}: ${e.message}`);
    }
    for (const role of ['viewer', 'operator']) {
      const v = ctx.client({ token: T[role] });
      await rejectsTrpc(v.h.batchAcknowledgeAlerts.mutate({ alertIds: [UNKNOWN] }), { code: 'FORBIDDEN', message: 'Access denied. Required permission: acknowledge_alerts' });
      await rejectsTrpc(v.h.batchResolveAlerts.mutate({ alertIds: [UNKNOWN], resolution: 'long enough' }), { code: 'FORBIDDEN', message: 'Access denied. Required permission: acknowledge_alerts' });
    }
  });
});
