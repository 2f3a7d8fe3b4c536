// getMetrics and subscribeToMetrics (docs/api.md "Metrics", "Queries", "Subscriptions").

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { startServer } from './lib/server.mjs';
import { alertInput, appClient, assertTimestamp, collect, METRICS_KEYS, ms, newHospital } from './lib/clients.mjs';
import { mintToken } from './lib/tokens.mjs';

const ctx = useServer();

function assertMetricsShape(m, sj, what = 'metrics') {
  assert.deepEqual(Object.keys(m).sort(), METRICS_KEYS, `${what}: exactly the documented keys: ${JSON.stringify(m)}`);
  assertTimestamp(m.timestamp, sj, `${what}.timestamp`);
  assert.equal(m.avgResponseTime, m.avgResponseTimeSec, `${what}: avgResponseTime carries avgResponseTimeSec`);
  for (const k of ['activeAlerts', 'criticalAlerts', 'staffOnline', 'avgResponseTimeSec']) {
    assert.ok(Number.isInteger(m[k]) && m[k] >= 0, `${what}.${k} is a non-negative integer: ${m[k]}`);
  }
  assert.ok(m.responseRate >= 0 && m.responseRate <= 1, `${what}.responseRate in [0,1]`);
}

const pick = ({ activeAlerts, criticalAlerts, staffOnline, responseRate, avgResponseTimeSec }) =>
  ({ activeAlerts, criticalAlerts, staffOnline, responseRate, avgResponseTimeSec });

for (const sj of [true, false]) {
  describe(`metrics (${sj ? 'superjson' : 'plain JSON'})`, () => {
    test('getMetrics after a scripted set of mutations', async () => {
      const H = newHospital();
      const T = team(H);
      const c = ctx.client({ token: T.head_doctor, superjson: sj });
      const empty = await c.h.getMetrics.query({ hospitalId: H });
      assertMetricsShape(empty, sj, 'empty hospital');
      assert.deepEqual(pick(empty), { activeAlerts: 0, criticalAlerts: 0, staffOnline: 0, responseRate: 1, avgResponseTimeSec: 0 });
      assert.ok(Math.abs(ms(empty.timestamp) - Date.now()) < 5000);

      const mk = async (u, room) => (await c.h.createAlert.mutate(alertInput(H, { urgencyLevel: u, roomNumber: room }))).alert;
      const a1 = await mk(1, '1');
      const a2 = await mk(2, '2');
      const a3 = await mk(3, '3');
      const a4 = await mk(5, '4');
      const a5 = await mk(2, '5');
      const acks = [];
      acks.push((await c.h.acknowledgeAlert.mutate({ alertId: a2.id })).alert);
      acks.push((await c.h.acknowledgeAlert.mutate({ alertId: a3.id })).alert);
      await c.h.resolveAlert.mutate({ alertId: a3.id, resolution: 'resolved for metrics' });
      acks.push((await c.h.acknowledgeAlert.mutate({ alertId: a5.id, urgencyAssessment: 'decrease' })).alert);
      await c.h.updateAlert.mutate({ alertId: a4.id, urgencyLevel: 2 });
      await c.h.triggerEscalation.mutate({ alertId: a1.id });

      const m = await c.h.getMetrics.query({ hospitalId: H });
      assertMetricsShape(m, sj);
      const mean = acks.reduce((s, a) => s + (ms(a.acknowledgedAt) - ms(a.createdAt)) / 1000, 0) / acks.length;
      assert.deepEqual(pick(m), {
        activeAlerts: 4, // a1, a2, a4, a5 (a3 resolved)
        criticalAlerts: 2, // active with urgency <= 2: a1 (1), a4 (updated to 2); a2 and a5 are acknowledged
        staffOnline: 0, // nobody subscribed
        responseRate: 0.6, // 3 of the 5 created in the last hour were acknowledged
        avgResponseTimeSec: Math.round(mean),
      });
      void a1;
    });

    test('subscribeToMetrics: first item at once, another after every change; no result.id', async () => {
      const H = newHospital();
      const T = team(H);
      const v = ctx.client({ token: T.viewer, superjson: sj });
      const t0 = Date.now();
      const s = collect(v.h.subscribeToMetrics, { hospitalId: H, interval: 60000 }, 'metrics');
      await s.count(1, 3000);
      assert.ok(Date.now() - t0 < 3000, 'the first item comes at once, not after the interval');
      assertMetricsShape(s.items[0], sj, 'first item');
      assert.equal(s.items[0].activeAlerts, 0);
      const c = ctx.client({ token: T.nurse, superjson: sj });
      const { alert } = await c.h.createAlert.mutate(alertInput(H, { urgencyLevel: 1 }));
      await s.until((it) => it.at(-1).activeAlerts === 1 && it.at(-1).criticalAlerts === 1, 'an item with the new alert');
      await c.h.acknowledgeAlert.mutate({ alertId: alert.id });
      await s.until((it) => it.at(-1).criticalAlerts === 0 && it.at(-1).responseRate === 1, 'an item after the acknowledgement');
      for (const it of s.items) assertMetricsShape(it, sj, 'item');

      const raw = await ctx.raw({ token: T.viewer });
      await raw.subscribe(1, 'healthcare.subscribeToMetrics', sj ? { json: { hospitalId: H, interval: 60000 } } : { hospitalId: H, interval: 60000 });
      const d = await raw.data(1);
      assert.ok(!('id' in d.result), `metrics items carry no result.id: ${JSON.stringify(d)}`);
      if (sj) assert.deepEqual(d.result.data.meta.values, { timestamp: ['Date'] });
    });
  });
}

describe('metrics details', () => {
  test('subscribeToMetrics sends one item every interval', async () => {
    const H = newHospital();
    const T = team(H);
    const v = ctx.client({ token: T.viewer });
    const s = collect(v.h.subscribeToMetrics, { hospitalId: H, interval: 1000 }, 'metrics 1s');
    await s.count(3, 4000);
    const gaps = s.items.slice(1).map((x, i) => ms(x.timestamp) - ms(s.items[i].timestamp));
    for (const g of gaps) assert.ok(g >= 500 && g <= 2000, `periodic items about 1 s apart: ${gaps}`);
  });

  test('without an interval, items follow the server\'s metrics.interval', async () => {
    const server = await startServer({ args: ['--metrics.interval=1s'] });
    try {
      const H = newHospital();
      const v = appClient({ port: server.port, token: team(H).viewer });
      try {
        const s = collect(v.h.subscribeToMetrics, { hospitalId: H }, 'metrics, server interval 1s');
        await s.count(3, 4000);
        const gaps = s.items.slice(1).map((x, i) => ms(x.timestamp) - ms(s.items[i].timestamp));
        for (const g of gaps) assert.ok(g >= 500 && g <= 2000, `periodic items about 1 s apart: ${gaps}`);
      } finally {
        await v.close();
      }
    } finally {
      await server.dispose();
    }
  });

  test('staffOnline counts distinct users with a live subscription to the hospital', async () => {
    const H = newHospital();
    const T = team(H);
    const observer = ctx.client({ token: T.viewer });
    const s = collect(observer.h.subscribeToMetrics, { hospitalId: H, interval: 60000 }, 'observer');
    const last = () => s.items.at(-1)?.staffOnline;
    await s.until(() => last() === 1, 'staffOnline 1 (the observer itself)');

    const x = ctx.client({ token: T.nurse });
    const xa = collect(x.h.subscribeToAlerts, { hospitalId: H }, 'x alerts');
    await xa.waitStarted();
    await s.until(() => last() === 2, 'staffOnline 2');
    const xm = collect(x.h.subscribeToMetrics, { hospitalId: H }, 'x metrics');
    await xm.count(1);
    assert.equal(xm.items[0].staffOnline, 2, 'the same user twice counts once');

    const other = mintToken({ sub: T.subs.nurse, role: 'nurse', hospitals: [H] });
    const x2 = ctx.client({ token: other });
    const x2s = collect(x2.h.subscribeToAlerts, { hospitalId: H }, 'x on a second connection');
    await x2s.waitStarted();

    const y = ctx.client({ token: T.doctor });
    const ya = collect(y.h.subscribeToAlerts, { hospitalId: H }, 'y alerts');
    await ya.waitStarted();
    await s.until(() => last() === 3, 'staffOnline 3');

    // a subscription to another hospital does not count here
    const H2 = newHospital();
    const z = ctx.client({ token: mintToken({ role: 'doctor', hospitals: [H2] }) });
    const za = collect(z.h.subscribeToAlerts, { hospitalId: H2 }, 'z alerts on H2');
    await za.waitStarted();

    xa.stop();
    xm.stop();
    await x2.close();
    await s.until(() => last() === 2, 'staffOnline 2 after x left (stop + connection close)');
    await y.close();
    await s.until(() => last() === 1, 'staffOnline 1 after y closed its connection');
    const m = await observer.h.getMetrics.query({ hospitalId: H });
    assert.equal(m.staffOnline, 1);
  });
});
