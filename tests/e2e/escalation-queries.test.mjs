// getEscalationStatus, getActiveEscalations (docs/api.md "Queries"); tiers 2 min, 3 min, last.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, assertTimestamp, ms, newHospital, rejectsTrpc } from './lib/clients.mjs';

describe('escalation queries', () => {
  const ctx = useServer();

  for (const sj of [true, false]) {
    test(`getEscalationStatus through the tiers (${sj ? 'superjson' : 'plain'})`, async () => {
      const H = newHospital();
      const T = team(H);
      const c = ctx.client({ token: T.head_doctor, superjson: sj });
      const { alert } = await c.h.createAlert.mutate(alertInput(H));
      const s1 = await c.h.getEscalationStatus.query({ alertId: alert.id });
      assert.deepEqual(Object.keys(s1).sort(), ['alertId', 'canEscalate', 'currentTier', 'currentTierConfig', 'escalationHistory', 'maxTier', 'timeUntilNextEscalation']);
      assert.equal(s1.alertId, alert.id);
      assert.equal(s1.currentTier, 1);
      assert.equal(s1.maxTier, 3);
      assert.deepEqual(s1.currentTierConfig, { role: 'nurse', timeoutMinutes: 2, nextRole: 'doctor' });
      assert.ok(s1.timeUntilNextEscalation > 110000 && s1.timeUntilNextEscalation <= 120000, `ms until deadline: ${s1.timeUntilNextEscalation}`);
      assert.deepEqual(s1.escalationHistory, []);
      assert.equal(s1.canEscalate, true);

      await c.h.triggerEscalation.mutate({ alertId: alert.id, reason: 'first' });
      const s2 = await c.h.getEscalationStatus.query({ alertId: alert.id });
      assert.deepEqual(s2.currentTierConfig, { role: 'doctor', timeoutMinutes: 3, nextRole: 'head_doctor' });
      assert.ok(s2.timeUntilNextEscalation > 170000 && s2.timeUntilNextEscalation <= 180000);
      await c.h.triggerEscalation.mutate({ alertId: alert.id, reason: 'second' });
      const s3 = await c.h.getEscalationStatus.query({ alertId: alert.id });
      assert.equal(s3.currentTier, 3);
      assert.deepEqual(s3.currentTierConfig, { role: 'head_doctor', timeoutMinutes: null, nextRole: null });
      assert.equal(s3.timeUntilNextEscalation, null);
      assert.equal(s3.canEscalate, false);
      assert.deepEqual(s3.escalationHistory.map((e) => [e.fromTier, e.toTier, e.reason]), [[1, 2, 'first'], [2, 3, 'second']], 'oldest first');
      for (const e of s3.escalationHistory) assertTimestamp(e.escalatedAt, sj, 'escalatedAt');
      await c.h.acknowledgeAlert.mutate({ alertId: alert.id });
      const s4 = await c.h.getEscalationStatus.query({ alertId: alert.id });
      assert.equal(s4.currentTierConfig, null, 'null when not active');
      assert.equal(s4.canEscalate, false);
      assert.equal(s4.timeUntilNextEscalation, null);
    });
  }

  test('getActiveEscalations groups active alerts by tier, soonest deadline first', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.head_doctor });
    const mk = async (room) => (await c.h.createAlert.mutate(alertInput(H, { roomNumber: room }))).alert;
    const a = await mk('1');
    const b = await mk('2');
    const d = await mk('3');
    const e = await mk('4');
    await c.h.triggerEscalation.mutate({ alertId: b.id });
    await c.h.triggerEscalation.mutate({ alertId: d.id });
    await c.h.triggerEscalation.mutate({ alertId: d.id });
    await c.h.acknowledgeAlert.mutate({ alertId: e.id });
    const r = await c.h.getActiveEscalations.query({ hospitalId: H });
    assert.equal(r.totalActive, 3);
    assert.deepEqual(Object.keys(r.byTier).sort(), ['1', '2', '3']);
    assert.deepEqual(r.byTier['1'].map((x) => x.id), [a.id]);
    assert.deepEqual(r.byTier['2'].map((x) => x.id), [b.id]);
    assert.deepEqual(r.byTier['3'].map((x) => x.id), [d.id]);
    assert.equal(r.overdue, 0);
    const item = r.byTier['1'][0];
    assert.deepEqual(Object.keys(item).sort(), ['alertType', 'createdAt', 'currentEscalationTier', 'id', 'isOverdue', 'nextEscalationAt', 'roomNumber', 'timeUntilEscalation', 'urgencyLevel']);
    assert.ok(item.nextEscalationAt instanceof Date);
    assert.equal(item.isOverdue, false);
    assert.ok(item.timeUntilEscalation > 0 && item.timeUntilEscalation <= 120000);
    assert.equal(r.byTier['3'][0].nextEscalationAt, null);
    assert.equal(r.byTier['3'][0].timeUntilEscalation, null);
    // ordering inside a tier: soonest first
    const f = await mk('5');
    const g = await mk('6');
    const r2 = await c.h.getActiveEscalations.query({ hospitalId: H });
    const tier1 = r2.byTier['1'];
    assert.deepEqual(tier1.map((x) => x.id), [a.id, f.id, g.id]);
    for (let i = 1; i < tier1.length; i++) assert.ok(ms(tier1[i - 1].nextEscalationAt) <= ms(tier1[i].nextEscalationAt));
  });

  test('permissions, tenancy, not found', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.viewer });
    await rejectsTrpc(c.h.getEscalationStatus.query({ alertId: '0b7c6f0e-4f59-4a3e-9a53-2f6f1f0d9c11' }), { code: 'NOT_FOUND', message: 'Alert not found' });
    await rejectsTrpc(c.h.getActiveEscalations.query({ hospitalId: newHospital() }), { code: 'FORBIDDEN', message: 'Access denied to this hospital' });
    await rejectsTrpc(c.h.getActiveEscalations.query({}), { code: 'BAD_REQUEST', messageIncludes: 'hospitalId' });
    const r = await c.h.getActiveEscalations.query({ hospitalId: H });
    assert.deepEqual(r, { totalActive: 0, byTier: { 1: [], 2: [], 3: [] }, overdue: 0 });
  });
});
