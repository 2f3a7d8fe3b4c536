// transferAlert (docs/api.md "Mutations", ownership in "Authorization and tenancy").

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, assertTimestamp, collect, ms, newHospital, rejectsTrpc } from './lib/clients.mjs';

describe('transferAlert', () => {
  const ctx = useServer();

  for (const sj of [true, false]) {
    test(`the acknowledger hands over; alert.updated carries the transfer (${sj ? 'superjson' : 'plain'})`, async () => {
      const H = newHospital();
      const T = team(H);
      const nurse = ctx.client({ token: T.nurse, superjson: sj });
      const s = collect(nurse.h.subscribeToAlerts, { hospitalId: H }, 'subscriber');
      await s.waitStarted();
      const { alert } = await nurse.h.createAlert.mutate(alertInput(H));
      const ack = await nurse.h.acknowledgeAlert.mutate({ alertId: alert.id });
      const r = await nurse.h.transferAlert.mutate({ alertId: alert.id, toUserId: 'u-doctor-2', reason: 'Shift handover' });
      assert.equal(r.success, true);
      assert.equal(r.transferredTo, 'u-doctor-2');
      assert.equal(r.alert.acknowledgedBy, 'u-doctor-2');
      assert.equal(r.alert.status, 'acknowledged');
      assert.equal(ms(r.alert.acknowledgedAt), ms(ack.alert.acknowledgedAt), 'acknowledgedAt is kept');
      await s.count(3);
      const e = s.items[2];
      assert.equal(e.type, 'alert.updated');
      assert.deepEqual(Object.keys(e.data).sort(), ['acknowledgedBy', 'reason', 'transferredFrom', 'updatedAt', 'updatedBy']);
      assert.equal(e.data.acknowledgedBy, 'u-doctor-2');
      assert.equal(e.data.transferredFrom, T.subs.nurse);
      assert.equal(e.data.reason, 'Shift handover');
      assert.equal(e.data.updatedBy, T.subs.nurse);
      assertTimestamp(e.data.updatedAt, sj, 'updatedAt');
    });
  }

  test('ownership: only the acknowledger, a head_doctor or an admin may transfer', async () => {
    const H = newHospital();
    const T = team(H);
    const nurse = ctx.client({ token: T.nurse });
    const doctor = ctx.client({ token: T.doctor });
    const { alert } = await nurse.h.createAlert.mutate(alertInput(H));
    await nurse.h.acknowledgeAlert.mutate({ alertId: alert.id });
    await rejectsTrpc(doctor.h.transferAlert.mutate({ alertId: alert.id, toUserId: 'u-x', reason: 'grab' }), {
      code: 'FORBIDDEN', httpStatus: 403, message: 'You can only transfer alerts you have acknowledged',
    });
    const head = ctx.client({ token: T.head_doctor });
    const r1 = await head.h.transferAlert.mutate({ alertId: alert.id, toUserId: T.subs.doctor, reason: 'reassign' });
    assert.equal(r1.alert.acknowledgedBy, T.subs.doctor);
    // now the doctor is the acknowledger and may pass it on
    const r2 = await doctor.h.transferAlert.mutate({ alertId: alert.id, toUserId: 'u-z', reason: 'again' });
    assert.equal(r2.transferredTo, 'u-z');
    const admin = ctx.client({ token: T.admin });
    await admin.h.transferAlert.mutate({ alertId: alert.id, toUserId: 'u-y', reason: 'admin' });
    for (const role of ['viewer', 'operator']) {
      await rejectsTrpc(ctx.client({ token: T[role] }).h.transferAlert.mutate({ alertId: alert.id, toUserId: 'u', reason: 'r' }), {
        code: 'FORBIDDEN', message: 'Access denied. Required permission: acknowledge_alerts',
      });
    }
    const other = ctx.client({ token: team(newHospital()).admin });
    await rejectsTrpc(other.h.transferAlert.mutate({ alertId: alert.id, toUserId: 'u', reason: 'r' }), {
      code: 'FORBIDDEN', message: 'Access denied to this hospital',
    });
  });

  test('only acknowledged alerts can be transferred', async () => {
    const H = newHospital();
    const T = team(H);
    const head = ctx.client({ token: T.head_doctor });
    const { alert } = await head.h.createAlert.mutate(alertInput(H));
    const conflict = { code: 'CONFLICT', httpStatus: 409, message: 'Only acknowledged alerts can be transferred' };
    await rejectsTrpc(head.h.transferAlert.mutate({ alertId: alert.id, toUserId: 'u', reason: 'r' }), conflict);
    await head.h.acknowledgeAlert.mutate({ alertId: alert.id });
    await head.h.resolveAlert.mutate({ alertId: alert.id, resolution: 'done and dusted' });
    await rejectsTrpc(head.h.transferAlert.mutate({ alertId: alert.id, toUserId: 'u', reason: 'r' }), conflict);
    await rejectsTrpc(head.h.transferAlert.mutate({ alertId: '0b7c6f0e-4f59-4a3e-9a53-2f6f1f0d9c11', toUserId: 'u', reason: 'r' }), {
      code: 'NOT_FOUND', message: 'Alert not found',
    });
  });

  test('input validation', async () => {
    const H = newHospital();
    const T = team(H);
    const head = ctx.client({ token: T.head_doctor });
    const { alert } = await head.h.createAlert.mutate(alertInput(H));
    const bad = [
      [{ alertId: 'x', toUserId: 'u', reason: 'r' }, ['alertId']],
      [{ alertId: alert.id, toUserId: '', reason: 'r' }, ['toUserId']],
      [{ alertId: alert.id, toUserId: 'u'.repeat(101), reason: 'r' }, ['toUserId']],
      [{ alertId: alert.id, toUserId: 'u', reason: '' }, ['reason']],
      [{ alertId: alert.id, toUserId: 'u', reason: 'r'.repeat(501) }, ['reason']],
      [{ alertId: alert.id }, ['toUserId', 'reason']],
    ];
    for (const [input, paths] of bad) {
      const e = await rejectsTrpc(head.h.transferAlert.mutate(input), { code: 'BAD_REQUEST' });
      for (const p of paths) assert.match(e.message, new RegExp(`(?:^Invalid input: |; )${p}: `), e.message);
    }
  });
});
