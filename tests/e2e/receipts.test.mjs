// Delivery receipts (docs/api.md "confirmDelivery"): a client confirms that alert events were
// shown to a person; getAlert and the timeline show who, with role and time; seenBy is published
// in a throttled alert.updated, never one event per receipt.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, collect, ms, newHospital, rejectsTrpc } from './lib/clients.mjs';

const ctx = useServer({ failsafe: 'on', args: ['--escalation.receipt-timeout=30s'] });

describe('confirmDelivery', () => {
  test('a receipt names the user, role, time and event; getAlert, the timeline and seenBy show it', async () => {
    const H = newHospital();
    const T = team(H);
    const nurse = ctx.client({ token: T.nurse });
    const s = collect(nurse.h.subscribeToAlerts, { hospitalId: H }, 'nurse');
    await s.waitStarted();
    const { alert } = await nurse.h.createAlert.mutate(alertInput(H));
    const [created] = await s.until((it) => it.some((e) => e.type === 'alert.created'), 'created');
    const before = Date.now();
    const r = await nurse.h.confirmDelivery.mutate({ hospitalId: H, eventIds: [created.id] });
    assert.deepEqual(r, { confirmed: 1, ignored: 0 });
    const got = await nurse.h.getAlert.query({ alertId: alert.id });
    assert.equal(got.receipts.length, 1);
    const [receipt] = got.receipts;
    assert.equal(receipt.userId, T.subs.nurse);
    assert.equal(receipt.role, 'nurse');
    assert.equal(receipt.eventId, created.id);
    assert.ok(Math.abs(ms(receipt.seenAt) - before) < 5000, 'seenAt is the server time of the receipt');
    assert.deepEqual(got.seenBy, { nurse: 1 });
    assert.equal(got.attendedTier, 1, 'the tier-1 role confirmed');
    // seenBy travels in one alert.updated.
    const updates = await s.until((it) => it.some((e) => e.type === 'alert.updated'), 'seenBy update');
    const upd = updates.find((e) => e.type === 'alert.updated');
    assert.deepEqual(upd.data.seenBy, { nurse: 1 });
    assert.equal(upd.data.updatedBy, 'system');
    const tl = await nurse.h.getAlertTimeline.query({ alertId: alert.id });
    assert.deepEqual(tl.alert.receipts, got.receipts);
    assert.deepEqual(tl.alert.seenBy, { nurse: 1 });
  });

  test('idempotent per user; unknown and foreign ids are ignored and counted', async () => {
    const H = newHospital();
    const other = newHospital();
    const T = team([H, other]);
    const c = ctx.client({ token: T.doctor });
    const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'doctor');
    const so = collect(c.h.subscribeToAlerts, { hospitalId: other }, 'other');
    await s.waitStarted();
    await so.waitStarted();
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    await c.h.createAlert.mutate(alertInput(other));
    const [created] = await s.until((it) => it.some((e) => e.type === 'alert.created'), 'created');
    const [foreign] = await so.until((it) => it.some((e) => e.type === 'alert.created'), 'other created');
    const [epoch] = created.id.split('-');
    const r = await c.h.confirmDelivery.mutate({
      hospitalId: H, eventIds: [created.id, foreign.id, `${epoch}-99999999`, 'zzzzzzzz-1'],
    });
    assert.deepEqual(r, { confirmed: 1, ignored: 3 });
    const first = (await c.h.getAlert.query({ alertId: alert.id })).receipts[0];
    const again = await c.h.confirmDelivery.mutate({ hospitalId: H, eventIds: [created.id] });
    assert.deepEqual(again, { confirmed: 1, ignored: 0 });
    const got = await c.h.getAlert.query({ alertId: alert.id });
    assert.deepEqual(got.receipts, [first], 'the first time is kept');
    const updates = s.items.filter((e) => e.type === 'alert.updated');
    assert.ok(updates.length <= 1, `no event per receipt (got ${updates.length})`);
  });

  test('validation and tenancy like other calls', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.viewer });
    await rejectsTrpc(c.h.confirmDelivery.mutate({ hospitalId: H, eventIds: [] }),
      { code: 'BAD_REQUEST', message: 'Invalid input: eventIds: Array must contain at least 1 element(s)' });
    await rejectsTrpc(c.h.confirmDelivery.mutate({ hospitalId: H, eventIds: ['nope'] }),
      { code: 'BAD_REQUEST', message: 'Invalid input: eventIds.0: Invalid event id' });
    await rejectsTrpc(c.h.confirmDelivery.mutate({ hospitalId: H, eventIds: Array(101).fill('abcdefgh-1') }),
      { code: 'BAD_REQUEST', message: 'Invalid input: eventIds: Array must contain at most 100 element(s)' });
    await rejectsTrpc(c.h.confirmDelivery.mutate({ hospitalId: newHospital(), eventIds: ['abcdefgh-1'] }),
      { code: 'FORBIDDEN', message: 'Access denied to this hospital' });
  });
});
