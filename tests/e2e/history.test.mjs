// getAlertTimeline, getAlertHistory, getAlertStats (docs/api.md "Queries").

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, assertAlertShape, collect, ms, newHospital, rejectsTrpc } from './lib/clients.mjs';

describe('history queries', () => {
  const ctx = useServer();

  test('getAlertTimeline: the stored events of the alert, oldest first, as the stream delivered them', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.head_doctor });
    const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'subscriber');
    await s.waitStarted();
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    await c.h.createAlert.mutate(alertInput(H, { roomNumber: '2' }));
    await c.h.triggerEscalation.mutate({ alertId: alert.id });
    const ack = await c.h.acknowledgeAlert.mutate({ alertId: alert.id });
    let t = await c.h.getAlertTimeline.query({ alertId: alert.id });
    assert.deepEqual(Object.keys(t).sort(), ['alert', 'resolutionTime', 'responseTime', 'timeline']);
    assertAlertShape(t.alert, true, 'timeline.alert');
    await s.count(4);
    assert.deepEqual(t.timeline, s.items.filter((e) => e.alertId === alert.id));
    assert.equal(t.responseTime, Math.floor((ms(ack.alert.acknowledgedAt) - ms(alert.createdAt)) / 1000));
    assert.equal(t.resolutionTime, null);
    const res = await c.h.resolveAlert.mutate({ alertId: alert.id, resolution: 'resolved for the timeline' });
    t = await c.h.getAlertTimeline.query({ alertId: alert.id });
    assert.equal(t.timeline.length, 4);
    assert.equal(t.timeline.at(-1).type, 'alert.resolved');
    assert.equal(t.resolutionTime, Math.floor((ms(res.alert.resolvedAt) - ms(alert.createdAt)) / 1000));
  });

  test('getAlertHistory: every status, newest first, total counts all matches, date range inclusive', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.head_doctor });
    const made = [];
    for (let i = 0; i < 5; i++) made.push((await c.h.createAlert.mutate(alertInput(H, { roomNumber: `H${i}` }))).alert);
    await c.h.acknowledgeAlert.mutate({ alertId: made[0].id });
    await c.h.resolveAlert.mutate({ alertId: made[0].id, resolution: 'resolved for history' });
    const h = await c.h.getAlertHistory.query({ hospitalId: H });
    assert.equal(h.total, 5);
    assert.deepEqual(h.alerts.map((a) => a.id), [...made].reverse().map((a) => a.id));
    const page = await c.h.getAlertHistory.query({ hospitalId: H, limit: 2, offset: 1 });
    assert.equal(page.total, 5);
    assert.deepEqual(page.alerts.map((a) => a.id), [made[3].id, made[2].id]);
    const from = made[1].createdAt; // Date (superjson)
    const to = made[3].createdAt;
    const ranged = await c.h.getAlertHistory.query({ hospitalId: H, startDate: from, endDate: to });
    assert.deepEqual(new Set(ranged.alerts.map((a) => a.id)), new Set(made.filter((a) => ms(a.createdAt) >= ms(from) && ms(a.createdAt) <= ms(to)).map((a) => a.id)));
    const plain = ctx.client({ token: T.viewer, superjson: false });
    const r2 = await plain.h.getAlertHistory.query({ hospitalId: H, startDate: new Date(ms(from)).toISOString() });
    assert.equal(r2.total, made.filter((a) => ms(a.createdAt) >= ms(from)).length);
    for (const [input, path] of [[{ hospitalId: H, limit: 0 }, 'limit'], [{ hospitalId: H, limit: 101 }, 'limit'], [{ hospitalId: H, offset: -1 }, 'offset'], [{ hospitalId: H, startDate: 'yesterday' }, 'startDate']]) {
      await rejectsTrpc(c.h.getAlertHistory.query(input), { code: 'BAD_REQUEST', messageIncludes: path });
    }
  });

  test('getAlertStats', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.head_doctor });
    const empty = await c.h.getAlertStats.query({ hospitalId: H });
    assert.deepEqual(empty, { active: 0, acknowledged: 0, resolved24h: 0, escalated: 0, avgResponseTime: 0 });
    const mk = async (room) => (await c.h.createAlert.mutate(alertInput(H, { roomNumber: room }))).alert;
    const a = await mk('1');
    const b = await mk('2');
    const d = await mk('3');
    await mk('4');
    await c.h.triggerEscalation.mutate({ alertId: d.id });
    const acks = [(await c.h.acknowledgeAlert.mutate({ alertId: a.id })).alert, (await c.h.acknowledgeAlert.mutate({ alertId: b.id })).alert];
    await c.h.resolveAlert.mutate({ alertId: b.id, resolution: 'resolved for stats' });
    const st = await c.h.getAlertStats.query({ hospitalId: H });
    const mean = acks.reduce((s, x) => s + Math.floor((ms(x.acknowledgedAt) - ms(x.createdAt)) / 1000), 0) / acks.length;
    assert.equal(st.active, 2);
    assert.equal(st.acknowledged, 1);
    assert.equal(st.resolved24h, 1);
    assert.equal(st.escalated, 1);
    assert.ok(Math.abs(st.avgResponseTime - mean) <= 1, `avgResponseTime ${st.avgResponseTime} vs ${mean}`);
    await rejectsTrpc(c.h.getAlertStats.query({ hospitalId: newHospital() }), { code: 'FORBIDDEN' });
  });
});
