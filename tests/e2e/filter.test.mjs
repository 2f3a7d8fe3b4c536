// subscribeToAlerts `filter` (docs/api.md "Subscriptions"): types, maxUrgencyLevel, alertTypes;
// skipped events still advance the stream; replay applies the filter; resync is never filtered.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, assertIdsIncrease, collect, newHospital } from './lib/clients.mjs';

const ctx = useServer();

async function script(c, H) {
  const mk = async (u, t, room) => (await c.h.createAlert.mutate(alertInput(H, { urgencyLevel: u, alertType: t, roomNumber: room }))).alert;
  const a = await mk(1, 'cardiac_arrest', '1');
  const b = await mk(4, 'fire', '2');
  const d = await mk(2, 'fire', '3');
  await c.h.acknowledgeAlert.mutate({ alertId: a.id });
  await c.h.acknowledgeAlert.mutate({ alertId: b.id });
  await c.h.triggerEscalation.mutate({ alertId: d.id });
  await c.h.resolveAlert.mutate({ alertId: a.id, resolution: 'resolved in filter test' });
  return { a, b, d };
}

describe('subscribeToAlerts filter', () => {
  test('types, maxUrgencyLevel and alertTypes select events; the unfiltered stream sees all', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.head_doctor });
    const all = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'all');
    const ack = collect(c.h.subscribeToAlerts, { hospitalId: H, filter: { types: ['alert.acknowledged', 'alert.resolved'] } }, 'types');
    const urgent = collect(c.h.subscribeToAlerts, { hospitalId: H, filter: { maxUrgencyLevel: 2 } }, 'maxUrgency 2');
    const fire = collect(c.h.subscribeToAlerts, { hospitalId: H, filter: { alertTypes: ['fire'] } }, 'fire');
    const combo = collect(c.h.subscribeToAlerts, { hospitalId: H, filter: { alertTypes: ['fire'], types: ['alert.created'], maxUrgencyLevel: 3 } }, 'combo');
    await Promise.all([all, ack, urgent, fire, combo].map((s) => s.waitStarted()));
    const { a, b, d } = await script(c, H);
    await all.count(7);
    // barrier: one more event that every filter lets through (fire, urgency 1, created) ... and acknowledged for `ack`
    const { alert: z } = await c.h.createAlert.mutate(alertInput(H, { urgencyLevel: 1, alertType: 'fire', roomNumber: '9' }));
    await c.h.acknowledgeAlert.mutate({ alertId: z.id });
    await Promise.all([
      all.count(9),
      ack.until((it) => it.some((e) => e.alertId === z.id), 'barrier'),
      urgent.until((it) => it.filter((e) => e.alertId === z.id).length === 2, 'barrier'),
      fire.until((it) => it.filter((e) => e.alertId === z.id).length === 2, 'barrier'),
      combo.until((it) => it.some((e) => e.alertId === z.id), 'barrier'),
    ]);
    const sig = (s) => s.items.map((e) => `${e.type}:${[a, b, d, z].findIndex((x) => x.id === e.alertId)}`);
    assert.deepEqual(sig(ack), ['alert.acknowledged:0', 'alert.acknowledged:1', 'alert.resolved:0', 'alert.acknowledged:3']);
    assert.deepEqual(sig(urgent), ['alert.created:0', 'alert.created:2', 'alert.acknowledged:0', 'alert.escalated:2', 'alert.resolved:0', 'alert.created:3', 'alert.acknowledged:3']);
    assert.deepEqual(sig(fire), ['alert.created:1', 'alert.created:2', 'alert.acknowledged:1', 'alert.escalated:2', 'alert.created:3', 'alert.acknowledged:3']);
    assert.deepEqual(sig(combo), ['alert.created:2', 'alert.created:3']);
    for (const s of [ack, urgent, fire, combo]) {
      const allIds = all.items.map((e) => e.id);
      for (const e of s.items) assert.ok(allIds.includes(e.id), 'filtered streams deliver the same ids as the full stream');
      assertIdsIncrease(s.items.map((e) => e.id));
    }
  });

  test('resume from a filtered stream: replay applies the same filter; resync is never filtered', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.head_doctor });
    const filter = { types: ['alert.acknowledged'] };
    const s = collect(c.h.subscribeToAlerts, { hospitalId: H, filter }, 'acks');
    await s.waitStarted();
    const { alert: x } = await c.h.createAlert.mutate(alertInput(H));
    await c.h.acknowledgeAlert.mutate({ alertId: x.id });
    await s.count(1);
    const resumeFrom = s.items[0].id;
    const { alert: y } = await c.h.createAlert.mutate(alertInput(H, { roomNumber: '2' }));
    await c.h.acknowledgeAlert.mutate({ alertId: y.id });
    await c.h.resolveAlert.mutate({ alertId: y.id, resolution: 'resolved after ack' });
    const raw = await ctx.raw({ token: T.viewer });
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H, filter }, { lastEventId: resumeFrom });
    const f = await raw.data(1);
    assert.equal(f.result.data.type, 'alert.acknowledged');
    assert.equal(f.result.data.alertId, y.id);
    await raw.subscribe(2, 'healthcare.subscribeToAlerts', { hospitalId: H, filter: { types: ['alert.created'] } }, { lastEventId: 'not-an-id' });
    const r = await raw.data(2);
    assert.equal(r.result.data.alertId, '*', 'resync passes the filter');
    assert.deepEqual(r.result.data.data, { resync: true, reason: 'unknown_event_id' });
  });
});
