// Timer-driven escalation (docs/api.md "Escalation") with second-long tiers.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, collect, ms, newHospital } from './lib/clients.mjs';

const TIER_MS = 1000;
const ctx = useServer({ tiers: 'nurse:1s,doctor:1s,head_doctor' });

const escalations = (s, alertId) => s.items.filter((e) => e.type === 'alert.escalated' && e.alertId === alertId);

describe('escalation timers', () => {
  test('an unacknowledged alert climbs one tier per timeout, as "system", up to the last tier', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'subscriber');
    await s.waitStarted();
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    assert.equal(ms(alert.nextEscalationAt), ms(alert.createdAt) + TIER_MS, 'deadline = createdAt + tier-1 timeout');
    await s.until((it) => escalations({ items: it }, alert.id).length >= 2, 'two timer escalations', 5000);
    const [e1, e2] = escalations(s, alert.id);
    assert.deepEqual({ ...e1.data, escalatedAt: undefined }, { fromTier: 1, toTier: 2, toRole: 'doctor', escalatedAt: undefined, escalatedBy: 'system', reason: 'timeout' });
    assert.deepEqual({ ...e2.data, escalatedAt: undefined }, { fromTier: 2, toTier: 3, toRole: 'head_doctor', escalatedAt: undefined, escalatedBy: 'system', reason: 'timeout' });
    assert.ok(ms(e1.data.escalatedAt) >= ms(alert.nextEscalationAt), 'fires when the deadline has passed, not before');
    assert.ok(ms(e1.data.escalatedAt) - ms(alert.nextEscalationAt) < 1000, 'fires promptly');
    assert.ok(ms(e2.data.escalatedAt) - ms(e1.data.escalatedAt) >= TIER_MS, 'tier-2 deadline counts from the first escalation');
    assert.equal(ms(e1.timestamp), ms(e1.data.escalatedAt));
    const got = await c.h.getAlert.query({ alertId: alert.id });
    assert.equal(got.escalationLevel, 3);
    assert.equal(got.currentEscalationTier, 3);
    assert.equal(got.nextEscalationAt, null, 'no deadline at the last tier');
    assert.equal(got.status, 'active');
    assert.deepEqual(got.escalations, [e1.data, e2.data]);
    assert.equal(ms(got.updatedAt), ms(e2.data.escalatedAt), 'updatedAt moves with escalation');
  });

  test('acknowledging cancels the timer', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'subscriber');
    await s.waitStarted();
    const { alert: a } = await c.h.createAlert.mutate(alertInput(H, { roomNumber: 'A' }));
    const ack = await c.h.acknowledgeAlert.mutate({ alertId: a.id });
    assert.equal(ack.alert.nextEscalationAt, null);
    // b's deadline is not earlier than a's: once b escalated, a would have too
    const { alert: b } = await c.h.createAlert.mutate(alertInput(H, { roomNumber: 'B' }));
    await s.until((it) => escalations({ items: it }, b.id).length >= 1, 'b escalates', 4000);
    assert.equal(escalations(s, a.id).length, 0, 'the acknowledged alert did not escalate');
    const got = await c.h.getAlert.query({ alertId: a.id });
    assert.equal(got.escalationLevel, 1);
    assert.deepEqual(got.escalations, []);
  });

  test('triggerEscalation restarts the timer from now', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.head_doctor });
    const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'subscriber');
    await s.waitStarted();
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    const r = await c.h.triggerEscalation.mutate({ alertId: alert.id });
    await s.until((it) => escalations({ items: it }, alert.id).length >= 2, 'manual then timer escalation', 4000);
    const [manual, timer] = escalations(s, alert.id);
    assert.equal(manual.data.escalatedBy, T.subs.head_doctor);
    assert.equal(manual.data.reason, null, 'no reason given -> null');
    assert.equal(ms(r.alert.nextEscalationAt), ms(manual.data.escalatedAt) + TIER_MS);
    assert.equal(timer.data.escalatedBy, 'system');
    assert.equal(timer.data.fromTier, 2);
    assert.ok(ms(timer.data.escalatedAt) >= ms(r.alert.nextEscalationAt));
  });

  test('deadlines are stored: after a restart an overdue escalation fires at once, one tier', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const s0 = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'before restart');
    await s0.waitStarted();
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    await s0.count(1);
    const createdId = s0.items[0].id;
    s0.stop();
    ctx.expectDown = true;
    const exit = await ctx.server.stop();
    assert.equal(exit.code, 0);
    // let the deadline pass while the server is down (a time condition, not synchronisation)
    const wait = ms(alert.nextEscalationAt) + 200 - Date.now();
    if (wait > 0) await delay(wait);
    const restartAt = Date.now();
    await ctx.server.start();
    ctx.expectDown = false;
    const c2 = ctx.client({ token: T.nurse });
    const s = collect(c2.h.subscribeToAlerts, { hospitalId: H, lastEventId: createdId }, 'after restart');
    await s.until((it) => escalations({ items: it }, alert.id).length >= 1, 'overdue escalation', 3000);
    const [e] = escalations(s, alert.id);
    assert.equal(e.data.fromTier, 1);
    assert.equal(e.data.toTier, 2);
    assert.equal(e.data.escalatedBy, 'system');
    assert.ok(ms(e.data.escalatedAt) >= restartAt - 50, 'fired after the restart');
    const got = await c2.h.getAlert.query({ alertId: alert.id });
    if (got.escalationLevel === 2) {
      assert.equal(ms(got.nextEscalationAt), ms(e.data.escalatedAt) + TIER_MS, 'the next deadline counts from the firing time');
    }
  });
});
