// tRPC over HTTP (docs/api.md "HTTP") and the operational endpoints, with raw fetch.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, assertHttpError, enc, newHospital, ISO_MS } from './lib/clients.mjs';

const ctx = useServer();
const UNKNOWN_UUID = '0b7c6f0e-4f59-4a3e-9a53-2f6f1f0d9c11';
const JSON_CT = { 'content-type': 'application/json' };

function assertJsonContentType(r) {
  assert.match(r.headers.get('content-type') || '', /^application\/json/i, `content-type of ${r.status} response`);
}

describe('operational endpoints', () => {
  test('GET /health -> 200 {status:"ok", version, uptimeSec}', async () => {
    const r = await ctx.http('/health');
    assert.equal(r.status, 200, r.text);
    assertJsonContentType(r);
    assert.equal(r.json.status, 'ok');
    assert.equal(typeof r.json.version, 'string');
    assert.ok(r.json.version.length > 0);
    assert.ok(Number.isInteger(r.json.uptimeSec) && r.json.uptimeSec >= 0, r.text);
  });

  test('GET /ready -> 200 {status:"ready"}', async () => {
    const r = await ctx.http('/ready');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { status: 'ready' });
  });

  test('GET /metrics -> 200 Prometheus text', async () => {
    const r = await ctx.http('/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') || '', /^text\/plain/);
    assert.match(r.text, /^# (HELP|TYPE) /m, 'Prometheus exposition format');
  });
});

describe('tRPC over HTTP', () => {
  test('non-batch GET query and POST mutation: {"result":{"data":…}} without type', async () => {
    const H = newHospital();
    const T = team(H);
    const m = await ctx.http(`/api/trpc/healthcare.getMetrics?input=${enc({ hospitalId: H })}`, { token: T.viewer });
    assert.equal(m.status, 200, m.text);
    assertJsonContentType(m);
    assert.deepEqual(Object.keys(m.json), ['result']);
    assert.deepEqual(Object.keys(m.json.result), ['data']);
    assert.equal(m.json.result.data.activeAlerts, 0);
    assert.match(m.json.result.data.timestamp, ISO_MS);
    const c = await ctx.http('/api/trpc/healthcare.createAlert', { method: 'POST', token: T.nurse, body: alertInput(H), headers: JSON_CT });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.result.data.success, true);
    assert.equal(c.json.result.data.alert.status, 'active');
    assert.match(c.json.result.data.alert.createdAt, ISO_MS, 'plain request -> plain reply');
  });

  test('batch GET of two queries -> 200 array in path order; a missing index means no input', async () => {
    const H = newHospital();
    const T = team(H);
    const c = await ctx.http('/api/trpc/healthcare.createAlert', { method: 'POST', token: T.nurse, body: alertInput(H), headers: JSON_CT });
    const alertId = c.json.result.data.alert.id;
    const r = await ctx.http(`/api/trpc/healthcare.getAlert,healthcare.getMetrics?batch=1&input=${enc({ 0: { alertId }, 1: { hospitalId: H } })}`, { token: T.viewer });
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.json) && r.json.length === 2, r.text);
    assert.equal(r.json[0].result.data.id, alertId);
    assert.equal(r.json[1].result.data.activeAlerts, 1);
    const noInput = await ctx.http(`/api/trpc/healthcare.getMetrics,healthcare.getMetrics?batch=1&input=${enc({ 0: { hospitalId: H } })}`, { token: T.viewer });
    assert.equal(noInput.status, 207, noInput.text);
    assert.ok(noInput.json[0].result);
    assertHttpError(noInput.json[1], { code: 'BAD_REQUEST', messageIncludes: 'input', path: 'healthcare.getMetrics' });
  });

  test('batch POST of two mutations (superjson, as httpBatchLink sends it)', async () => {
    const H = newHospital();
    const T = team(H);
    const body = { 0: { json: alertInput(H) }, 1: { json: alertInput(H, { roomNumber: '2' }) } };
    const r = await ctx.http('/api/trpc/healthcare.createAlert,healthcare.createAlert?batch=1', {
      method: 'POST', token: T.nurse, body, headers: { 'content-type': 'application/json, application/json' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.length, 2);
    for (const item of r.json) {
      const d = item.result.data;
      assert.equal(d.json.success, true);
      assert.deepEqual(d.meta.values['alert.createdAt'], ['Date'], JSON.stringify(d.meta));
      assert.deepEqual(d.meta.values['alert.updatedAt'], ['Date']);
      assert.deepEqual(d.meta.values['alert.nextEscalationAt'], ['Date']);
      assert.ok(!('alert.acknowledgedAt' in d.meta.values), 'null timestamps are not annotated');
    }
    assert.notEqual(r.json[0].result.data.json.alert.id, r.json[1].result.data.json.alert.id);
  });

  test('per-item transformer in a batch: superjson item gets superjson, plain item gets plain', async () => {
    const H = newHospital();
    const T = team(H);
    const r = await ctx.http(`/api/trpc/healthcare.getMetrics,healthcare.getMetrics?batch=1&input=${enc({ 0: { json: { hospitalId: H } }, 1: { hospitalId: H } })}`, { token: T.viewer });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json[0].result.data.json, 'item 0 superjson');
    assert.deepEqual(r.json[0].result.data.meta.values, { timestamp: ['Date'] });
    assert.ok(!('json' in r.json[1].result.data), 'item 1 plain');
    assert.equal(r.json[1].result.data.activeAlerts, 0);
  });

  test('mixed batch -> 207 with result and error items', async () => {
    const H = newHospital();
    const T = team(H);
    const c = await ctx.http('/api/trpc/healthcare.createAlert', { method: 'POST', token: T.nurse, body: alertInput(H), headers: JSON_CT });
    const alertId = c.json.result.data.alert.id;
    const r = await ctx.http(`/api/trpc/healthcare.getAlert,healthcare.getAlert?batch=1&input=${enc({ 0: { json: { alertId } }, 1: { json: { alertId: UNKNOWN_UUID } } })}`, {
      token: T.viewer, headers: { 'content-type': 'application/json, application/json' },
    });
    assert.equal(r.status, 207, r.text);
    assert.equal(r.json[0].result.data.json.id, alertId);
    assert.ok(r.json[1].error.json, `superjson error envelope: ${r.text}`);
    assertHttpError(r.json[1], { code: 'NOT_FOUND', httpStatus: 404, message: 'Alert not found', path: 'healthcare.getAlert' });
    assert.equal(r.json[1].error.json.code, -32004);
  });

  test('405: GET on a mutation, POST on a query, any HTTP on a subscription path', async () => {
    const H = newHospital();
    const T = team(H);
    const g = await ctx.http(`/api/trpc/healthcare.createAlert?input=${enc(alertInput(H))}`, { token: T.nurse });
    assert.equal(g.status, 405, g.text);
    assertHttpError(g.json, { code: 'METHOD_NOT_SUPPORTED', httpStatus: 405, message: 'Unsupported GET-request to mutation procedure at path "healthcare.createAlert"' });
    assert.match(g.headers.get('allow') || '', /POST/, 'Allow header');
    const gb = await ctx.http(`/api/trpc/healthcare.createAlert?batch=1&input=${enc({ 0: alertInput(H) })}`, { token: T.nurse });
    assert.equal(gb.status, 405, gb.text);
    const p = await ctx.http('/api/trpc/healthcare.getMetrics', { method: 'POST', token: T.nurse, body: { hospitalId: H }, headers: JSON_CT });
    assert.equal(p.status, 405, p.text);
    assertHttpError(p.json, { code: 'METHOD_NOT_SUPPORTED', message: 'Unsupported POST-request to query procedure at path "healthcare.getMetrics"' });
    assert.match(p.headers.get('allow') || '', /GET/);
    for (const path of ['healthcare.subscribeToAlerts', 'healthcare.subscribeToMetrics']) {
      const sg = await ctx.http(`/api/trpc/${path}?input=${enc({ hospitalId: H })}`, { token: T.nurse });
      assert.equal(sg.status, 405, `${path} GET: ${sg.text}`);
      assertHttpError(Array.isArray(sg.json) ? sg.json[0] : sg.json, { code: 'METHOD_NOT_SUPPORTED' });
      const sp = await ctx.http(`/api/trpc/${path}?batch=1`, { method: 'POST', token: T.nurse, body: { 0: { hospitalId: H } }, headers: JSON_CT });
      assert.equal(sp.status, 405, `${path} POST: ${sp.text}`);
    }
    const list = await ctx.http(`/api/trpc/healthcare.getActiveAlerts?input=${enc({ hospitalId: H, status: 'all' })}`, { token: T.nurse });
    assert.equal(list.json.result.data.total, 0, 'the GET on createAlert created nothing');
  });

  test('404 for an unknown path, even without a token', async () => {
    const r = await ctx.http(`/api/trpc/healthcare.nope?input=${enc({})}`);
    assert.equal(r.status, 404, r.text);
    assertHttpError(r.json, { code: 'NOT_FOUND', httpStatus: 404, message: 'No procedure found on path "healthcare.nope"', path: 'healthcare.nope' });
    const b = await ctx.http(`/api/trpc/healthcare.getAlertById?batch=1&input=${enc({ 0: {} })}`);
    assert.equal(b.status, 404, b.text);
    assert.ok(Array.isArray(b.json), `batch answer is an array: ${b.text}`);
    assertHttpError(b.json[0], { code: 'NOT_FOUND', message: 'No procedure found on path "healthcare.getAlertById"' });
  });

  test('415 for a text/plain POST: a single error object, not an array', async () => {
    const H = newHospital();
    const T = team(H);
    const r = await ctx.http('/api/trpc/healthcare.createAlert?batch=1', {
      method: 'POST', token: T.nurse, body: JSON.stringify({ 0: alertInput(H) }), headers: { 'content-type': 'text/plain' },
    });
    assert.equal(r.status, 415, r.text);
    assert.ok(!Array.isArray(r.json), `single object expected: ${r.text}`);
    assertHttpError(r.json, { code: 'UNSUPPORTED_MEDIA_TYPE', httpStatus: 415 });
    assert.equal(r.json.error.code, -32015);
  });

  test('Content-Type is read leniently', async () => {
    const H = newHospital();
    const T = team(H);
    const variants = ['application/json, application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'Application/Json;charset=UTF-8', null];
    for (const ct of variants) {
      const headers = ct ? { 'content-type': ct } : {};
      const r = await ctx.http('/api/trpc/healthcare.createAlert?batch=1', { method: 'POST', token: T.nurse, body: { 0: alertInput(H) }, headers });
      assert.equal(r.status, 200, `POST with content-type ${ct}: ${r.text}`);
      const g = await ctx.http(`/api/trpc/healthcare.getMetrics?batch=1&input=${enc({ 0: { hospitalId: H } })}`, { token: T.nurse, headers });
      assert.equal(g.status, 200, `GET with content-type ${ct}: ${g.text}`);
    }
  });

  test('malformed JSON in input or body -> 400 BAD_REQUEST', async () => {
    const H = newHospital();
    const T = team(H);
    const g = await ctx.http('/api/trpc/healthcare.getMetrics?input=%7Bnot', { token: T.viewer });
    assert.equal(g.status, 400, g.text);
    assertHttpError(Array.isArray(g.json) ? g.json[0] : g.json, { code: 'BAD_REQUEST' });
    const gb = await ctx.http('/api/trpc/healthcare.getMetrics?batch=1&input=%7Bnot', { token: T.viewer });
    assert.equal(gb.status, 400, gb.text);
    const p = await ctx.http('/api/trpc/healthcare.createAlert', { method: 'POST', token: T.nurse, body: '{"hospitalId":', headers: JSON_CT });
    assert.equal(p.status, 400, p.text);
    assertHttpError(Array.isArray(p.json) ? p.json[0] : p.json, { code: 'BAD_REQUEST' });
    const pb = await ctx.http('/api/trpc/healthcare.createAlert?batch=1', { method: 'POST', token: T.nurse, body: '[[[', headers: JSON_CT });
    assert.equal(pb.status, 400, pb.text);
  });

  test('trpc-accept: application/jsonl -> a single 400 error object', async () => {
    const H = newHospital();
    const T = team(H);
    const r = await ctx.http(`/api/trpc/healthcare.getMetrics?batch=1&input=${enc({ 0: { hospitalId: H } })}`, {
      token: T.viewer, headers: { 'trpc-accept': 'application/jsonl' },
    });
    assert.equal(r.status, 400, r.text);
    assert.ok(r.json && !Array.isArray(r.json), `single JSON object expected: ${r.text}`);
    assertHttpError(r.json, { code: 'BAD_REQUEST' });
  });

  test('413 for a body over 1 MiB: a single error object', async () => {
    const H = newHospital();
    const T = team(H);
    const body = JSON.stringify({ 0: alertInput(H, { description: 'x'.repeat(1100 * 1024) }) });
    const r = await ctx.http('/api/trpc/healthcare.createAlert?batch=1', { method: 'POST', token: T.nurse, body, headers: JSON_CT });
    assert.equal(r.status, 413, r.text.slice(0, 300));
    assert.ok(!Array.isArray(r.json));
    assertHttpError(r.json, { code: 'PAYLOAD_TOO_LARGE', httpStatus: 413 });
  });

  test('CORS: default allows any origin; preflight 204; no credentials', async () => {
    const H = newHospital();
    const T = team(H);
    const origin = 'http://dashboard.example.test';
    const r = await ctx.http(`/api/trpc/healthcare.getMetrics?input=${enc({ hospitalId: H })}`, { token: T.viewer, headers: { origin } });
    assert.equal(r.status, 200);
    assert.ok(['*', origin].includes(r.headers.get('access-control-allow-origin')), `ACAO: ${r.headers.get('access-control-allow-origin')}`);
    assert.match(r.headers.get('vary') || '', /Origin/i);
    assert.equal(r.headers.get('access-control-allow-credentials'), null);
    const pre = await ctx.http('/api/trpc/healthcare.createAlert?batch=1', {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
    });
    assert.equal(pre.status, 204, pre.text);
    assert.ok(pre.headers.get('access-control-allow-origin'));
    assert.match(pre.headers.get('access-control-allow-methods') || '', /POST/);
    assert.match(pre.headers.get('access-control-allow-headers') || '', /authorization/i);
    assert.match(pre.headers.get('access-control-allow-headers') || '', /content-type/i);
  });
});
