// Full alert lifecycle through the app-shaped client (superjson and plain JSON):
// create -> escalate -> update -> acknowledge -> resolve, seen in order by subscribers,
// with the event envelope checked frame by frame on a raw socket.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import {
  alertInput, assertAlertShape, assertIdsIncrease, assertTimestamp, collect, ms, newHospital,
  parseEventId, rejectsTrpc, ISO_MS,
} from './lib/clients.mjs';

const ctx = useServer(); // default tiers: nurse 2 min, doctor 3 min, head_doctor
const TIER1_MS = 2 * 60 * 1000;
const TIER2_MS = 3 * 60 * 1000;

const wrap = (sj, v) => (sj ? { json: v } : v);
const unwrap = (sj, frame) => (sj ? frame.result.data.json : frame.result.data);

for (const sj of [true, false]) {
  const mode = sj ? 'superjson' : 'plain JSON';

  describe(`lifecycle (${mode})`, () => {
    test('create -> escalate -> update -> acknowledge -> resolve: replies, events in order, Date encoding', async () => {
      const H = newHospital();
      const T = team(H);

      const watcher = ctx.client({ token: T.viewer, superjson: sj });
      const s = collect(watcher.h.subscribeToAlerts, { hospitalId: H }, 'app subscriber');
      await s.waitStarted();
      const raw = await ctx.raw({ token: T.nurse, label: 'raw subscriber' });
      await raw.subscribe(1, 'healthcare.subscribeToAlerts', wrap(sj, { hospitalId: H }));

      const op = ctx.client({ token: T.operator, superjson: sj });
      const head = ctx.client({ token: T.head_doctor, superjson: sj });
      const nurse = ctx.client({ token: T.nurse, superjson: sj });
      const doctor = ctx.client({ token: T.doctor, superjson: sj });

      // create
      const created = await op.h.createAlert.mutate(alertInput(H, {
        roomNumber: 'ICU-1', urgencyLevel: 3, description: 'Patient collapsed', targetDepartment: 'icu', patientId: 'p-42',
      }));
      assert.equal(created.success, true);
      const a0 = created.alert;
      assertAlertShape(a0, sj, 'createAlert.alert');
      assert.equal(a0.hospitalId, H);
      assert.equal(a0.roomNumber, 'ICU-1');
      assert.equal(a0.alertType, 'cardiac_arrest');
      assert.equal(a0.urgencyLevel, 3);
      assert.equal(a0.description, 'Patient collapsed');
      assert.equal(a0.status, 'active');
      assert.equal(a0.escalationLevel, 1);
      assert.equal(a0.currentEscalationTier, 1);
      assert.equal(a0.targetDepartment, 'icu');
      assert.equal(a0.patientId, 'p-42');
      assert.equal(a0.createdBy, T.subs.operator);
      assert.equal(ms(a0.updatedAt), ms(a0.createdAt));
      assert.equal(ms(a0.nextEscalationAt), ms(a0.createdAt) + TIER1_MS, 'nextEscalationAt = createdAt + tier-1 timeout');
      for (const k of ['acknowledgedBy', 'acknowledgedAt', 'acknowledgementNotes', 'resolvedBy', 'resolvedAt', 'resolution']) {
        assert.equal(a0[k], null, `${k} should be null on a new alert`);
      }
      assert.ok(Math.abs(ms(a0.createdAt) - Date.now()) < 5000, 'createdAt is now');
      const alertId = a0.id;

      // escalate (manual)
      const esc = await head.h.triggerEscalation.mutate({ alertId, reason: 'No response' });
      assert.equal(esc.success, true);
      assert.equal(esc.alertId, alertId);
      assert.equal(esc.fromTier, 1);
      assert.equal(esc.toTier, 2);
      assertAlertShape(esc.alert, sj, 'triggerEscalation.alert');
      assert.equal(esc.alert.escalationLevel, 2);
      assert.equal(esc.alert.currentEscalationTier, 2);
      assert.equal(esc.alert.status, 'active');
      assert.ok(!('notifiedUsers' in esc), 'triggerEscalation returns no notifiedUsers');

      // update
      const upd = await nurse.h.updateAlert.mutate({ alertId, description: 'Unresponsive', urgencyLevel: 2 });
      assert.equal(upd.success, true);
      assertAlertShape(upd.alert, sj, 'updateAlert.alert');
      assert.equal(upd.alert.description, 'Unresponsive');
      assert.equal(upd.alert.urgencyLevel, 2);
      assert.equal(upd.alert.status, 'active');
      assert.equal(upd.alert.escalationLevel, 2);
      assert.equal(ms(upd.alert.nextEscalationAt), ms(esc.alert.nextEscalationAt), 'updateAlert does not change the escalation schedule');

      // acknowledge (increase: urgency 2 -> 1)
      const ack = await nurse.h.acknowledgeAlert.mutate({
        alertId, notes: 'On my way', urgencyAssessment: 'increase', responseAction: 'responding', estimatedResponseTime: 5,
      });
      assert.equal(ack.success, true);
      assertAlertShape(ack.alert, sj, 'acknowledgeAlert.alert');
      const a3 = ack.alert;
      assert.equal(a3.status, 'acknowledged');
      assert.equal(a3.acknowledgedBy, T.subs.nurse);
      assert.equal(a3.acknowledgementNotes, 'On my way');
      assert.equal(a3.nextEscalationAt, null, 'acknowledging cancels the escalation timer');
      assert.equal(a3.urgencyLevel, 1, 'increase lowers urgencyLevel by one');
      assertTimestamp(a3.acknowledgedAt, sj, 'acknowledgedAt');
      assert.equal(ack.responseTimeSeconds, Math.floor((ms(a3.acknowledgedAt) - ms(a0.createdAt)) / 1000));

      // resolve
      const res = await doctor.h.resolveAlert.mutate({ alertId, resolution: 'Stabilised, moved to CCU' });
      assert.equal(res.success, true);
      const a4 = res.alert;
      assertAlertShape(a4, sj, 'resolveAlert.alert');
      assert.equal(a4.status, 'resolved');
      assert.equal(a4.resolvedBy, T.subs.doctor);
      assert.equal(a4.resolution, 'Stabilised, moved to CCU');
      assert.equal(a4.description, 'Unresponsive', 'resolveAlert keeps description');
      assert.equal(a4.acknowledgedBy, T.subs.nurse);
      assert.equal(a4.nextEscalationAt, null);
      assertTimestamp(a4.resolvedAt, sj, 'resolvedAt');

      // the app subscriber saw all five, in order
      await s.count(5);
      const ev = s.items;
      assert.deepEqual(ev.map((e) => e.type),
        ['alert.created', 'alert.escalated', 'alert.updated', 'alert.acknowledged', 'alert.resolved']);
      assertIdsIncrease(ev.map((e) => e.id), 'subscriber event ids');
      for (const e of ev) {
        assert.deepEqual(Object.keys(e).sort(), ['alertId', 'data', 'hospitalId', 'id', 'timestamp', 'type'].sort(), `event keys of ${e.type}`);
        assert.equal(e.alertId, alertId);
        assert.equal(e.hospitalId, H);
        assertTimestamp(e.timestamp, sj, `${e.type}.timestamp`);
      }
      const [eCreated, eEsc, eUpd, eAck, eRes] = ev;

      assert.deepEqual(eCreated.data, a0, 'alert.created carries the Alert exactly as createAlert returned it');
      assert.equal(ms(eCreated.timestamp), ms(a0.createdAt));

      assert.deepEqual(Object.keys(eEsc.data).sort(), ['escalatedAt', 'escalatedBy', 'fromTier', 'reason', 'toRole', 'toTier']);
      assert.equal(eEsc.data.fromTier, 1);
      assert.equal(eEsc.data.toTier, 2);
      assert.equal(eEsc.data.toRole, 'doctor');
      assert.equal(eEsc.data.escalatedBy, T.subs.head_doctor);
      assert.equal(eEsc.data.reason, 'No response');
      assertTimestamp(eEsc.data.escalatedAt, sj, 'escalated.data.escalatedAt');
      assert.equal(ms(eEsc.timestamp), ms(eEsc.data.escalatedAt));
      assert.equal(ms(esc.alert.updatedAt), ms(eEsc.data.escalatedAt), 'updatedAt moves on escalation');
      assert.equal(ms(esc.alert.nextEscalationAt), ms(eEsc.data.escalatedAt) + TIER2_MS,
        'triggerEscalation restarts the timer for tier 2 from now');

      assert.deepEqual(Object.keys(eUpd.data).sort(), ['description', 'updatedAt', 'updatedBy', 'urgencyLevel']);
      assert.equal(eUpd.data.description, 'Unresponsive');
      assert.equal(eUpd.data.urgencyLevel, 2);
      assert.equal(eUpd.data.updatedBy, T.subs.nurse);
      assertTimestamp(eUpd.data.updatedAt, sj, 'updated.data.updatedAt');
      assert.equal(ms(eUpd.timestamp), ms(eUpd.data.updatedAt));

      assert.deepEqual(eAck.data, {
        acknowledgedBy: T.subs.nurse,
        acknowledgedAt: a3.acknowledgedAt,
        notes: 'On my way',
        urgencyAssessment: 'increase',
        responseAction: 'responding',
        estimatedResponseTime: 5,
        delegateTo: null,
        urgencyLevel: 1,
      });
      assert.equal(ms(eAck.timestamp), ms(a3.acknowledgedAt));

      assert.deepEqual(eRes.data, { resolvedBy: T.subs.doctor, resolution: 'Stabilised, moved to CCU', resolvedAt: a4.resolvedAt });
      assert.equal(ms(eRes.timestamp), ms(a4.resolvedAt));

      // raw frames: result.id present on every data frame and equal to event.id
      const frames = await raw.dataN(1, 5);
      for (const f of frames) {
        const e = unwrap(sj, f);
        assert.equal(typeof f.result.id, 'string', `data frame without result.id: ${JSON.stringify(f)}`);
        assert.equal(f.result.id, e.id, 'result.id == event.id');
        parseEventId(f.result.id);
        assert.equal(typeof e.timestamp, 'string');
        assert.match(e.timestamp, ISO_MS);
        if (sj) {
          assert.deepEqual(f.result.data.meta?.values?.timestamp, ['Date'], `timestamp annotated: ${JSON.stringify(f.result.data.meta)}`);
          assert.ok(!('referentialEqualities' in (f.result.data.meta || {})), 'referentialEqualities is never sent');
        } else {
          assert.ok(!('json' in f.result.data), 'plain mode: no superjson envelope');
        }
      }
      assert.deepEqual(frames.map((f) => f.result.id), ev.map((e) => e.id), 'both subscribers see the same ids in the same order');
      if (sj) {
        const meta = frames[0].result.data.meta.values;
        for (const k of ['data.createdAt', 'data.updatedAt', 'data.nextEscalationAt']) {
          assert.deepEqual(meta[k], ['Date'], `alert.created annotates ${k}: ${JSON.stringify(meta)}`);
        }
        for (const k of ['data.acknowledgedAt', 'data.resolvedAt']) {
          assert.ok(!(k in meta), `null ${k} must not be annotated: ${JSON.stringify(meta)}`);
        }
        const ackMeta = frames[3].result.data.meta.values;
        assert.deepEqual(ackMeta['data.acknowledgedAt'], ['Date'], JSON.stringify(ackMeta));
      }

      // getAlert shows the final state plus the escalation history
      const got = await watcher.h.getAlert.query({ alertId });
      assertAlertShape(got, sj, 'getAlert');
      assert.equal(got.status, 'resolved');
      assert.equal(got.description, 'Unresponsive');
      assert.ok(Array.isArray(got.escalations), 'getAlert has escalations[]');
      assert.equal(got.escalations.length, 1);
      assert.deepEqual(got.escalations[0], eEsc.data);
      const { escalations, receipts, seenBy, attendedTier, ...rest } = got;
      assert.deepEqual({ receipts, seenBy, attendedTier }, { receipts: [], seenBy: {}, attendedTier: 0 });
      assert.deepEqual(rest, a4, 'getAlert equals the last mutation reply');

      // nothing more arrived on either subscription
      assert.equal(s.items.length, 5, 'no extra events');
      assert.equal(raw.pending((m) => m.json?.id === 1).length, 0, 'no extra frames on the raw subscription');
    });

    test('HTTP polling path (getActiveAlerts over httpBatchLink GET) returns what the WS subscriber saw', async () => {
      const H = newHospital();
      const T = team(H);
      const c = ctx.client({ token: T.nurse, superjson: sj });
      const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'subscriber');
      await s.waitStarted();
      const ids = [];
      for (const [room, u] of [['101', 3], ['102', 1], ['ER-7', 5]]) {
        ids.push((await c.h.createAlert.mutate(alertInput(H, { roomNumber: room, urgencyLevel: u }))).alert.id);
      }
      await s.count(3);
      const seen = s.items.map((e) => e.data);
      const list = await c.h.getActiveAlerts.query({ hospitalId: H });
      assert.equal(list.total, 3);
      assert.deepEqual(list.pagination, { total: 3, limit: 20, offset: 0, hasMore: false, nextCursor: null });
      // default sort: createdAt desc (ties broken by id, same direction)
      const expected = [...seen].sort((x, y) => (ms(y.createdAt) - ms(x.createdAt)) || (x.id < y.id ? 1 : -1));
      assert.deepEqual(list.alerts, expected, 'getActiveAlerts returns exactly the alerts the subscriber saw');
      for (const a of list.alerts) assertAlertShape(a, sj, 'getActiveAlerts item');
      assert.deepEqual(new Set(list.alerts.map((a) => a.id)), new Set(ids));

      // two queries in one tick travel as one batch GET; both answer correctly
      const [m, one] = await Promise.all([
        c.h.getMetrics.query({ hospitalId: H }),
        c.h.getAlert.query({ alertId: ids[1] }),
      ]);
      assert.equal(m.activeAlerts, 3);
      assert.equal(one.id, ids[1]);
      assertTimestamp(m.timestamp, sj, 'metrics.timestamp');
    });

    test('queries and mutations also work over the WebSocket with the real client', async () => {
      const H = newHospital();
      const T = team(H);
      const c = ctx.wsClient({ token: T.head_doctor, superjson: sj });
      const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'ws subscriber');
      await s.waitStarted();
      const { alert } = await c.h.createAlert.mutate(alertInput(H));
      assertAlertShape(alert, sj, 'createAlert over WS');
      const got = await c.h.getAlert.query({ alertId: alert.id });
      assert.deepEqual(got, { ...alert, escalations: [], receipts: [], seenBy: {}, attendedTier: 0 });
      const ack = await c.h.acknowledgeAlert.mutate({ alertId: alert.id });
      assert.equal(ack.alert.status, 'acknowledged');
      assert.equal(ack.alert.acknowledgementNotes, null);
      await s.count(2);
      assert.deepEqual(s.items.map((e) => e.type), ['alert.created', 'alert.acknowledged']);
      assert.deepEqual(s.items[1].data, {
        acknowledgedBy: T.subs.head_doctor, acknowledgedAt: ack.alert.acknowledgedAt, notes: null,
        urgencyAssessment: 'maintain', responseAction: null, estimatedResponseTime: null, delegateTo: null,
        urgencyLevel: alert.urgencyLevel,
      }, 'inputs not given are null; urgencyAssessment defaults to maintain');
    });
  });
}

describe('state machine conflicts', () => {
  test('every invalid transition gets CONFLICT with the exact message, changes nothing and emits nothing', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.head_doctor });
    const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'subscriber');
    await s.waitStarted();
    const conflict = (message) => ({ code: 'CONFLICT', httpStatus: 409, message });

    const { alert: a } = await c.h.createAlert.mutate(alertInput(H));
    await rejectsTrpc(c.h.resolveAlert.mutate({ alertId: a.id, resolution: 'resolved while active' }),
      conflict('Alert not found or not acknowledged'));
    // escalate to the last tier, then once more
    await c.h.triggerEscalation.mutate({ alertId: a.id });
    const top = await c.h.triggerEscalation.mutate({ alertId: a.id });
    assert.equal(top.toTier, 3);
    assert.equal(top.alert.nextEscalationAt, null, 'no deadline at the last tier');
    await rejectsTrpc(c.h.triggerEscalation.mutate({ alertId: a.id }), conflict('Alert already at maximum escalation tier'));
    await c.h.acknowledgeAlert.mutate({ alertId: a.id });
    await rejectsTrpc(c.h.acknowledgeAlert.mutate({ alertId: a.id }), conflict('Alert is not active'));
    await rejectsTrpc(c.h.triggerEscalation.mutate({ alertId: a.id }), conflict('Only active alerts can be escalated'));
    const upd = await c.h.updateAlert.mutate({ alertId: a.id, description: 'updating an acknowledged alert is fine' });
    assert.equal(upd.alert.status, 'acknowledged');
    await c.h.resolveAlert.mutate({ alertId: a.id, resolution: 'All good now.' });
    await rejectsTrpc(c.h.updateAlert.mutate({ alertId: a.id, urgencyLevel: 5 }), conflict('Resolved alerts cannot be updated'));
    await rejectsTrpc(c.h.acknowledgeAlert.mutate({ alertId: a.id }), conflict('Alert is not active'));
    await rejectsTrpc(c.h.resolveAlert.mutate({ alertId: a.id, resolution: 'resolving twice' }), conflict('Alert not found or not acknowledged'));
    await rejectsTrpc(c.h.triggerEscalation.mutate({ alertId: a.id }), conflict('Only active alerts can be escalated'));

    // barrier: one more event; everything before it has been delivered
    const { alert: b } = await c.h.createAlert.mutate(alertInput(H, { roomNumber: '2' }));
    await s.until((it) => it.some((e) => e.alertId === b.id), 'barrier event');
    assert.deepEqual(s.items.map((e) => e.type), [
      'alert.created', 'alert.escalated', 'alert.escalated', 'alert.acknowledged', 'alert.updated', 'alert.resolved', 'alert.created',
    ], 'failed transitions emit nothing');
    const final = await c.h.getAlert.query({ alertId: a.id });
    assert.equal(final.status, 'resolved');
    assert.equal(final.urgencyLevel, 1, 'the refused update changed nothing');
    assert.equal(final.escalations.length, 2);
  });

  test('NOT_FOUND "Alert not found" for a well-formed unknown alertId on every alert procedure', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.admin });
    const nf = { code: 'NOT_FOUND', httpStatus: 404, message: 'Alert not found' };
    const alertId = '0b7c6f0e-4f59-4a3e-9a53-2f6f1f0d9c11';
    await rejectsTrpc(c.h.getAlert.query({ alertId }), nf);
    await rejectsTrpc(c.h.acknowledgeAlert.mutate({ alertId }), nf);
    await rejectsTrpc(c.h.resolveAlert.mutate({ alertId, resolution: 'nothing to resolve' }), nf);
    await rejectsTrpc(c.h.triggerEscalation.mutate({ alertId }), nf);
    await rejectsTrpc(c.h.updateAlert.mutate({ alertId, description: 'x' }), nf);
  });

  test('uuid input is accepted in any case', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.doctor });
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    const got = await c.h.getAlert.query({ alertId: alert.id.toUpperCase() });
    assert.equal(got.id, alert.id, 'alert ids are lowercase on output');
  });

  test('createAlert idempotencyKey: the second call returns the first reply and emits nothing', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'subscriber');
    await s.waitStarted();
    const key = `monitor-7:icu-1:${Date.now()}`;
    const r1 = await c.h.createAlert.mutate(alertInput(H, { idempotencyKey: key }));
    const r2 = await c.h.createAlert.mutate(alertInput(H, { idempotencyKey: key, urgencyLevel: 4, roomNumber: '999' }));
    assert.deepEqual(r2, r1, 'same reply, other input fields are not compared');
    // the same key in another hospital is a different key
    const H2 = newHospital();
    const c2 = ctx.client({ token: team(H2).nurse });
    const r3 = await c2.h.createAlert.mutate(alertInput(H2, { idempotencyKey: key }));
    assert.notEqual(r3.alert.id, r1.alert.id, 'keys are scoped to their hospital');
    // concurrent calls with one new key create one alert
    const key2 = `${key}-concurrent`;
    const rs = await Promise.all(Array.from({ length: 5 }, () => c.h.createAlert.mutate(alertInput(H, { idempotencyKey: key2 }))));
    assert.equal(new Set(rs.map((r) => r.alert.id)).size, 1, 'one alert for concurrent calls with one key');
    const { alert: barrier } = await c.h.createAlert.mutate(alertInput(H, { roomNumber: 'B1' }));
    await s.until((it) => it.some((e) => e.alertId === barrier.id), 'barrier event');
    assert.deepEqual(s.items.map((e) => e.alertId), [r1.alert.id, rs[0].alert.id, barrier.id], 'one created event per distinct key');
    const list = await c.h.getActiveAlerts.query({ hospitalId: H });
    assert.equal(list.total, 3);
  });

  test('server logs carry no tokens and no alert free text', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const secretText = `free-text-${Date.now()}-do-not-log`;
    const { alert } = await c.h.createAlert.mutate(alertInput(H, { description: secretText, patientId: 'p-secret-77' }));
    await c.h.acknowledgeAlert.mutate({ alertId: alert.id, notes: `${secretText}-notes` });
    await c.h.resolveAlert.mutate({ alertId: alert.id, resolution: `${secretText}-resolution` });
    const logs = ctx.server.logs();
    assert.ok(!logs.includes(secretText), 'description/notes/resolution must not be logged');
    assert.ok(!logs.includes(T.nurse), 'tokens must not be logged');
    assert.ok(!logs.includes(T.nurse.split('.')[2]), 'token signatures must not be logged');
    assert.ok(!logs.includes(ctx.server.secret), 'the JWT secret must not be logged');
  });
});
