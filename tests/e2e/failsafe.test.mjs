// The unattended-alert failsafe (docs/api.md "Escalation", docs/operations.md "Unattended
// alerts"): an alert whose tier has nobody of that role online escalates at once; one nobody of
// that role confirms escalates after escalation.receipt-timeout; at the last tier the whole
// hospital is called (alert.escalated with data.unattended), counted in /metrics.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { JETSTREAM, useServer, team } from './lib/fixture.mjs';
import { alertInput, collect, ms, newHospital } from './lib/clients.mjs';

const RECEIPT_MS = 1000;
const ctx = useServer({ failsafe: 'on', args: [`--escalation.receipt-timeout=${RECEIPT_MS}ms`] });

const escalations = (items, alertId) => items.filter((e) => e.type === 'alert.escalated' && e.alertId === alertId);

async function metric(name) {
  const res = await ctx.http('/metrics');
  const line = res.text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : undefined;
}

describe('failsafe', () => {
  test('an alert raised while no nurse is connected reaches the doctor tier within a second', async () => {
    const H = newHospital();
    const T = team(H);
    const doctor = ctx.client({ token: T.doctor });
    const s = collect(doctor.h.subscribeToAlerts, { hospitalId: H }, 'doctor');
    await s.waitStarted();
    const { alert } = await doctor.h.createAlert.mutate(alertInput(H));
    const items = await s.until((it) => escalations(it, alert.id).length >= 1, 'escalated to the doctor', 1000);
    const [e] = escalations(items, alert.id);
    assert.deepEqual({ ...e.data, escalatedAt: undefined },
      { fromTier: 1, toTier: 2, toRole: 'doctor', escalatedAt: undefined, escalatedBy: 'system', reason: 'no_recipient_online' });
    assert.ok(ms(e.data.escalatedAt) - ms(alert.createdAt) < 1000, 'within a second');
    // The doctor's client confirms the escalation it showed: the tier is attended, it stays.
    await doctor.h.confirmDelivery.mutate({ hospitalId: H, eventIds: [e.id] });
    await new Promise((r) => setTimeout(r, RECEIPT_MS + 500));
    assert.equal(escalations(s.items, alert.id).length, 1, 'no further failsafe escalation');
    const got = await doctor.h.getAlert.query({ alertId: alert.id });
    assert.equal(got.escalationLevel, 2);
    assert.equal(got.attendedTier, 2);
  });

  test('an alert nobody confirms escalates after the receipt timeout', async () => {
    const H = newHospital();
    const T = team(H);
    const nurse = ctx.client({ token: T.nurse });
    const doctor = ctx.client({ token: T.doctor });
    const s = collect(nurse.h.subscribeToAlerts, { hospitalId: H }, 'nurse');
    const sd = collect(doctor.h.subscribeToAlerts, { hospitalId: H }, 'doctor');
    await s.waitStarted();
    await sd.waitStarted();
    const { alert } = await nurse.h.createAlert.mutate(alertInput(H));
    const items = await s.until((it) => escalations(it, alert.id).length >= 1, 'no_receipt escalation', 4000);
    const [e] = escalations(items, alert.id);
    assert.equal(e.data.reason, 'no_receipt');
    assert.equal(e.data.toRole, 'doctor');
    const waited = ms(e.data.escalatedAt) - ms(alert.createdAt);
    assert.ok(waited >= RECEIPT_MS && waited < RECEIPT_MS + 1000, `after the receipt timeout (${waited} ms)`);
    // Stops the climb (the next tiers would go unattended during the next tests).
    await doctor.h.acknowledgeAlert.mutate({ alertId: alert.id });
  });

  test('a receipt in time keeps the alert at its tier', async () => {
    const H = newHospital();
    const T = team(H);
    const nurse = ctx.client({ token: T.nurse });
    const s = collect(nurse.h.subscribeToAlerts, { hospitalId: H }, 'nurse');
    await s.waitStarted();
    const { alert } = await nurse.h.createAlert.mutate(alertInput(H));
    const [created] = await s.until((it) => it.some((x) => x.type === 'alert.created'), 'created');
    await nurse.h.confirmDelivery.mutate({ hospitalId: H, eventIds: [created.id] });
    await new Promise((r) => setTimeout(r, RECEIPT_MS + 500));
    assert.equal(escalations(s.items, alert.id).length, 0);
  });

  test('nobody online at all: the last tier calls the whole hospital, counted in /metrics', async () => {
    const H = newHospital();
    const T = team(H);
    const before = (await metric('vigil_alerts_unattended_total')) ?? 0;
    const op = ctx.client({ token: T.operator }); // operators are in no tier
    const s = collect(op.h.subscribeToAlerts, { hospitalId: H }, 'operator');
    await s.waitStarted();
    const { alert } = await op.h.createAlert.mutate(alertInput(H));
    const items = await s.until((it) => escalations(it, alert.id).length >= 3, 'three failsafe steps', 2000);
    const [e1, e2, e3] = escalations(items, alert.id);
    assert.equal(e1.data.reason, 'no_recipient_online');
    assert.equal(e2.data.reason, 'no_recipient_online');
    assert.deepEqual({ fromTier: e3.data.fromTier, toTier: e3.data.toTier, unattended: e3.data.unattended },
      { fromTier: 3, toTier: 3, unattended: true });
    assert.equal(e3.data.toRole, 'head_doctor');
    // On a cluster node the event can come back from the stream before the write's answer, on
    // which the step is counted and logged: wait (briefly) for it, then check it counted once.
    const logged = new RegExp(`level=error event=alert_unattended .*alert=${alert.id}`);
    for (const deadline = Date.now() + 2000; !logged.test(ctx.server.logs()) && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(ctx.server.logs(), logged);
    assert.equal(await metric('vigil_alerts_unattended_total'), before + 1);
  });
});
