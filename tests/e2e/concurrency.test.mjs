// Atomic transitions (docs/api.md "Alert state machine"): N concurrent acks, exactly one succeeds.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, assertErrorFrame, assertIdsIncrease, assertTrpcError, collect, newHospital } from './lib/clients.mjs';
import { mintToken } from './lib/tokens.mjs';

const ctx = useServer();
const N = 20;

describe('concurrent acknowledgements', () => {
  test(`${N} app clients (HTTP) acknowledge one alert at once: 1 succeeds, ${N - 1} get CONFLICT`, async () => {
    const H = newHospital();
    const T = team(H);
    const watcher = ctx.client({ token: T.viewer });
    const s = collect(watcher.h.subscribeToAlerts, { hospitalId: H }, 'watcher');
    await s.waitStarted();
    const { alert } = await ctx.client({ token: T.nurse }).h.createAlert.mutate(alertInput(H));
    const clients = Array.from({ length: N }, (_, i) => ctx.client({ token: mintToken({ sub: `u-nurse-${i}`, role: 'nurse', hospitals: [H] }) }));
    const results = await Promise.allSettled(clients.map((c) => c.h.acknowledgeAlert.mutate({ alertId: alert.id, notes: 'me' })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r) => r.status === 'rejected');
    assert.equal(ok.length, 1, `exactly one success: ${JSON.stringify(results.map((r) => r.status))}`);
    assert.equal(failed.length, N - 1);
    for (const f of failed) assertTrpcError(f.reason, { code: 'CONFLICT', httpStatus: 409, message: 'Alert is not active' });
    const winner = ok[0].value.alert.acknowledgedBy;
    const final = await watcher.h.getAlert.query({ alertId: alert.id });
    assert.equal(final.acknowledgedBy, winner);
    assert.equal(final.status, 'acknowledged');
    // barrier, then exactly one acknowledged event
    const { alert: b } = await ctx.client({ token: T.nurse }).h.createAlert.mutate(alertInput(H, { roomNumber: '9' }));
    await s.until((it) => it.some((e) => e.alertId === b.id), 'barrier event');
    assert.deepEqual(s.items.map((e) => e.type), ['alert.created', 'alert.acknowledged', 'alert.created']);
    assert.equal(s.items[1].data.acknowledgedBy, winner);
  });

  test(`${N} raw WebSockets acknowledge one alert at once: 1 succeeds, ${N - 1} get CONFLICT`, async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    const sockets = await Promise.all(Array.from({ length: N }, (_, i) =>
      ctx.raw({ token: mintToken({ sub: `u-doc-${i}`, role: 'doctor', hospitals: [H] }), label: `ws${i}` })));
    // make sure every connection is authenticated and ready before firing
    await Promise.all(sockets.map((r) => r.ping()));
    for (const r of sockets) r.send({ id: 1, method: 'mutation', params: { path: 'healthcare.acknowledgeAlert', input: { alertId: alert.id } } });
    const replies = await Promise.all(sockets.map((r) => r.reply(1)));
    const ok = replies.filter((r) => r.result);
    assert.equal(ok.length, 1, `exactly one success: ${JSON.stringify(replies.map((r) => (r.result ? 'ok' : r.error.data.code)))}`);
    for (const r of replies.filter((x) => x.error)) {
      assertErrorFrame(r, { id: 1, code: 'CONFLICT', jsonCode: -32009, httpStatus: 409, message: 'Alert is not active', path: 'healthcare.acknowledgeAlert' });
    }
  });

  test('concurrent creates on many hospitals: every subscriber sees its own events in commit order', async () => {
    const hs = Array.from({ length: 5 }, () => newHospital());
    const tok = mintToken({ role: 'nurse', hospitals: hs });
    const c = ctx.client({ token: tok });
    const subs = hs.map((H) => collect(c.h.subscribeToAlerts, { hospitalId: H }, H.slice(0, 10)));
    const subs2 = hs.map((H) => collect(ctx.client({ token: tok }).h.subscribeToAlerts, { hospitalId: H }, `${H.slice(0, 10)} #2`));
    await Promise.all([...subs, ...subs2].map((s) => s.waitStarted()));
    const per = 8;
    const made = await Promise.all(hs.flatMap((H) => Array.from({ length: per }, (_, i) =>
      c.h.createAlert.mutate(alertInput(H, { roomNumber: String(i + 1) })).then((r) => r.alert))));
    await Promise.all([...subs, ...subs2].map((s) => s.count(per)));
    hs.forEach((H, i) => {
      const mine = new Set(made.filter((a) => a.hospitalId === H).map((a) => a.id));
      assert.deepEqual(new Set(subs[i].items.map((e) => e.alertId)), mine);
      assertIdsIncrease(subs[i].items.map((e) => e.id), `stream of ${H}`);
      assert.deepEqual(subs2[i].items.map((e) => e.id), subs[i].items.map((e) => e.id), 'the same order for every subscriber of a hospital');
    });
    const all = subs.flatMap((s) => s.items.map((e) => e.id));
    assert.equal(new Set(all).size, all.length, 'event ids are unique across hospitals');
  });
});
