// Authentication, authorization and tenancy, order of checks (docs/api.md, those sections).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team, ROLES } from './lib/fixture.mjs';
import {
  alertInput, assertErrorFrame, assertHttpError, collect, enc, newHospital, rejectsTrpc,
} from './lib/clients.mjs';
import {
  algNoneToken, badSignatureToken, claims, expiredToken, mintToken, signJwt, tokenWithClaims,
} from './lib/tokens.mjs';

const ctx = useServer();
const SLOW = process.env.VIGIL_E2E_SLOW === '1';
const now = () => Math.floor(Date.now() / 1000);

const unauth = (message, path) => ({ code: 'UNAUTHORIZED', jsonCode: -32001, httpStatus: 401, message, path });

/** Tokens that must be refused, with the message the server must give. */
function badTokens(H) {
  const base = { hospitals: [H], role: 'nurse' };
  return [
    { label: 'no token (empty connectionParams)', params: {}, message: 'Authentication required' },
    { label: 'connectionParams data null', params: null, message: 'Authentication required' },
    { label: 'not a JWT', token: 'not-a-jwt', message: 'Invalid token' },
    { label: 'bad signature', token: badSignatureToken(base), message: 'Invalid token' },
    { label: 'alg none', token: algNoneToken(base), message: 'Invalid token' },
    { label: 'alg HS512', token: signJwt(claims(base), { alg: 'HS512' }), message: 'Invalid token' },
    { label: 'expired', token: expiredToken(base), message: 'Token expired' },
    { label: 'missing exp', token: tokenWithClaims({ exp: undefined }, base), message: 'Invalid token' },
    { label: 'missing role', token: tokenWithClaims({ role: undefined }, base), message: 'Invalid token' },
    { label: 'unknown role', token: tokenWithClaims({ role: 'janitor' }, base), message: 'Invalid token' },
    { label: 'missing hospitals', token: tokenWithClaims({ hospitals: undefined }, base), message: 'Invalid token' },
    { label: 'hospitals not an array', token: tokenWithClaims({ hospitals: H }, base), message: 'Invalid token' },
    { label: 'empty sub', token: tokenWithClaims({ sub: '' }, base), message: 'Invalid token' },
    { label: 'missing sub', token: tokenWithClaims({ sub: undefined }, base), message: 'Invalid token' },
    { label: 'exp not a number', token: tokenWithClaims({ exp: String(now() + 3600) }, base), message: 'Invalid token' },
    { label: 'nbf in the future', token: tokenWithClaims({ nbf: now() + 600 }, base), message: 'Invalid token' },
    { label: 'iat in the future', token: tokenWithClaims({ iat: now() + 600 }, base), message: 'Invalid token' },
  ];
}

describe('authentication over WebSocket', () => {
  test('every refused token fails each call with the exact UNAUTHORIZED message; the socket stays usable', async () => {
    const H = newHospital();
    for (const b of badTokens(H)) {
      const raw = await ctx.raw(b.token !== undefined
        ? { token: b.token, label: b.label }
        : { connectionParams: b.params, label: b.label });
      const q = await raw.call(1, 'query', 'healthcare.getMetrics', { hospitalId: H });
      assertErrorFrame(q, { id: 1, ...unauth(b.message, 'healthcare.getMetrics') });
      const m = await raw.call(2, 'mutation', 'healthcare.createAlert', alertInput(H));
      assertErrorFrame(m, { id: 2, ...unauth(b.message, 'healthcare.createAlert') });
      raw.send({ id: 3, method: 'subscription', params: { path: 'healthcare.subscribeToAlerts', input: { hospitalId: H } } });
      const sub = await raw.reply(3);
      assertErrorFrame(sub, { id: 3, ...unauth(b.message, 'healthcare.subscribeToAlerts') });
      // still open: PING/PONG works and later calls keep being answered
      await raw.ping();
      const q2 = await raw.call('again', 'query', 'healthcare.getActiveAlerts', { hospitalId: H });
      assertErrorFrame(q2, { id: 'again', ...unauth(b.message, 'healthcare.getActiveAlerts') });
      assert.ok(raw.isOpen, `${b.label}: socket must stay open after auth failures`);
      assert.equal(raw.pending((m) => m.json?.id === 3 && m.json?.result).length, 0, `${b.label}: no started for a refused subscription`);
      await raw.close();
    }
  });

  test('the app client without a token: subscription gets onError UNAUTHORIZED, no reconnect loop', async () => {
    const H = newHospital();
    let opens = 0;
    let closes = 0;
    const c = ctx.client({ token: null, ws: { onOpen: () => { opens += 1; }, onClose: () => { closes += 1; } } });
    const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'anonymous');
    const err = await s.waitError();
    assert.equal(err.data?.code, 'UNAUTHORIZED');
    assert.equal(err.message, 'Authentication required');
    assert.equal(s.startedCount, 0);
    const s2 = collect(c.h.subscribeToMetrics, { hospitalId: H }, 'anonymous metrics');
    const err2 = await s2.waitError();
    assert.equal(err2.message, 'Authentication required');
    assert.equal(opens, 1, 'one socket for both calls: the server did not close it');
    assert.equal(closes, 0);
  });

  test('token sources: connectionParams.token, connectionParams.authorization, upgrade Authorization header; first present wins', async () => {
    const H = newHospital();
    const good = mintToken({ hospitals: [H], role: 'viewer' });
    const ok = async (raw, label) => {
      const r = await raw.call(1, 'query', 'healthcare.getMetrics', { hospitalId: H });
      assert.ok(r.result, `${label}: expected success, got ${JSON.stringify(r)}`);
      assert.equal(r.result.data.activeAlerts, 0);
    };
    await ok(await ctx.raw({ connectionParams: { token: good } }), 'connectionParams.token');
    await ok(await ctx.raw({ connectionParams: { authorization: `Bearer ${good}`, extra: 'ignored' } }), 'connectionParams.authorization');
    await ok(await ctx.raw({ headers: { Authorization: `Bearer ${good}` } }), 'upgrade header');
    await ok(await ctx.raw({ connectionParams: {}, headers: { Authorization: `Bearer ${good}` } }), 'header with empty connectionParams');
    await ok(await ctx.raw({ connectionParams: { token: good, authorization: 'Bearer garbage' } }), 'token wins over authorization');
    const r = await ctx.raw({ connectionParams: { authorization: 'Bearer garbage' }, headers: { Authorization: `Bearer ${good}` } });
    assertErrorFrame(await r.call(1, 'query', 'healthcare.getMetrics', { hospitalId: H }), { id: 1, ...unauth('Invalid token') });
  });

  test('a token whose exp is far in the future (exp * 1000 beyond int64) is valid and is not asked to reconnect', async () => {
    const H = newHospital();
    for (const exp of [9.3e15, 9223372036854775, 1e300]) {
      const raw = await ctx.raw({ token: tokenWithClaims({ exp }, { hospitals: [H], role: 'viewer' }), label: `exp ${exp}` });
      const r = await raw.call(1, 'query', 'healthcare.getMetrics', { hospitalId: H });
      assert.ok(r.result, `exp ${exp}: expected success, got ${JSON.stringify(r)}`);
      const again = await raw.call(2, 'query', 'healthcare.getMetrics', { hospitalId: H });
      assert.ok(again.result, `exp ${exp}: expected success, got ${JSON.stringify(again)}`);
      assert.equal(raw.pending((m) => m.json?.method === 'reconnect').length, 0, `exp ${exp}: no reconnect`);
      await raw.close();
    }
  });

  test('token expiry on a live connection: reconnect frame at exp, then "Token expired" for new calls; live subscriptions keep delivering', async () => {
    const H = newHospital();
    const T = team(H);
    const short = mintToken({ hospitals: [H], role: 'nurse', expIn: 2 });
    const raw = await ctx.raw({ token: short, label: 'expiring' });
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });
    const m = await raw.next((m) => m.json?.method === 'reconnect', 'reconnect notification at exp', 5000);
    assert.deepEqual(m.json, { id: null, method: 'reconnect' });
    assertErrorFrame(await raw.call(2, 'query', 'healthcare.getMetrics', { hospitalId: H }), { id: 2, ...unauth('Token expired') });
    const c = ctx.client({ token: T.nurse });
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    const d = await raw.data(1);
    assert.equal(d.result.data.alertId, alert.id, 'the live subscription still delivers after expiry');
    if (SLOW) {
      const info = await raw.waitClose(15000);
      assert.equal(info.code, 4003);
    }
  });
});

describe('auth close codes (auth.anonymous-timeout=1s, auth.expiry-grace=1s)', () => {
  const short = useServer({ args: ['--auth.anonymous-timeout=1s', '--auth.expiry-grace=1s'] });

  test('a connection without a valid token is closed with 4001; one with a valid token is not', async () => {
    const H = newHospital();
    const T = team(H);
    const { RawWs } = await import('./lib/clients.mjs');
    const anon = await RawWs.open(short.port, { connectionParams: {}, label: 'anonymous' });
    const invalid = await RawWs.open(short.port, { token: 'garbage', label: 'invalid token' });
    const valid = await RawWs.open(short.port, { token: T.viewer, label: 'valid' });
    short.open.push(anon, invalid, valid);
    const t0 = Date.now();
    assert.equal((await anon.waitClose(5000)).code, 4001);
    assert.equal((await invalid.waitClose(5000)).code, 4001);
    assert.ok(Date.now() - t0 >= 500, 'not closed at once');
    await valid.ping();
    const r = await valid.call(1, 'query', 'healthcare.getMetrics', { hospitalId: H });
    assert.ok(r.result, 'a connection with a valid token stays');
  });

  test('token expiry: reconnect at exp, close 4003 after the grace; the app client resumes with a fresh token', async () => {
    const H = newHospital();
    const T = team(H);
    const { RawWs } = await import('./lib/clients.mjs');
    const raw = await RawWs.open(short.port, { token: mintToken({ hospitals: [H], role: 'nurse', expIn: 2 }), label: 'expiring' });
    short.open.push(raw);
    const m = await raw.next((x) => x.json?.method === 'reconnect', 'reconnect at exp', 4000);
    const at = Date.now();
    assert.deepEqual(m.json, { id: null, method: 'reconnect' });
    const info = await raw.waitClose(4000);
    assert.equal(info.code, 4003);
    assert.ok(Date.now() - at >= 700, 'closed after the grace, not at once');

    // the app client: token getter returns a fresh token on reconnect; the subscription resumes
    let tok = mintToken({ sub: 'u-rot', hospitals: [H], role: 'nurse', expIn: 2 });
    const c = short.client({ token: () => tok });
    const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'rotating');
    await s.waitStarted();
    // connectionParams() is read on every (re)connect: the next connection gets a fresh token
    tok = mintToken({ sub: 'u-rot', hospitals: [H], role: 'nurse', expIn: 3600 });
    const writer = short.client({ token: T.nurse });
    const { alert: a1 } = await writer.h.createAlert.mutate(alertInput(H));
    await s.count(1);
    // the client goes through reconnect at exp and resubscribes (a second `started`)
    await s.waitStarted(6000, 2);
    const { alert: a2 } = await writer.h.createAlert.mutate(alertInput(H, { roomNumber: '2' }));
    await s.count(2);
    assert.deepEqual(s.items.map((e) => e.alertId), [a1.id, a2.id]);
  });
});

describe('authentication over HTTP', () => {
  test('missing, invalid and expired tokens -> 401 with the exact messages', async () => {
    const H = newHospital();
    const input = enc({ 0: { hospitalId: H } });
    const cases = [
      { label: 'no header', headers: {}, message: 'Authentication required' },
      { label: 'garbage', headers: { authorization: 'Bearer garbage' }, message: 'Invalid token' },
      { label: 'bad signature', headers: { authorization: `Bearer ${badSignatureToken({ hospitals: [H] })}` }, message: 'Invalid token' },
      { label: 'alg none', headers: { authorization: `Bearer ${algNoneToken({ hospitals: [H] })}` }, message: 'Invalid token' },
      { label: 'expired', headers: { authorization: `Bearer ${expiredToken({ hospitals: [H] })}` }, message: 'Token expired' },
    ];
    for (const c of cases) {
      const r = await ctx.http(`/api/trpc/healthcare.getMetrics?batch=1&input=${input}`, { headers: c.headers });
      assert.equal(r.status, 401, `${c.label}: ${r.text}`);
      assert.ok(Array.isArray(r.json) && r.json.length === 1, `${c.label}: batch answer is an array: ${r.text}`);
      assertHttpError(r.json[0], { code: 'UNAUTHORIZED', httpStatus: 401, message: c.message, path: 'healthcare.getMetrics' });
      const single = await ctx.http(`/api/trpc/healthcare.getMetrics?input=${enc({ hospitalId: H })}`, { headers: c.headers });
      assert.equal(single.status, 401);
      assertHttpError(single.json, { code: 'UNAUTHORIZED', message: c.message });
    }
  });

  test('the app client (httpBatchLink) surfaces UNAUTHORIZED', async () => {
    const H = newHospital();
    const c = ctx.client({ token: expiredToken({ hospitals: [H] }) });
    await rejectsTrpc(c.h.getActiveAlerts.query({ hospitalId: H }), { code: 'UNAUTHORIZED', httpStatus: 401, message: 'Token expired' });
    const anon = ctx.client({ token: null, superjson: false });
    await rejectsTrpc(anon.h.createAlert.mutate(alertInput(H)), { code: 'UNAUTHORIZED', message: 'Authentication required' });
  });
});

describe('authorization by role', () => {
  const denied = (perm) => ({ code: 'FORBIDDEN', httpStatus: 403, message: `Access denied. Required permission: ${perm}` });

  test('roles without the permission get FORBIDDEN naming it', async () => {
    const H = newHospital();
    const T = team(H);
    const admin = ctx.client({ token: T.admin });
    const { alert } = await admin.h.createAlert.mutate(alertInput(H));
    const as = (role) => ctx.client({ token: T[role] }).h;
    await rejectsTrpc(as('viewer').createAlert.mutate(alertInput(H)), denied('create_alerts'));
    await rejectsTrpc(as('viewer').updateAlert.mutate({ alertId: alert.id, description: 'x' }), denied('update_alerts'));
    for (const role of ['viewer', 'operator']) {
      await rejectsTrpc(as(role).acknowledgeAlert.mutate({ alertId: alert.id }), denied('acknowledge_alerts'));
      await rejectsTrpc(as(role).resolveAlert.mutate({ alertId: alert.id, resolution: 'long enough text' }), denied('acknowledge_alerts'));
    }
    for (const role of ['viewer', 'operator', 'nurse', 'doctor']) {
      await rejectsTrpc(as(role).triggerEscalation.mutate({ alertId: alert.id }), denied('escalate_alerts'));
    }
    const after = await admin.h.getAlert.query({ alertId: alert.id });
    assert.equal(after.status, 'active');
    assert.equal(after.escalationLevel, 1);
    assert.equal(after.description, alert.description);
  });

  test('roles with the permission succeed (admin may use every procedure)', async () => {
    const H = newHospital();
    const T = team(H);
    const as = (role) => ctx.client({ token: T[role] }).h;
    const made = {};
    for (const role of ['operator', 'nurse', 'doctor', 'head_doctor', 'admin']) {
      const r = await as(role).createAlert.mutate(alertInput(H, { roomNumber: `R${role.length}` }));
      assert.equal(r.alert.createdBy, T.subs[role]);
      made[role] = r.alert.id;
      const u = await as(role).updateAlert.mutate({ alertId: r.alert.id, urgencyLevel: 2 });
      assert.equal(u.alert.urgencyLevel, 2);
    }
    for (const role of ['head_doctor', 'admin']) {
      const e = await as(role).triggerEscalation.mutate({ alertId: made[role] });
      assert.equal(e.toTier, 2);
    }
    for (const role of ['nurse', 'doctor', 'head_doctor', 'admin']) {
      const a = await as(role).acknowledgeAlert.mutate({ alertId: made[role] });
      assert.equal(a.alert.acknowledgedBy, T.subs[role]);
      const r = await as(role).resolveAlert.mutate({ alertId: made[role], resolution: `resolved by ${role}` });
      assert.equal(r.alert.resolvedBy, T.subs[role]);
    }
    for (const role of ROLES) {
      const h = as(role);
      const list = await h.getActiveAlerts.query({ hospitalId: H, status: 'all' });
      assert.equal(list.total, 5, `${role} may list alerts`);
      await h.getAlert.query({ alertId: made.operator });
      await h.getMetrics.query({ hospitalId: H });
      const c = ctx.client({ token: T[role] });
      const s = collect(c.h.subscribeToAlerts, { hospitalId: H }, `${role} alerts`);
      await s.waitStarted();
      const m = collect(c.h.subscribeToMetrics, { hospitalId: H }, `${role} metrics`);
      await m.count(1);
    }
  });
});

describe('tenancy (hospital isolation)', () => {
  test('a subscriber of H2 sees nothing of H1', async () => {
    const H1 = newHospital('h1');
    const H2 = newHospital('h2');
    const both = mintToken({ hospitals: [H1, H2], role: 'nurse' });
    const w = ctx.client({ token: both });
    const s2 = collect(w.h.subscribeToAlerts, { hospitalId: H2 }, 'H2 subscriber');
    const s1 = collect(w.h.subscribeToAlerts, { hospitalId: H1 }, 'H1 subscriber (barrier)');
    await Promise.all([s1.waitStarted(), s2.waitStarted()]);
    const op1 = ctx.client({ token: team(H1).head_doctor });
    const { alert: a } = await op1.h.createAlert.mutate(alertInput(H1));
    await op1.h.triggerEscalation.mutate({ alertId: a.id });
    await op1.h.acknowledgeAlert.mutate({ alertId: a.id });
    await s1.count(3);
    const op2 = ctx.client({ token: team(H2).nurse });
    const { alert: b } = await op2.h.createAlert.mutate(alertInput(H2));
    await s2.count(1);
    assert.deepEqual(s2.items.map((e) => [e.hospitalId, e.alertId]), [[H2, b.id]], 'H2 subscriber got only the H2 event');
    assert.ok(s1.items.every((e) => e.hospitalId === H1));
    const list2 = await op2.h.getActiveAlerts.query({ hospitalId: H2, status: 'all' });
    assert.deepEqual(list2.alerts.map((x) => x.id), [b.id]);
    const m2 = await op2.h.getMetrics.query({ hospitalId: H2 });
    assert.equal(m2.activeAlerts, 1);
  });

  test('calls on H1 or its alerts with an H2-only token: FORBIDDEN (admin included)', async () => {
    const H1 = newHospital('h1');
    const H2 = newHospital('h2');
    const T1 = team(H1);
    const c1 = ctx.client({ token: T1.head_doctor });
    const { alert: a } = await c1.h.createAlert.mutate(alertInput(H1));
    const { alert: done } = await c1.h.createAlert.mutate(alertInput(H1, { roomNumber: '7' }));
    await c1.h.acknowledgeAlert.mutate({ alertId: done.id });
    await c1.h.resolveAlert.mutate({ alertId: done.id, resolution: 'closed for the test' });
    const forbidden = { code: 'FORBIDDEN', httpStatus: 403, message: 'Access denied to this hospital' };
    for (const role of ['admin', 'head_doctor']) {
      const c = ctx.client({ token: team(H2)[role] });
      await rejectsTrpc(c.h.createAlert.mutate(alertInput(H1)), {
        code: 'FORBIDDEN', httpStatus: 403,
        message: 'Invalid hospital ID. You can only create alerts for your assigned hospital.',
      });
      await rejectsTrpc(c.h.getAlert.query({ alertId: a.id }), forbidden);
      await rejectsTrpc(c.h.acknowledgeAlert.mutate({ alertId: a.id }), forbidden);
      await rejectsTrpc(c.h.resolveAlert.mutate({ alertId: a.id, resolution: 'not mine to resolve' }), forbidden);
      await rejectsTrpc(c.h.updateAlert.mutate({ alertId: a.id, description: 'x' }), forbidden);
      await rejectsTrpc(c.h.triggerEscalation.mutate({ alertId: a.id }), forbidden);
      await rejectsTrpc(c.h.getActiveAlerts.query({ hospitalId: H1 }), forbidden);
      await rejectsTrpc(c.h.getMetrics.query({ hospitalId: H1 }), forbidden);
      // tenancy (5) comes before the state check (6)
      await rejectsTrpc(c.h.acknowledgeAlert.mutate({ alertId: done.id }), forbidden);
      const s = collect(c.h.subscribeToAlerts, { hospitalId: H1 }, 'foreign alerts');
      const e = await s.waitError();
      assert.equal(e.data?.code, 'FORBIDDEN');
      assert.equal(e.message, 'Access denied to this hospital');
      assert.equal(s.startedCount, 0, 'a refused subscription gets no started');
      const sm = collect(c.h.subscribeToMetrics, { hospitalId: H1 }, 'foreign metrics');
      assert.equal((await sm.waitError()).message, 'Access denied to this hospital');
      assert.equal(sm.items.length, 0);
    }
    // hospital ids match exactly (case-sensitive)
    const upper = ctx.client({ token: mintToken({ hospitals: [H1.toUpperCase()], role: 'admin' }) });
    await rejectsTrpc(upper.h.getActiveAlerts.query({ hospitalId: H1 }), forbidden);
    const still = await c1.h.getAlert.query({ alertId: a.id });
    assert.equal(still.status, 'active');
    assert.equal(still.escalationLevel, 1);
  });
});

describe('order of checks', () => {
  test('lookup < token < role < validation < exists < tenancy < state', async () => {
    const H1 = newHospital('h1');
    const H2 = newHospital('h2');
    const T1 = team(H1);
    const T2 = team(H2);
    // unknown procedure is NOT_FOUND even without a token
    const raw = await ctx.raw({ connectionParams: {} });
    assertErrorFrame(await raw.call(1, 'query', 'healthcare.nope', {}), {
      id: 1, code: 'NOT_FOUND', message: 'No "query"-procedure on path "healthcare.nope"',
    });
    const r = await ctx.http('/api/trpc/healthcare.nope?batch=1&input=%7B%7D');
    assert.equal(r.status, 404);
    // token before role
    const expiredViewer = ctx.client({ token: expiredToken({ hospitals: [H1], role: 'viewer' }) });
    await rejectsTrpc(expiredViewer.h.createAlert.mutate(alertInput(H1)), { code: 'UNAUTHORIZED', message: 'Token expired' });
    // role before validation and tenancy
    const viewer = ctx.client({ token: T2.viewer });
    await rejectsTrpc(viewer.h.createAlert.mutate({ hospitalId: H1, urgencyLevel: 99 }), {
      code: 'FORBIDDEN', message: 'Access denied. Required permission: create_alerts',
    });
    // validation before tenancy and existence
    const nurse2 = ctx.client({ token: T2.nurse });
    await rejectsTrpc(nurse2.h.createAlert.mutate(alertInput(H1, { urgencyLevel: 9 })), { code: 'BAD_REQUEST', messageIncludes: 'urgencyLevel' });
    await rejectsTrpc(nurse2.h.acknowledgeAlert.mutate({ alertId: '0b7c6f0e-4f59-4a3e-9a53-2f6f1f0d9c11', notes: '' }), { code: 'BAD_REQUEST', messageIncludes: 'notes' });
    // existence before tenancy
    await rejectsTrpc(nurse2.h.acknowledgeAlert.mutate({ alertId: '0b7c6f0e-4f59-4a3e-9a53-2f6f1f0d9c11' }), { code: 'NOT_FOUND', message: 'Alert not found' });
    // tenancy before state: an acknowledged H1 alert acknowledged by an H2 nurse -> FORBIDDEN, not CONFLICT
    const c1 = ctx.client({ token: T1.nurse });
    const { alert } = await c1.h.createAlert.mutate(alertInput(H1));
    await c1.h.acknowledgeAlert.mutate({ alertId: alert.id });
    await rejectsTrpc(nurse2.h.acknowledgeAlert.mutate({ alertId: alert.id }), { code: 'FORBIDDEN', message: 'Access denied to this hospital' });
    await rejectsTrpc(c1.h.acknowledgeAlert.mutate({ alertId: alert.id }), { code: 'CONFLICT', message: 'Alert is not active' });
  });
});
