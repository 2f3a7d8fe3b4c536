// subscribeToAlert and subscribeToPresence (docs/api.md "Subscriptions").

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, assertErrorFrame, assertTimestamp, collect, ms, newHospital } from './lib/clients.mjs';
import { mintToken } from './lib/tokens.mjs';

describe('subscribeToAlert and subscribeToPresence', () => {
  const ctx = useServer();

  test('subscribeToAlert: only that alert, result.id on every frame, open after resolve, replay by lastEventId', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.head_doctor });
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    const { alert: other } = await c.h.createAlert.mutate(alertInput(H, { roomNumber: '2' }));
    const raw = await ctx.raw({ token: T.viewer });
    await raw.subscribe(1, 'healthcare.subscribeToAlert', { alertId: alert.id });
    await c.h.acknowledgeAlert.mutate({ alertId: other.id });
    await c.h.acknowledgeAlert.mutate({ alertId: alert.id });
    await c.h.resolveAlert.mutate({ alertId: alert.id, resolution: 'resolved for the stream' });
    const frames = await raw.dataN(1, 2);
    assert.deepEqual(frames.map((f) => f.result.data.type), ['alert.acknowledged', 'alert.resolved']);
    for (const f of frames) {
      assert.equal(f.result.id, f.result.data.id);
      assert.equal(f.result.data.alertId, alert.id);
    }
    const barrier = await raw.call(2, 'query', 'healthcare.getMetrics', { hospitalId: H });
    assert.ok(barrier.result);
    assert.equal(raw.pending((m) => m.json?.id === 1).length, 0, 'no stopped after resolve; nothing of the other alert');
    // replay: everything of this alert after its created event
    const app = ctx.client({ token: T.viewer });
    const all = collect(app.h.subscribeToAlerts, { hospitalId: H, lastEventId: `${frames[0].result.id.split('-')[0]}-0` }, 'all');
    await all.count(5);
    const createdId = all.items.find((e) => e.alertId === alert.id && e.type === 'alert.created').id;
    await raw.subscribe(3, 'healthcare.subscribeToAlert', { alertId: alert.id }, { lastEventId: createdId });
    assert.deepEqual((await raw.dataN(3, 2)).map((f) => f.result.id), frames.map((f) => f.result.id));
  });

  test('subscribeToAlert: NOT_FOUND and FORBIDDEN before started', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    const raw = await ctx.raw({ token: team(newHospital()).admin });
    raw.send({ id: 1, method: 'subscription', params: { path: 'healthcare.subscribeToAlert', input: { alertId: alert.id } } });
    assertErrorFrame(await raw.reply(1), { id: 1, code: 'FORBIDDEN', message: 'Access denied to this hospital' });
    raw.send({ id: 2, method: 'subscription', params: { path: 'healthcare.subscribeToAlert', input: { alertId: '0b7c6f0e-4f59-4a3e-9a53-2f6f1f0d9c11' } } });
    assertErrorFrame(await raw.reply(2), { id: 2, code: 'NOT_FOUND', message: 'Alert not found' });
    raw.send({ id: 3, method: 'subscription', params: { path: 'healthcare.subscribeToAlert', input: { alertId: 'x' } } });
    assertErrorFrame(await raw.reply(3), { id: 3, code: 'BAD_REQUEST' });
  });

  for (const sj of [true, false]) {
    test(`subscribeToPresence: first item at once, then on every change (${sj ? 'superjson' : 'plain'})`, async () => {
      const H = newHospital();
      const T = team(H);
      const ann = mintToken({ sub: 'u-ann', name: 'Ann Lee', role: 'nurse', hospitals: [H] });
      const c = ctx.client({ token: ann, superjson: sj });
      const p = collect(c.h.subscribeToPresence, { hospitalId: H }, 'presence');
      await p.until((it) => it.at(-1)?.count === 1, 'count 1');
      const first = p.items.at(-1);
      assert.deepEqual(Object.keys(first).sort(), ['count', 'hospitalId', 'online', 'timestamp']);
      assert.equal(first.hospitalId, H);
      assert.equal(first.online.length, 1);
      assert.equal(first.online[0].userId, 'u-ann');
      assert.equal(first.online[0].name, 'Ann Lee');
      assert.equal(first.online[0].role, 'nurse');
      assertTimestamp(first.online[0].since, sj, 'since');
      assertTimestamp(first.timestamp, sj, 'timestamp');
      const anon = mintToken({ sub: 'u-doc', role: 'doctor', hospitals: [H] });
      const d = ctx.client({ token: anon, superjson: sj });
      const ds = collect(d.h.subscribeToAlerts, { hospitalId: H }, 'doctor alerts');
      await ds.waitStarted();
      await p.until((it) => it.at(-1)?.count === 2, 'count 2');
      const two = p.items.at(-1);
      assert.deepEqual(two.online.map((u) => u.userId), ['u-ann', 'u-doc'], 'oldest since first');
      assert.equal(two.online[1].name, null, 'no name claim -> null');
      assert.ok(ms(two.online[0].since) <= ms(two.online[1].since));
      await d.close();
      await p.until((it) => it.at(-1)?.count === 1, 'count back to 1');
      const m = await c.h.getMetrics.query({ hospitalId: H });
      assert.equal(m.staffOnline, 1, 'staffOnline = presence count');
      void T;
    });
  }
});
