// Clients for the e2e tests:
//  * appClient(): configured exactly like the original app (splitLink: subscriptions over a lazy
//    wsLink, everything else over httpBatchLink; superjson on the links), or the same without a
//    transformer (plain JSON);
//  * RawWs: a bare `ws` socket for frame-level checks;
//  * http(): fetch with the server's base URL;
//  * helpers to collect subscription items and to assert tRPC errors.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  splitLink,
  wsLink,
  TRPCClientError,
} from '@trpc/client';
import superjson from 'superjson';
import WebSocket from 'ws';

import { TLS, httpBase, wsBase } from './tls.mjs';

export { superjson, WebSocket, TRPCClientError };

/** Default time to wait for any single expected frame, event or reply. */
export const WAIT_MS = Number(process.env.VIGIL_E2E_WAIT_MS || 5000);

// ---------------------------------------------------------------------------------------------
// small utilities

/** A fresh hospital id, unique per test, so tests on one server never see each other's alerts. */
export function newHospital(tag = 'h') {
  return `${tag}-${randomUUID()}`;
}

/** Rejects after `ms` with a readable message; resolves with the promise's value otherwise. */
export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/** A promise with its resolve/reject exposed. */
export function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** Splits an event id `<epoch>-<seq>` into its parts (asserts the form). */
export function parseEventId(id) {
  assert.equal(typeof id, 'string', `event id must be a string, got ${JSON.stringify(id)}`);
  const m = /^([a-z0-9]{8})-(\d+)$/.exec(id);
  assert.ok(m, `event id ${JSON.stringify(id)} does not match <epoch>-<seq>`);
  return { epoch: m[1], seq: BigInt(m[2]) };
}

/** Asserts that the ids share one epoch and that their seqs strictly increase. */
export function assertIdsIncrease(ids, what = 'event ids') {
  const parsed = ids.map(parseEventId);
  for (let i = 1; i < parsed.length; i++) {
    assert.equal(parsed[i].epoch, parsed[0].epoch, `${what}: epoch changed at ${i}: ${ids.join(', ')}`);
    assert.ok(parsed[i].seq > parsed[i - 1].seq, `${what}: seq not strictly increasing at ${i}: ${ids.join(', ')}`);
  }
}

/** ISO-8601 UTC with milliseconds, as every timestamp on the wire. */
export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Converts a timestamp as delivered (Date in superjson mode, ISO string in plain mode) to ms. */
export function ms(v) {
  if (v instanceof Date) return v.getTime();
  assert.equal(typeof v, 'string', `expected a timestamp, got ${JSON.stringify(v)}`);
  assert.match(v, ISO_MS);
  return Date.parse(v);
}

/** Asserts a timestamp has the encoding of the mode: Date for superjson, ISO string for plain. */
export function assertTimestamp(v, sj, what = 'timestamp') {
  if (sj) {
    assert.ok(v instanceof Date, `${what} should arrive as a Date in superjson mode, got ${typeof v} ${JSON.stringify(v)}`);
    assert.ok(!Number.isNaN(v.getTime()), `${what} is an invalid Date`);
  } else {
    assert.equal(typeof v, 'string', `${what} should arrive as an ISO string in plain mode, got ${typeof v} ${JSON.stringify(v)}`);
    assert.match(v, ISO_MS, `${what} should be ISO-8601 UTC with milliseconds`);
  }
}

// ---------------------------------------------------------------------------------------------
// app-shaped tRPC client

/**
 * fetch with a deadline, so that a server that never answers fails the test with a readable
 * message instead of hanging it (the wire traffic is unchanged).
 */
async function fetchWithTimeout(url, opts = {}) {
  const timeout = AbortSignal.timeout(WAIT_MS * 2);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  try {
    return await fetch(url, { ...opts, signal });
  } catch (e) {
    if (timeout.aborted) throw new Error(`no HTTP response within ${WAIT_MS * 2} ms: ${opts.method || 'GET'} ${String(url).slice(0, 200)}`);
    throw e;
  }
}

/**
 * A client configured like the original app (lib/api/trpc.tsx).
 * @param {object} o
 * @param {number} o.port
 * @param {string|null|(() => string|null)} [o.token] bearer token (or a getter, read on every (re)connect and request)
 * @param {boolean} [o.superjson=true] use the superjson transformer on both links
 * @param {object} [o.ws] extra createWSClient options (onOpen, onClose, retryDelayMs, ...)
 * @param {boolean} [o.tls] wss:// and https:// (default: the suite's mode, lib/tls.mjs)
 */
export function appClient({ port, token = null, superjson: sj = true, ws: wsOpts = {}, tls = TLS }) {
  let current = token;
  const getToken = () => (typeof current === 'function' ? current() : current);
  const transformer = sj ? { transformer: superjson } : {};
  const wsClient = createWSClient({
    url: `${wsBase(port, tls)}/api/trpc`,
    connectionParams: async () => {
      const t = getToken();
      return t ? { authorization: `Bearer ${t}` } : {};
    },
    lazy: { enabled: true, closeMs: 30000 },
    WebSocket,
    ...wsOpts,
  });
  const client = createTRPCClient({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: wsLink({ client: wsClient, ...transformer }),
        false: httpBatchLink({
          url: `${httpBase(port, tls)}/api/trpc`,
          ...transformer,
          fetch: fetchWithTimeout,
          headers: () => {
            const t = getToken();
            const h = { 'Content-Type': 'application/json' };
            if (t) h.authorization = `Bearer ${t}`;
            return h;
          },
        }),
      }),
    ],
  });
  return {
    client,
    h: client.healthcare,
    wsClient,
    superjson: sj,
    setToken(t) { current = t; },
    async close() { await wsClient.close().catch(() => null); },
  };
}

/**
 * A client that sends everything (queries and mutations too) over one WebSocket, like
 * wsLink-only setups. Used to test queries and mutations over WS with the real client.
 */
export function wsOnlyClient({ port, token = null, superjson: sj = true, ws: wsOpts = {} }) {
  const wsClient = createWSClient({
    url: `${wsBase(port)}/api/trpc`,
    connectionParams: async () => (token ? { authorization: `Bearer ${token}` } : {}),
    lazy: { enabled: true, closeMs: 30000 },
    WebSocket,
    ...wsOpts,
  });
  const client = createTRPCClient({
    links: [wsLink({ client: wsClient, ...(sj ? { transformer: superjson } : {}) })],
  });
  return { client, h: client.healthcare, wsClient, superjson: sj, async close() { await wsClient.close().catch(() => null); } };
}

/**
 * Subscribes through a tRPC client procedure and collects what arrives.
 * `proc` is e.g. `c.h.subscribeToAlerts`.
 */
export function collect(proc, input, label = 'subscription') {
  const s = {
    label,
    items: [],
    errors: [],
    startedCount: 0,
    stoppedCount: 0,
    started: deferred(),
    error: deferred(),
    waiters: [],
    startWaiters: [],
  };
  s.error.promise.catch(() => null);
  const check = () => {
    s.waiters = s.waiters.filter((w) => {
      if (w.pred(s.items)) { w.resolve(s.items); return false; }
      return true;
    });
  };
  s.sub = proc.subscribe(input, {
    onStarted() {
      s.startedCount += 1;
      s.started.resolve();
      s.startWaiters = s.startWaiters.filter((w) => (s.startedCount >= w.n ? (w.resolve(), false) : true));
    },
    onData(d) { s.items.push(d); check(); },
    onError(e) {
      s.errors.push(e);
      s.error.resolve(e);
      for (const w of s.waiters) w.reject(new Error(`${label} failed: ${e.message} ${JSON.stringify(e.data)}`));
      s.waiters = [];
    },
    onStopped() { s.stoppedCount += 1; },
  });
  /** Resolves when `pred(items)` holds. */
  s.until = (pred, what = 'condition', timeout = WAIT_MS) => {
    if (pred(s.items)) return Promise.resolve(s.items);
    const d = deferred();
    s.waiters.push({ pred, resolve: d.resolve, reject: d.reject });
    return withTimeout(d.promise, timeout,
      `${label}: ${what} (got ${s.items.length} items: ${JSON.stringify(s.items.map(brief))})`);
  };
  /** Resolves when at least n items arrived. */
  s.count = (n, timeout) => s.until((it) => it.length >= n, `${n} items`, timeout);
  /** Resolves once `started` arrived n times (n > 1 after reconnects). */
  s.waitStarted = (timeout = WAIT_MS, n = 1) => {
    if (s.startedCount >= n) return Promise.resolve();
    const d = deferred();
    s.startWaiters.push({ n, resolve: d.resolve });
    return withTimeout(d.promise, timeout, `${label}: started #${n}`);
  };
  s.waitError = (timeout = WAIT_MS) => withTimeout(s.error.promise, timeout, `${label}: onError`);
  s.stop = () => s.sub.unsubscribe();
  return s;
}

/** A short description of an event or item for failure messages. */
export function brief(x) {
  if (x && typeof x === 'object' && 'type' in x && 'alertId' in x) {
    return `${x.id} ${x.type} ${String(x.alertId).slice(0, 8)}`;
  }
  return x;
}

/** Asserts that `promise` rejects with a TRPCClientError of the given code (and message). */
export async function rejectsTrpc(promise, { code, message, messageIncludes, messageMatch, httpStatus, path }) {
  let err;
  try {
    const v = await withTimeout(promise, WAIT_MS * 2, `a ${code} reply`);
    assert.fail(`expected ${code} error, got success: ${JSON.stringify(v)?.slice(0, 300)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    if (!(e instanceof TRPCClientError)) throw e;
    err = e;
  }
  assertTrpcError(err, { code, message, messageIncludes, messageMatch, httpStatus, path });
  return err;
}

/** Asserts the shape of a TRPCClientError. */
export function assertTrpcError(err, { code, message, messageIncludes, messageMatch, httpStatus, path }) {
  assert.ok(err instanceof TRPCClientError, `expected TRPCClientError, got ${err?.stack || err}`);
  const ctx = `error ${JSON.stringify({ message: err.message, data: err.data })}`;
  if (code) assert.equal(err.data?.code, code, ctx);
  if (httpStatus) assert.equal(err.data?.httpStatus, httpStatus, ctx);
  if (message !== undefined) assert.equal(err.message, message, ctx);
  if (messageIncludes) for (const m of [].concat(messageIncludes)) assert.ok(err.message.includes(m), `message should include ${JSON.stringify(m)}; ${ctx}`);
  if (messageMatch) assert.match(err.message, messageMatch, ctx);
  if (path) assert.equal(err.data?.path, path, ctx);
  assert.ok(!('stack' in (err.data || {})), `data.stack must never be sent; ${ctx}`);
}

// ---------------------------------------------------------------------------------------------
// raw WebSocket

/**
 * A bare WebSocket with an inbox. Frames are kept as {text, json, binary}; next(pred) takes the
 * first unconsumed frame that matches (waiting for it if needed).
 */
export class RawWs {
  constructor(ws, label) {
    this.ws = ws;
    this.label = label;
    this.inbox = [];
    this.all = [];
    this.waiters = [];
    this.closeInfo = undefined;
    this.closed = deferred();
    this.autoPong = false;
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? null : data.toString('utf8');
      let json;
      if (text !== null && text !== 'PING' && text !== 'PONG') {
        try { json = JSON.parse(text); } catch { json = undefined; }
      }
      const msg = { text, json, binary: isBinary };
      if (text === 'PING' && this.autoPong) ws.send('PONG');
      this.all.push(msg);
      this.inbox.push(msg);
      this.pump();
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString('utf8') };
      this.closed.resolve(this.closeInfo);
      for (const w of this.waiters) w.reject(new Error(`${this.label}: socket closed (${code} ${this.closeInfo.reason}) while waiting for ${w.what}; got: ${this.dump()}`));
      this.waiters = [];
    });
    ws.on('error', () => { /* surfaced through close */ });
  }

  /**
   * Opens a socket. `connectionParams`: undefined = plain URL and no params frame; an object or
   * null = `?connectionParams=1` and a first `{"method":"connectionParams","data":…}` frame.
   * `token` is a shorthand for connectionParams {authorization: 'Bearer <token>'}.
   */
  static async open(port, { path = '/api/trpc', token, connectionParams, headers, query, label = 'raw', tls = TLS, openTimeout = WAIT_MS } = {}) {
    let params = connectionParams;
    if (token !== undefined && params === undefined) params = token ? { authorization: `Bearer ${token}` } : {};
    const q = [];
    if (params !== undefined) q.push('connectionParams=1');
    if (query) q.push(query);
    const url = `${wsBase(port, tls)}${path}${q.length ? `?${q.join('&')}` : ''}`;
    const ws = new WebSocket(url, { headers });
    const raw = new RawWs(ws, label);
    await withTimeout(new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', (req, res) => {
        res.resume();
        req.destroy();
        reject(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode}`), { statusCode: res.statusCode }));
      });
      ws.once('error', reject);
    }), openTimeout, `${label}: open ${url}`);
    if (params !== undefined) raw.send({ method: 'connectionParams', data: params });
    return raw;
  }

  pump() {
    this.waiters = this.waiters.filter((w) => {
      const i = this.inbox.findIndex(w.pred);
      if (i < 0) return true;
      const [m] = this.inbox.splice(i, 1);
      w.resolve(m);
      return false;
    });
  }

  /** Sends a string as-is, a Buffer as a binary frame, anything else as JSON text. */
  send(x) {
    if (Buffer.isBuffer(x)) this.ws.send(x, { binary: true });
    else this.ws.send(typeof x === 'string' ? x : JSON.stringify(x));
  }

  /** Takes the first unconsumed frame matching pred (a function of the message, or of its json). */
  next(pred = () => true, what = 'a frame', timeout = WAIT_MS) {
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    if (this.closeInfo) return Promise.reject(new Error(`${this.label}: socket closed (${this.closeInfo.code}) before ${what}; got: ${this.dump()}`));
    const d = deferred();
    const w = { pred, resolve: d.resolve, reject: d.reject, what };
    this.waiters.push(w);
    return withTimeout(d.promise, timeout, `${this.label}: ${what}; got so far: ${this.dump()}`)
      .catch((e) => { this.waiters = this.waiters.filter((x) => x !== w); throw e; });
  }

  /** The next JSON frame with the given id (any kind: result or error). */
  async reply(id, what, timeout) {
    const m = await this.next((m) => m.json && !Array.isArray(m.json) && m.json.id === id, what || `reply for id ${JSON.stringify(id)}`, timeout);
    return m.json;
  }

  /** The next data frame of subscription `id`. */
  async data(id, timeout) {
    const m = await this.next((m) => m.json?.id === id && m.json?.result?.type === 'data', `data frame for subscription ${JSON.stringify(id)}`, timeout);
    return m.json;
  }

  /** n data frames of subscription `id`, in arrival order. */
  async dataN(id, n, timeout) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await this.data(id, timeout));
    return out;
  }

  /** The next `{"id":null,"error":…}` frame. */
  async nullError(what = 'an id:null error', timeout) {
    const m = await this.next((m) => m.json && m.json.id === null && m.json.error, what, timeout);
    return m.json;
  }

  /** Sends PING and waits for PONG. */
  async ping(timeout) {
    this.send('PING');
    await this.next((m) => m.text === 'PONG', 'PONG', timeout);
  }

  /** Sends a request and returns its reply. */
  async call(id, method, path, input, extra = {}) {
    const params = { path, ...extra };
    if (input !== undefined) params.input = input;
    this.send({ id, method, params });
    return this.reply(id);
  }

  /** Starts a subscription and waits for `started` (fails on an error reply). */
  async subscribe(id, path, input, extra = {}) {
    const params = { path, ...extra };
    if (input !== undefined) params.input = input;
    this.send({ id, method: 'subscription', params });
    const r = await this.reply(id, `started for subscription ${JSON.stringify(id)}`);
    assert.deepEqual(r.result, { type: 'started' }, `subscription ${JSON.stringify(id)} did not start: ${JSON.stringify(r)}`);
    return r;
  }

  /** Unconsumed frames that match pred (no waiting). */
  pending(pred = () => true) { return this.inbox.filter(pred); }

  dump() { return this.all.slice(-12).map((m) => (m.binary ? '<binary>' : m.text)).join(' | ').slice(0, 3000); }

  waitClose(timeout = WAIT_MS) { return withTimeout(this.closed.promise, timeout, `${this.label}: close`); }

  get isOpen() { return this.ws.readyState === WebSocket.OPEN; }

  /** Closes (waiting up to 2 s for the close handshake, then terminating). */
  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    return withTimeout(this.closed.promise, 2000, 'close').catch(() => { this.ws.terminate(); });
  }

  terminate() { this.ws.terminate(); }
}

/** Asserts a raw error frame's shape (plain JSON mode). */
export function assertErrorFrame(frame, { id, code, jsonCode, httpStatus, message, messageIncludes, path }) {
  const ctx = `frame ${JSON.stringify(frame)}`;
  if (id !== undefined) assert.deepEqual(frame.id, id, ctx);
  assert.ok(frame.error, `expected an error frame; ${ctx}`);
  assert.ok(!('result' in frame), ctx);
  const e = frame.error.json && !('message' in frame.error) ? frame.error.json : frame.error;
  if (code) assert.equal(e.data?.code, code, ctx);
  if (jsonCode !== undefined) assert.equal(e.code, jsonCode, ctx);
  if (httpStatus !== undefined) assert.equal(e.data?.httpStatus, httpStatus, ctx);
  if (message !== undefined) assert.equal(e.message, message, ctx);
  if (messageIncludes) for (const m of [].concat(messageIncludes)) assert.ok(e.message.includes(m), `message should include ${JSON.stringify(m)}; ${ctx}`);
  if (path !== undefined) assert.equal(e.data?.path, path, ctx);
  assert.ok(!('stack' in (e.data || {})), `data.stack must never be sent; ${ctx}`);
  return e;
}

// ---------------------------------------------------------------------------------------------
// HTTP

/**
 * fetch against the server. Returns {status, headers, text, json}. `token` adds the bearer header.
 */
export async function http(port, pathAndQuery, { method = 'GET', token, headers = {}, body, tls = TLS } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const res = await fetch(`${httpBase(port, tls)}${pathAndQuery}`, {
    method,
    headers: h,
    signal: AbortSignal.timeout(WAIT_MS * 2),
    // A Buffer body keeps fetch from adding a Content-Type of its own (a string would get text/plain).
    body: body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

/** Query string `input=` value for an object. */
export const enc = (v) => encodeURIComponent(JSON.stringify(v));

/** Asserts an HTTP error body `{"error":{…}}` (plain). */
export function assertHttpError(body, { code, message, messageIncludes, httpStatus, path }) {
  const ctx = `body ${JSON.stringify(body)}`;
  assert.ok(body && body.error, `expected {"error":…}; ${ctx}`);
  const e = body.error.json && !('message' in body.error) ? body.error.json : body.error;
  if (code) assert.equal(e.data?.code, code, ctx);
  if (httpStatus) assert.equal(e.data?.httpStatus, httpStatus, ctx);
  if (message !== undefined) assert.equal(e.message, message, ctx);
  if (messageIncludes) for (const m of [].concat(messageIncludes)) assert.ok(e.message.includes(m), `message should include ${JSON.stringify(m)}; ${ctx}`);
  if (path !== undefined) assert.equal(e.data?.path, path, ctx);
  assert.ok(!('stack' in (e.data || {})), ctx);
  return e;
}

// ---------------------------------------------------------------------------------------------
// domain shortcuts

/** The keys every Alert output carries (docs/api.md "Alert"). */
export const ALERT_KEYS = [
  'id', 'hospitalId', 'roomNumber', 'alertType', 'urgencyLevel', 'description', 'status',
  'escalationLevel', 'currentEscalationTier', 'nextEscalationAt', 'targetDepartment', 'patientId',
  'createdBy', 'createdAt', 'updatedAt', 'acknowledgedBy', 'acknowledgedAt', 'acknowledgementNotes',
  'resolvedBy', 'resolvedAt', 'resolution',
];

/** The exact keys of a Metrics item. */
export const METRICS_KEYS = [
  'activeAlerts', 'criticalAlerts', 'staffOnline', 'responseRate', 'avgResponseTime', 'avgResponseTimeSec', 'timestamp',
].sort();

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Asserts all documented Alert keys are present and timestamps are encoded per mode. */
export function assertAlertShape(a, sj, what = 'alert') {
  assert.ok(a && typeof a === 'object', `${what} should be an object, got ${JSON.stringify(a)}`);
  for (const k of ALERT_KEYS) assert.ok(k in a, `${what} lacks key ${k}: ${JSON.stringify(a)}`);
  assert.match(a.id, UUID_RE, `${what}.id should be a lowercase UUID v4`);
  assertTimestamp(a.createdAt, sj, `${what}.createdAt`);
  assertTimestamp(a.updatedAt, sj, `${what}.updatedAt`);
  for (const k of ['nextEscalationAt', 'acknowledgedAt', 'resolvedAt']) {
    if (a[k] !== null) assertTimestamp(a[k], sj, `${what}.${k}`);
  }
  assert.equal(a.escalationLevel, a.currentEscalationTier, `${what}: escalationLevel != currentEscalationTier`);
}

/** A valid createAlert input for a hospital. */
export function alertInput(hospitalId, over = {}) {
  return { hospitalId, roomNumber: 'ICU-1', alertType: 'cardiac_arrest', urgencyLevel: 1, description: 'e2e patient collapsed', ...over };
}
