// Frame-level WebSocket protocol (docs/api.md "WebSocket") with a bare `ws` socket.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, assertErrorFrame, collect, newHospital, RawWs } from './lib/clients.mjs';

const ctx = useServer();

const PARSE = { id: null, code: 'PARSE_ERROR', jsonCode: -32700, httpStatus: 400 };

/** Asserts a frame-level PARSE_ERROR: id null, no path. */
function assertParseError(frame, label) {
  const e = assertErrorFrame(frame, PARSE);
  assert.ok(!('path' in (e.data || {})), `${label}: PARSE_ERROR has no data.path: ${JSON.stringify(frame)}`);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
}

/** Barrier: a getMetrics query with a fresh id; all earlier frames on this connection were handled. */
async function barrier(raw, H, id = `barrier-${Math.random()}`) {
  const r = await raw.call(id, 'query', 'healthcare.getMetrics', { hospitalId: H });
  assert.ok(r.result, `barrier failed: ${JSON.stringify(r)}`);
  return r;
}

describe('keep-alive and connection params', () => {
  test('PING -> PONG, also before the connectionParams frame', async () => {
    const H = newHospital();
    const T = team(H);
    const ws = await ctx.raw({ query: 'connectionParams=1', label: 'early ping' });
    await ws.ping();
    await ws.ping();
    ws.send({ method: 'connectionParams', data: { authorization: `Bearer ${T.viewer}` } });
    await barrier(ws, H, 1);
    await ws.ping();
    assert.equal(ws.pending((m) => m.json?.id === null).length, 0, 'the connectionParams frame gets no reply');
  });

  test('a malformed connectionParams frame -> PARSE_ERROR and close', async () => {
    for (const [label, frame] of [
      ['non-string value', { method: 'connectionParams', data: { n: 1 } }],
      ['data is an array', { method: 'connectionParams', data: ['x'] }],
      ['not JSON', '{not json'],
    ]) {
      const raw = await ctx.raw({ query: 'connectionParams=1', label });
      raw.send(frame);
      assertParseError(await raw.nullError(`${label}: PARSE_ERROR`), label);
      const info = await raw.waitClose();
      assert.ok(info.code !== undefined, label);
    }
  });

  test('without ?connectionParams=1 the first frame is an ordinary request', async () => {
    const H = newHospital();
    const raw = await ctx.raw({});
    const r = await raw.call(1, 'query', 'healthcare.getMetrics', { hospitalId: H });
    assertErrorFrame(r, { id: 1, code: 'UNAUTHORIZED', message: 'Authentication required' });
  });

  test('the WebSocket is served at /api/trpc, /api/trpc/ and /; other paths get HTTP 404', async () => {
    const H = newHospital();
    const T = team(H);
    for (const path of ['/api/trpc', '/api/trpc/', '/']) {
      const raw = await ctx.raw({ path, token: T.viewer, label: path });
      await barrier(raw, H, 1);
      await raw.close();
    }
    await assert.rejects(RawWs.open(ctx.port, { path: '/nope' }), (e) => e.statusCode === 404);
  });
});

describe('malformed frames', () => {
  test('each malformed frame -> one PARSE_ERROR with id null; the connection stays usable', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.viewer });
    const bad = [
      ['not JSON', '{not json'],
      ['empty text', ''],
      ['JSON scalar', '42'],
      ['id null', { id: null, method: 'query', params: { path: 'healthcare.getMetrics', input: { hospitalId: H } } }],
      ['id missing', { method: 'query', params: { path: 'healthcare.getMetrics', input: { hospitalId: H } } }],
      ['id object', { id: { a: 1 }, method: 'query', params: { path: 'healthcare.getMetrics' } }],
      ['unknown method', { id: 5, method: 'frobnicate', params: { path: 'healthcare.getMetrics' } }],
      ['no params', { id: 6, method: 'query' }],
      ['non-string path', { id: 7, method: 'query', params: { path: 42 } }],
      ['non-string lastEventId', { id: 8, method: 'subscription', params: { path: 'healthcare.subscribeToAlerts', input: { hospitalId: H }, lastEventId: 5 } }],
      ['bad jsonrpc', { id: 9, jsonrpc: '1.0', method: 'query', params: { path: 'healthcare.getMetrics', input: { hospitalId: H } } }],
    ];
    for (const [label, frame] of bad) {
      raw.send(frame);
      assertParseError(await raw.nullError(`${label}: PARSE_ERROR`), label);
      await raw.ping();
    }
    await barrier(raw, H, 'after');
    assert.equal(raw.pending((m) => m.json && m.json.id !== null).length, 0,
      `none of the malformed requests ran: ${JSON.stringify(raw.pending())}`);
    assert.equal(raw.pending((m) => m.json?.id === null).length, 0, 'exactly one PARSE_ERROR per malformed frame');
  });

  test('an array frame with one bad element -> one PARSE_ERROR and none of it runs', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.nurse });
    raw.send([
      { id: 1, method: 'mutation', params: { path: 'healthcare.createAlert', input: alertInput(H) } },
      { id: 2, method: 'nope', params: { path: 'healthcare.getMetrics' } },
      { id: 3, method: 'query', params: { path: 'healthcare.getMetrics', input: { hospitalId: H } } },
    ]);
    assertParseError(await raw.nullError('PARSE_ERROR for the batch'), 'batch');
    const list = await raw.call(4, 'query', 'healthcare.getActiveAlerts', { hospitalId: H, status: 'all' });
    assert.equal(list.result.data.total, 0, 'the createAlert in the rejected frame did not run');
    assert.equal(raw.pending((m) => [1, 2, 3].includes(m.json?.id)).length, 0, `no replies for the rejected frame: ${raw.dump()}`);
    assert.equal(raw.pending((m) => m.json?.id === null).length, 0, 'only one PARSE_ERROR');
  });

  test('a binary frame -> PARSE_ERROR; the connection stays open', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.viewer });
    raw.send(Buffer.from(JSON.stringify({ id: 1, method: 'query', params: { path: 'healthcare.getMetrics', input: { hospitalId: H } } })));
    assertParseError(await raw.nullError('PARSE_ERROR for a binary frame'), 'binary');
    await raw.ping();
    await barrier(raw, H, 2);
    assert.equal(raw.pending((m) => m.json?.id === 1).length, 0, 'the binary frame did not run');
    assert.ok(raw.all.every((m) => !m.binary), 'the server sends text frames only');
  });

  test('id:null errors are superjson once the connection carried a superjson request', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.viewer });
    const r = await raw.call(1, 'query', 'healthcare.getMetrics', { json: { hospitalId: H } });
    assert.ok(r.result.data.json, 'superjson reply');
    raw.send('{oops');
    const e = await raw.nullError();
    assert.ok(e.error.json, `expected a superjson error envelope: ${JSON.stringify(e)}`);
    assert.equal(e.error.json.data.code, 'PARSE_ERROR');
  });
});

describe('requests, batches and ids', () => {
  test('jsonrpc "2.0" is echoed on results and errors; string ids work', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.viewer });
    raw.send({ id: 'str-id', jsonrpc: '2.0', method: 'query', params: { path: 'healthcare.getMetrics', input: { hospitalId: H } } });
    const ok = await raw.reply('str-id');
    assert.equal(ok.jsonrpc, '2.0', JSON.stringify(ok));
    assert.equal(ok.result.type, 'data');
    raw.send({ id: 7, jsonrpc: '2.0', method: 'query', params: { path: 'healthcare.getAlert', input: { alertId: '0b7c6f0e-4f59-4a3e-9a53-2f6f1f0d9c11' } } });
    const err = await raw.reply(7);
    assert.equal(err.jsonrpc, '2.0', JSON.stringify(err));
    assertErrorFrame(err, { id: 7, code: 'NOT_FOUND', message: 'Alert not found', path: 'healthcare.getAlert' });
    raw.send({ id: 8, jsonrpc: '2.0', method: 'subscription', params: { path: 'healthcare.subscribeToAlerts', input: { hospitalId: H } } });
    const started = await raw.reply(8);
    assert.deepEqual(started, { id: 8, jsonrpc: '2.0', result: { type: 'started' } });
    const plain = await raw.call(9, 'query', 'healthcare.getMetrics', { hospitalId: H });
    assert.ok(!('jsonrpc' in plain), 'no jsonrpc without one in the request');
  });

  test('query reply shape: {"id","result":{"type":"data","data"}}', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.nurse });
    const r = await raw.call(3, 'mutation', 'healthcare.createAlert', alertInput(H));
    assert.deepEqual(Object.keys(r).sort(), ['id', 'result']);
    assert.deepEqual(Object.keys(r.result).sort(), ['data', 'type']);
    assert.equal(r.result.type, 'data');
    assert.equal(r.result.data.success, true);
  });

  test('unknown procedures and wrong procedure types -> NOT_FOUND `No "<method>"-procedure on path "<path>"`', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.admin });
    const probes = [
      ['query', 'healthcare.nope'],
      ['mutation', 'healthcare.nope'],
      ['subscription', 'healthcare.nope'],
      ['query', 'nope'],
      ['query', 'healthcare.createAlert'],
      ['mutation', 'healthcare.getMetrics'],
      ['subscription', 'healthcare.getMetrics'],
      ['query', 'healthcare.subscribeToAlerts'],
      ['mutation', 'healthcare.subscribeToMetrics'],
      ['query', 'healthcare.getAlertById'],
      ['mutation', 'healthcare.bulkAcknowledgeAlerts'],
      ['mutation', 'healthcare.createAlertFromTemplate'],
    ];
    let id = 1;
    for (const [method, path] of probes) {
      const r = await raw.call(id, method, path, { hospitalId: H });
      assertErrorFrame(r, { id, code: 'NOT_FOUND', jsonCode: -32004, httpStatus: 404, path, message: `No "${method}"-procedure on path "${path}"` });
      id += 1;
    }
  });

  test('a batch frame: each element answered under its own id', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.nurse });
    raw.send([
      { id: 1, method: 'mutation', params: { path: 'healthcare.createAlert', input: alertInput(H) } },
      { id: 2, method: 'query', params: { path: 'healthcare.getMetrics', input: { hospitalId: H } } },
      { id: 3, method: 'subscription', params: { path: 'healthcare.subscribeToAlerts', input: { hospitalId: H } } },
      { id: 4, method: 'query', params: { path: 'healthcare.nope' } },
    ]);
    const [r1, r2, r3, r4] = await Promise.all([raw.reply(1), raw.reply(2), raw.reply(3), raw.reply(4)]);
    assert.equal(r1.result.data.success, true);
    assert.equal(typeof r2.result.data.activeAlerts, 'number');
    assert.deepEqual(r3.result, { type: 'started' });
    assertErrorFrame(r4, { id: 4, code: 'NOT_FOUND' });
  });

  test('a batch of 51: the first 50 run, the 51st gets BAD_REQUEST "Batch call exceeds maximum size"', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.viewer });
    const frame = Array.from({ length: 51 }, (_, i) => ({ id: i + 1, method: 'query', params: { path: 'healthcare.getMetrics', input: { hospitalId: H } } }));
    raw.send(frame);
    const replies = await Promise.all(frame.map((f) => raw.reply(f.id)));
    for (const r of replies.slice(0, 50)) assert.ok(r.result, `element ${r.id} should run: ${JSON.stringify(r)}`);
    assertErrorFrame(replies[50], { id: 51, code: 'BAD_REQUEST', message: 'Batch call exceeds maximum size' });
  });
});

describe('subscriptions', () => {
  test('duplicate subscription id -> BAD_REQUEST `Duplicate id <id>`; the first keeps delivering', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.nurse });
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });
    raw.send({ id: 1, method: 'subscription', params: { path: 'healthcare.subscribeToAlerts', input: { hospitalId: H } } });
    assertErrorFrame(await raw.reply(1), { id: 1, code: 'BAD_REQUEST', jsonCode: -32600, message: 'Duplicate id 1', path: 'healthcare.subscribeToAlerts' });
    await raw.subscribe('s', 'healthcare.subscribeToMetrics', { hospitalId: H, interval: 60000 });
    raw.send({ id: 's', method: 'subscription', params: { path: 'healthcare.subscribeToMetrics', input: { hospitalId: H } } });
    const dup = await raw.next((m) => m.json?.id === 's' && m.json.error, 'duplicate error for "s"');
    assertErrorFrame(dup.json, { id: 's', code: 'BAD_REQUEST', message: 'Duplicate id s', path: 'healthcare.subscribeToMetrics' });
    const c = ctx.client({ token: T.nurse });
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    const d = await raw.data(1);
    assert.equal(d.result.data.alertId, alert.id);
    assert.equal(raw.pending((m) => m.json?.id === 1 && m.json.result?.type === 'data').length, 0, 'delivered once, not twice');
  });

  test('subscription.stop -> stopped, nothing more for that id; the id can be reused; unknown ids are ignored', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.nurse });
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });
    await raw.subscribe(2, 'healthcare.subscribeToAlerts', { hospitalId: H });
    raw.send({ id: 1, method: 'subscription.stop' });
    assert.deepEqual(await raw.reply(1), { id: 1, result: { type: 'stopped' } });
    // unknown and already-stopped ids: silently ignored
    raw.send({ id: 999, method: 'subscription.stop' });
    raw.send({ id: 1, method: 'subscription.stop' });
    raw.send({ id: 'never', method: 'subscription.stop' });
    await raw.ping();
    const c = ctx.client({ token: T.nurse });
    const { alert } = await c.h.createAlert.mutate(alertInput(H));
    const d = await raw.data(2);
    assert.equal(d.result.data.alertId, alert.id);
    await barrier(raw, H);
    assert.equal(raw.pending((m) => [1, 999, 'never'].includes(m.json?.id)).length, 0, `nothing for stopped/unknown ids: ${raw.dump()}`);
    assert.equal(raw.pending((m) => m.json?.id === null).length, 0, 'no error for unknown stops');
    // the id is free again
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });
  });

  test('the app client unsubscribes with subscription.stop; other subscriptions keep going', async () => {
    const H = newHospital();
    const T = team(H);
    const c = ctx.client({ token: T.nurse });
    const a = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'a');
    const b = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'b');
    await Promise.all([a.waitStarted(), b.waitStarted()]);
    await c.h.createAlert.mutate(alertInput(H));
    await Promise.all([a.count(1), b.count(1)]);
    a.stop();
    await c.h.createAlert.mutate(alertInput(H, { roomNumber: '2' }));
    await b.count(2);
    const x = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'x');
    await x.waitStarted();
    await c.h.createAlert.mutate(alertInput(H, { roomNumber: '3' }));
    await Promise.all([b.count(3), x.count(1)]);
    assert.equal(a.items.length, 1, 'stopped subscription got nothing more');
  });

  test('more than 100 live subscriptions on one connection -> BAD_REQUEST', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.viewer });
    for (let start = 1; start <= 100; start += 50) {
      raw.send(Array.from({ length: 50 }, (_, i) => ({ id: start + i, method: 'subscription', params: { path: 'healthcare.subscribeToAlerts', input: { hospitalId: H } } })));
      for (let i = 0; i < 50; i++) assert.deepEqual((await raw.reply(start + i)).result, { type: 'started' });
    }
    raw.send({ id: 101, method: 'subscription', params: { path: 'healthcare.subscribeToAlerts', input: { hospitalId: H } } });
    assertErrorFrame(await raw.reply(101), { id: 101, code: 'BAD_REQUEST', message: 'Too many subscriptions on this connection (max 100)' });
    raw.send({ id: 100, method: 'subscription.stop' });
    assert.equal((await raw.reply(100)).result.type, 'stopped');
    await raw.subscribe(102, 'healthcare.subscribeToAlerts', { hospitalId: H });
  });

  test('a refused subscription (error before started) can be retried under the same id', async () => {
    const H = newHospital();
    const T = team(H);
    const raw = await ctx.raw({ token: T.viewer });
    raw.send({ id: 1, method: 'subscription', params: { path: 'healthcare.subscribeToAlerts', input: {} } });
    assertErrorFrame(await raw.reply(1), { id: 1, code: 'BAD_REQUEST' });
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });
  });
});

describe('server keep-alive (keepalive.ping-interval=500ms, pong-wait=300ms)', () => {
  const ka = useServer({ args: ['--keepalive.ping-interval=500ms', '--keepalive.pong-wait=300ms'] });

  test('a silent peer gets PING and is dropped; a peer that answers PONG (and the app client) stays', async () => {
    const H = newHospital();
    const T = team(H);
    const silent = await RawWs.open(ka.port, { token: T.viewer, label: 'silent' });
    const polite = await RawWs.open(ka.port, { token: T.viewer, label: 'polite' });
    ka.open.push(silent, polite);
    polite.autoPong = true;
    let closes = 0;
    const app = ka.client({ token: T.viewer, ws: { onClose: () => { closes += 1; } } });
    const s = collect(app.h.subscribeToAlerts, { hospitalId: H }, 'app');
    await s.waitStarted();
    await silent.next((m) => m.text === 'PING', 'server PING', 3000);
    await silent.waitClose(3000);
    // a whole ping cycle has passed for every connection opened before `silent` was dropped
    await polite.next((m) => m.text === 'PING', 'server PING (polite)', 3000);
    await polite.next((m) => m.text === 'PING', 'second server PING (polite)', 3000);
    assert.ok(polite.isOpen, 'a peer that answers stays connected');
    const r = await polite.call(1, 'query', 'healthcare.getMetrics', { hospitalId: H });
    assert.ok(r.result);
    assert.equal(closes, 0, 'the app client (answers PONG by itself) was not dropped');
    const { alert } = await ka.client({ token: T.nurse }).h.createAlert.mutate(alertInput(H));
    await s.count(1);
    assert.equal(s.items[0].alertId, alert.id);
  });
});
