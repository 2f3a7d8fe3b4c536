// Input validation (docs/api.md): every invalid field of every in-scope input gets
// BAD_REQUEST `Invalid input: <path>: <reason>; …` naming each offending field, and changes nothing.

import assert from 'node:assert/strict';
import { describe, test, before } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import {
  alertInput, assertErrorFrame, assertHttpError, collect, enc, newHospital, rejectsTrpc,
} from './lib/clients.mjs';

const ctx = useServer();

const UNKNOWN_UUID = '0b7c6f0e-4f59-4a3e-9a53-2f6f1f0d9c11';
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Asserts a BAD_REQUEST message of the documented form that names every path in `paths`. */
function assertNames(message, paths, ctxText) {
  assert.ok(message.startsWith('Invalid input: '), `message should start with "Invalid input: ": ${JSON.stringify(message)} (${ctxText})`);
  for (const p of paths) {
    assert.match(message, new RegExp(`(?:^Invalid input: |; )${esc(p)}: `), `message should name ${p}: ${JSON.stringify(message)} (${ctxText})`);
  }
}

async function expectBad(promise, paths, label) {
  const err = await rejectsTrpc(promise, { code: 'BAD_REQUEST', httpStatus: 400 });
  assertNames(err.message, paths, label);
  return err;
}

const long = (n) => 'x'.repeat(n);

/** [label, input, expected paths] for each procedure; `A` is a valid alert id. */
function cases(H, A) {
  const create = (over) => {
    const v = { ...alertInput(H), ...over };
    for (const k of Object.keys(v)) if (v[k] === undefined) delete v[k];
    return v;
  };
  return {
    createAlert: {
      type: 'mutation',
      bad: [
        ['hospitalId missing', create({ hospitalId: undefined }), ['hospitalId']],
        ['hospitalId empty', create({ hospitalId: '' }), ['hospitalId']],
        ['hospitalId 65 chars', create({ hospitalId: long(65) }), ['hospitalId']],
        ['hospitalId with space', create({ hospitalId: 'bad id' }), ['hospitalId']],
        ['hospitalId with slash', create({ hospitalId: 'a/b' }), ['hospitalId']],
        ['hospitalId number', create({ hospitalId: 42 }), ['hospitalId']],
        ['roomNumber missing', create({ roomNumber: undefined }), ['roomNumber']],
        ['roomNumber empty', create({ roomNumber: '' }), ['roomNumber']],
        ['roomNumber suffix too long', create({ roomNumber: 'ICU-1234' }), ['roomNumber']],
        ['roomNumber prefix too long', create({ roomNumber: 'ICUAB-1' }), ['roomNumber']],
        ['roomNumber underscore', create({ roomNumber: 'A_1' }), ['roomNumber']],
        ['roomNumber space', create({ roomNumber: 'ICU 1' }), ['roomNumber']],
        ['roomNumber dangling dash', create({ roomNumber: 'ICU-' }), ['roomNumber']],
        ['roomNumber number', create({ roomNumber: 7 }), ['roomNumber']],
        ['alertType missing', create({ alertType: undefined }), ['alertType']],
        ['alertType unknown', create({ alertType: 'earthquake' }), ['alertType']],
        ['alertType wrong case', create({ alertType: 'CARDIAC_ARREST' }), ['alertType']],
        ['urgencyLevel missing', create({ urgencyLevel: undefined }), ['urgencyLevel']],
        ['urgencyLevel 0', create({ urgencyLevel: 0 }), ['urgencyLevel']],
        ['urgencyLevel 6', create({ urgencyLevel: 6 }), ['urgencyLevel']],
        ['urgencyLevel -1', create({ urgencyLevel: -1 }), ['urgencyLevel']],
        ['urgencyLevel 2.5', create({ urgencyLevel: 2.5 }), ['urgencyLevel']],
        ['urgencyLevel string', create({ urgencyLevel: '1' }), ['urgencyLevel']],
        ['urgencyLevel null', create({ urgencyLevel: null }), ['urgencyLevel']],
        ['description 501 chars', create({ description: long(501) }), ['description']],
        ['description number', create({ description: 5 }), ['description']],
        ['targetDepartment empty', create({ targetDepartment: '' }), ['targetDepartment']],
        ['targetDepartment 65 chars', create({ targetDepartment: long(65) }), ['targetDepartment']],
        ['patientId empty', create({ patientId: '' }), ['patientId']],
        ['patientId 65 chars', create({ patientId: long(65) }), ['patientId']],
        ['idempotencyKey empty', create({ idempotencyKey: '' }), ['idempotencyKey']],
        ['idempotencyKey 101 chars', create({ idempotencyKey: long(101) }), ['idempotencyKey']],
        ['several at once', create({ urgencyLevel: 0, alertType: 'x', roomNumber: '' }), ['urgencyLevel', 'alertType', 'roomNumber']],
        ['everything missing', {}, ['hospitalId', 'roomNumber', 'alertType', 'urgencyLevel']],
      ],
    },
    acknowledgeAlert: {
      type: 'mutation',
      bad: [
        ['alertId missing', {}, ['alertId']],
        ['alertId not a uuid', { alertId: 'not-a-uuid' }, ['alertId']],
        ['alertId without dashes', { alertId: A.replace(/-/g, '') }, ['alertId']],
        ['alertId too long', { alertId: `${A}0` }, ['alertId']],
        ['alertId number', { alertId: 42 }, ['alertId']],
        ['notes empty', { alertId: A, notes: '' }, ['notes']],
        ['notes 501 chars', { alertId: A, notes: long(501) }, ['notes']],
        ['urgencyAssessment unknown', { alertId: A, urgencyAssessment: 'big' }, ['urgencyAssessment']],
        ['responseAction unknown', { alertId: A, responseAction: 'running' }, ['responseAction']],
        ['estimatedResponseTime 0', { alertId: A, estimatedResponseTime: 0 }, ['estimatedResponseTime']],
        ['estimatedResponseTime 1000', { alertId: A, estimatedResponseTime: 1000 }, ['estimatedResponseTime']],
        ['estimatedResponseTime string', { alertId: A, estimatedResponseTime: '5' }, ['estimatedResponseTime']],
        ['delegateTo empty', { alertId: A, delegateTo: '' }, ['delegateTo']],
        ['delegateTo 101 chars', { alertId: A, delegateTo: long(101) }, ['delegateTo']],
        ['delegating without delegateTo', { alertId: A, responseAction: 'delegating' }, ['delegateTo']],
        ['several at once', { alertId: A, notes: '', urgencyAssessment: 'x', estimatedResponseTime: 0 }, ['notes', 'urgencyAssessment', 'estimatedResponseTime']],
      ],
    },
    resolveAlert: {
      type: 'mutation',
      bad: [
        ['resolution missing', { alertId: A }, ['resolution']],
        ['resolution 9 chars', { alertId: A, resolution: long(9) }, ['resolution']],
        ['resolution 1001 chars', { alertId: A, resolution: long(1001) }, ['resolution']],
        ['resolution number', { alertId: A, resolution: 1234567890 }, ['resolution']],
        ['alertId bad', { alertId: 'x', resolution: 'long enough text' }, ['alertId']],
        ['both', { alertId: 'x', resolution: '' }, ['alertId', 'resolution']],
      ],
    },
    triggerEscalation: {
      type: 'mutation',
      bad: [
        ['alertId missing', {}, ['alertId']],
        ['alertId bad', { alertId: 'abc' }, ['alertId']],
        ['reason 501 chars', { alertId: A, reason: long(501) }, ['reason']],
        ['reason number', { alertId: A, reason: 5 }, ['reason']],
      ],
    },
    updateAlert: {
      type: 'mutation',
      bad: [
        ['alertId bad', { alertId: 'abc', description: 'x' }, ['alertId']],
        ['description 501 chars', { alertId: A, description: long(501) }, ['description']],
        ['urgencyLevel 0', { alertId: A, urgencyLevel: 0 }, ['urgencyLevel']],
        ['urgencyLevel 6', { alertId: A, urgencyLevel: 6 }, ['urgencyLevel']],
        ['urgencyLevel string', { alertId: A, urgencyLevel: 'high' }, ['urgencyLevel']],
        ['both bad', { alertId: A, description: long(501), urgencyLevel: 9 }, ['description', 'urgencyLevel']],
        ['neither field given', { alertId: A }, []],
      ],
    },
    getActiveAlerts: {
      type: 'query',
      bad: [
        ['hospitalId missing', {}, ['hospitalId']],
        ['hospitalId bad', { hospitalId: 'no spaces allowed' }, ['hospitalId']],
        ['status unknown', { hospitalId: H, status: 'open' }, ['status']],
        ['urgencyLevel 0', { hospitalId: H, urgencyLevel: 0 }, ['urgencyLevel']],
        ['urgencyLevel 6', { hospitalId: H, urgencyLevel: 6 }, ['urgencyLevel']],
        ['alertType unknown', { hospitalId: H, alertType: 'flood' }, ['alertType']],
        ['sortBy unknown', { hospitalId: H, sortBy: 'roomNumber' }, ['sortBy']],
        ['sortOrder unknown', { hospitalId: H, sortOrder: 'up' }, ['sortOrder']],
        ['limit 0', { hospitalId: H, limit: 0 }, ['limit']],
        ['limit 101', { hospitalId: H, limit: 101 }, ['limit']],
        ['limit 1.5', { hospitalId: H, limit: 1.5 }, ['limit']],
        ['limit string', { hospitalId: H, limit: '5' }, ['limit']],
        ['offset -1', { hospitalId: H, offset: -1 }, ['offset']],
        ['offset 1.5', { hospitalId: H, offset: 1.5 }, ['offset']],
        ['cursor number', { hospitalId: H, cursor: 42 }, ['cursor']],
        ['several at once', { hospitalId: H, status: 'x', limit: 0, sortOrder: 'x' }, ['status', 'limit', 'sortOrder']],
      ],
    },
    getAlert: {
      type: 'query',
      bad: [
        ['alertId missing', {}, ['alertId']],
        ['alertId bad', { alertId: 'g0000000-0000-4000-8000-000000000000' }, ['alertId']],
      ],
    },
    getMetrics: {
      type: 'query',
      bad: [
        ['hospitalId missing', {}, ['hospitalId']],
        ['hospitalId 65 chars', { hospitalId: long(65) }, ['hospitalId']],
      ],
    },
  };
}

/** [label, input, paths] for the two subscriptions. */
function subCases(H) {
  return {
    subscribeToAlerts: [
      ['hospitalId missing', {}, ['hospitalId']],
      ['lastEventId 201 chars', { hospitalId: H, lastEventId: long(201) }, ['lastEventId']],
      ['filter not an object', { hospitalId: H, filter: 'x' }, ['filter']],
      ['filter.types empty', { hospitalId: H, filter: { types: [] } }, ['filter.types']],
      ['filter.types unknown', { hospitalId: H, filter: { types: ['alert.created', 'alert.nope'] } }, ['filter.types.1']],
      ['filter.maxUrgencyLevel 0', { hospitalId: H, filter: { maxUrgencyLevel: 0 } }, ['filter.maxUrgencyLevel']],
      ['filter.maxUrgencyLevel 6', { hospitalId: H, filter: { maxUrgencyLevel: 6 } }, ['filter.maxUrgencyLevel']],
      ['filter.maxUrgencyLevel 1.5', { hospitalId: H, filter: { maxUrgencyLevel: 1.5 } }, ['filter.maxUrgencyLevel']],
      ['filter.alertTypes empty', { hospitalId: H, filter: { alertTypes: [] } }, ['filter.alertTypes']],
      ['filter.alertTypes unknown', { hospitalId: H, filter: { alertTypes: ['x'] } }, ['filter.alertTypes.0']],
      ['several at once', { hospitalId: H, filter: { types: ['nope'], maxUrgencyLevel: 9 } }, ['filter.types.0', 'filter.maxUrgencyLevel']],
    ],
    subscribeToMetrics: [
      ['hospitalId missing', {}, ['hospitalId']],
      ['interval 999', { hospitalId: H, interval: 999 }, ['interval']],
      ['interval 60001', { hospitalId: H, interval: 60001 }, ['interval']],
      ['interval 1500.5', { hospitalId: H, interval: 1500.5 }, ['interval']],
      ['interval string', { hospitalId: H, interval: '5000' }, ['interval']],
    ],
  };
}

for (const sj of [true, false]) {
  const mode = sj ? 'superjson' : 'plain JSON';
  describe(`validation (${mode}, app client over HTTP)`, () => {
    let H, T, A, c;
    before(async () => {
      H = newHospital();
      T = team(H);
      const admin = ctx.client({ token: T.admin, superjson: sj });
      A = (await admin.h.createAlert.mutate(alertInput(H))).alert.id;
    });

    for (const [proc, spec] of Object.entries(cases('H', 'A'))) {
      test(`${proc}: each invalid field -> BAD_REQUEST naming it`, async () => {
        c = ctx.client({ token: T.admin, superjson: sj });
        const real = cases(H, A)[proc];
        for (const [label, input, paths] of real.bad) {
          const call = spec.type === 'query' ? c.h[proc].query(input) : c.h[proc].mutate(input);
          await expectBad(call, paths, `${proc}: ${label}`);
        }
        // no input at all -> path "input"
        const none = spec.type === 'query' ? c.h[proc].query() : c.h[proc].mutate();
        await expectBad(none, ['input'], `${proc}: no input`);
        // a non-object input
        const str = spec.type === 'query' ? c.h[proc].query('just a string') : c.h[proc].mutate('just a string');
        await rejectsTrpc(str, { code: 'BAD_REQUEST' });
      });
    }

    test('failed validation changed nothing and the alert is still active at tier 1', async () => {
      c = ctx.client({ token: T.admin, superjson: sj });
      const a = await c.h.getAlert.query({ alertId: A });
      assert.equal(a.status, 'active');
      assert.equal(a.escalationLevel, 1);
      assert.equal(a.description, alertInput(H).description);
      const list = await c.h.getActiveAlerts.query({ hospitalId: H, status: 'all' });
      assert.equal(list.total, 1, 'no alert was created by an invalid createAlert');
    });

    for (const [proc, list] of Object.entries(subCases('H'))) {
      test(`${proc}: invalid input -> onError BAD_REQUEST before started`, async () => {
        c = ctx.client({ token: T.viewer, superjson: sj });
        for (const [label, input, paths] of subCases(H)[proc]) {
          const s = collect(c.h[proc], input, `${proc}: ${label}`);
          const err = await s.waitError();
          assert.equal(err.data?.code, 'BAD_REQUEST', `${label}: ${err.message}`);
          assertNames(err.message, paths, `${proc}: ${label}`);
          assert.equal(s.startedCount, 0, `${label}: no started`);
        }
        void list;
      });
    }
  });
}

describe('validation details', () => {
  test('boundary values that are valid are accepted', async () => {
    const H = 'A-z_0.9:' + 'x'.repeat(56); // 64 chars, every allowed character class
    assert.equal(H.length, 64);
    const T = team(H);
    const c = ctx.client({ token: T.admin });
    const r1 = await c.h.createAlert.mutate({
      hospitalId: H, roomNumber: 'icu-1', alertType: 'medical_emergency', urgencyLevel: 5,
      description: long(500), targetDepartment: long(64), patientId: long(64), idempotencyKey: long(100),
      unknownKey: 'ignored', timeRange: '24h',
    });
    assert.equal(r1.alert.urgencyLevel, 5);
    assert.equal(r1.alert.description.length, 500);
    const r2 = await c.h.createAlert.mutate({ hospitalId: H, roomNumber: 'ABCD-123', alertType: 'fire', urgencyLevel: 1 });
    assert.equal(r2.alert.description, null, 'absent description is null');
    assert.equal(r2.alert.targetDepartment, null);
    assert.equal(r2.alert.patientId, null);
    for (const t of ['cardiac_arrest', 'code_blue', 'fire', 'security', 'medical_emergency']) {
      await c.h.createAlert.mutate({ hospitalId: H, roomNumber: '1', alertType: t, urgencyLevel: 3 });
    }
    const a1 = await c.h.acknowledgeAlert.mutate({
      alertId: r1.alert.id, notes: long(500), estimatedResponseTime: 1.5, responseAction: 'delegating', delegateTo: long(100),
      urgencyAssessment: 'decrease',
    });
    assert.equal(a1.alert.urgencyLevel, 5, 'decrease stops at 5');
    const a2 = await c.h.acknowledgeAlert.mutate({ alertId: r2.alert.id, estimatedResponseTime: 999, urgencyAssessment: 'increase' });
    assert.equal(a2.alert.urgencyLevel, 1, 'increase stops at 1');
    await c.h.resolveAlert.mutate({ alertId: r1.alert.id, resolution: long(10) });
    await c.h.resolveAlert.mutate({ alertId: r2.alert.id, resolution: long(1000) });
    const m = await c.h.getMetrics.query({ hospitalId: H, timeRange: '24h', department: 'icu' });
    assert.equal(m.activeAlerts, 5, 'getMetrics ignores timeRange and department');
    const l = await c.h.getActiveAlerts.query({ hospitalId: H, limit: 100, offset: 0, direction: 'forward', cursor: undefined });
    assert.equal(l.total, 5, 'unknown keys (direction) are ignored');
    const l1 = await c.h.getActiveAlerts.query({ hospitalId: H, limit: 1 });
    assert.equal(l1.alerts.length, 1);
    const s = collect(c.h.subscribeToMetrics, { hospitalId: H, interval: 1000 }, 'interval 1000');
    await s.count(1);
    const s2 = collect(c.h.subscribeToMetrics, { hospitalId: H, interval: 60000 }, 'interval 60000');
    await s2.count(1);
    const s3 = collect(c.h.subscribeToAlerts, { hospitalId: H, lastEventId: long(200) }, 'lastEventId 200 chars');
    await s3.waitStarted();
  });

  test('an unreadable getActiveAlerts cursor -> BAD_REQUEST', async () => {
    const H = newHospital();
    const c = ctx.client({ token: team(H).viewer });
    await rejectsTrpc(c.h.getActiveAlerts.query({ hospitalId: H, cursor: '%%%not-a-cursor%%%' }), { code: 'BAD_REQUEST' });
  });

  test('the acknowledge modal input (superjson "undefined" annotations) counts those keys as absent', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const { alert } = await c.h.createAlert.mutate(alertInput(H, { urgencyLevel: 3 }));
    const body = {
      0: {
        json: { alertId: alert.id, urgencyAssessment: 'increase', responseAction: 'monitoring', estimatedResponseTime: null, delegateTo: null, notes: null },
        meta: { values: { estimatedResponseTime: ['undefined'], delegateTo: ['undefined'], notes: ['undefined'] } },
      },
    };
    const r = await ctx.http('/api/trpc/healthcare.acknowledgeAlert?batch=1', {
      method: 'POST', token: T.nurse, body, headers: { 'content-type': 'application/json, application/json' },
    });
    assert.equal(r.status, 200, r.text);
    const out = r.json[0].result.data.json;
    assert.equal(out.success, true);
    assert.equal(out.alert.urgencyLevel, 2);
    assert.equal(out.alert.acknowledgementNotes, null);
    assert.deepEqual(r.json[0].result.data.meta.values['alert.acknowledgedAt'], ['Date'], r.text);
  });

  test('superjson annotations other than undefined/Date -> BAD_REQUEST naming the path', async () => {
    const H = newHospital();
    const T = team(H);
    const inputs = [
      ['number', { urgencyLevel: 'NaN' }, 'urgencyLevel', ['number']],
      ['bigint', { urgencyLevel: '1' }, 'urgencyLevel', ['bigint']],
      ['set', { description: [] }, 'description', ['set']],
      ['map', { description: [] }, 'description', ['map']],
      ['regexp', { description: '/a/' }, 'description', ['regexp']],
      ['URL', { description: 'http://x/' }, 'description', ['URL']],
    ];
    for (const [label, over, path, ann] of inputs) {
      const body = { 0: { json: { ...alertInput(H), ...over }, meta: { values: { [path]: ann } } } };
      const r = await ctx.http('/api/trpc/healthcare.createAlert?batch=1', { method: 'POST', token: T.nurse, body, headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 400, `${label}: ${r.text}`);
      const e = assertHttpError(r.json[0], { code: 'BAD_REQUEST' });
      assert.ok(r.json[0].error.json, `${label}: superjson request gets a superjson error: ${r.text}`);
      assert.ok(e.message.includes(path), `${label}: message should name ${path}: ${e.message}`);
    }
    // root undefined -> no input -> path "input"
    const body = { 0: { json: null, meta: { values: ['undefined'] } } };
    const r = await ctx.http('/api/trpc/healthcare.createAlert?batch=1', { method: 'POST', token: T.nurse, body, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400, r.text);
    const e = assertHttpError(r.json[0], { code: 'BAD_REQUEST' });
    assertNames(e.message, ['input'], 'root undefined');
    const list = await ctx.client({ token: T.nurse }).h.getActiveAlerts.query({ hospitalId: H, status: 'all' });
    assert.equal(list.total, 0, 'nothing was created');
  });

  test('superjson Date annotation is accepted where a timestamp is expected (getActiveAlerts cursor)', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    // the original's cursor form: an ISO timestamp; desc: alerts created at or before it
    const later = new Date(alert.createdAt.getTime() + 1000);
    const page = await c.h.getActiveAlerts.query({ hospitalId: H, cursor: later });
    assert.deepEqual(page.alerts.map((a) => a.id), [alert.id]);
    const earlier = new Date(alert.createdAt.getTime() - 1000);
    const none = await c.h.getActiveAlerts.query({ hospitalId: H, cursor: earlier });
    assert.equal(none.alerts.length, 0);
  });

  test('validation errors over a raw WebSocket: per call, connection stays usable', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.admin });
    const r = await raw.call(1, 'mutation', 'healthcare.createAlert', { hospitalId: H, roomNumber: '', alertType: 'x', urgencyLevel: 0 });
    const e = assertErrorFrame(r, { id: 1, code: 'BAD_REQUEST', jsonCode: -32600, httpStatus: 400, path: 'healthcare.createAlert' });
    assertNames(e.message, ['roomNumber', 'alertType', 'urgencyLevel'], 'ws createAlert');
    const none = await raw.call(2, 'mutation', 'healthcare.createAlert');
    assertNames(assertErrorFrame(none, { id: 2, code: 'BAD_REQUEST' }).message, ['input'], 'ws no input');
    raw.send({ id: 3, method: 'subscription', params: { path: 'healthcare.subscribeToAlerts', input: { hospitalId: H, filter: { types: ['x'] } } } });
    const s = await raw.reply(3);
    assertNames(assertErrorFrame(s, { id: 3, code: 'BAD_REQUEST' }).message, ['filter.types.0'], 'ws subscribe');
    const ok = await raw.call(4, 'mutation', 'healthcare.createAlert', alertInput(H));
    assert.equal(ok.result.data.success, true, JSON.stringify(ok));
    // superjson request over WS gets a superjson error
    const sjErr = await raw.call(5, 'query', 'healthcare.getAlert', { json: { alertId: 'nope' } });
    assert.ok(sjErr.error.json, `superjson error envelope expected: ${JSON.stringify(sjErr)}`);
    assertNames(sjErr.error.json.message, ['alertId'], 'ws superjson getAlert');
  });

  test('HTTP batch: "input" that is not an object', async () => {
    const H = newHospital();
    const T = team(H);
    const r = await ctx.http(`/api/trpc/healthcare.getMetrics?batch=1&input=${enc([1])}`, { token: T.viewer });
    assert.equal(r.status, 400, r.text);
    const body = Array.isArray(r.json) ? r.json[0] : r.json;
    assertHttpError(body, { code: 'BAD_REQUEST', message: '"input" needs to be an object when doing a batch call' });
  });
});
