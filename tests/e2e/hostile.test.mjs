// Hostile clients (docs/operations.md "Hostile input"): slowloris heads and bodies, half-open
// sockets, deeply nested JSON, batches at the limit, binary, fragmented and invalid UTF-8
// frames, path traversal against the static files, header floods. For each: the offender gets a
// clear error or close, the server stays up, its memory stays bounded (VmRSS), and a normal
// client working at the same time is not affected.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { newHospital, WAIT_MS } from './lib/clients.mjs';
import { connectRaw } from './lib/tls.mjs';

const staticDir = mkdtempSync(path.join(os.tmpdir(), 'vigil-hostile-static-'));
writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>vigil</title>');
after(() => rmSync(staticDir, { recursive: true, force: true }));

/** Resident memory of a process in KiB (VmRSS of /proc/<pid>/status). */
function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

/** A raw TCP socket to the server, with everything it received and when it closed. */
function rawSocket(port) {
  return new Promise((resolve, reject) => {
    const sock = connectRaw(port, '127.0.0.1');
    const t0 = Date.now();
    const r = { sock, data: Buffer.alloc(0), closedAfterMs: undefined };
    r.closed = new Promise((done) => sock.on('close', () => { r.closedAfterMs = Date.now() - t0; done(r); }));
    sock.on('data', (d) => { r.data = Buffer.concat([r.data, d]); });
    sock.on('error', () => { /* a reset shows as close */ });
    sock.once('connect', () => resolve(r));
    sock.once('error', reject);
  });
}

/** Sends one raw request and resolves {status, head, body} once the server closes. */
async function rawRequest(port, text, timeout = WAIT_MS * 2) {
  const r = await rawSocket(port);
  r.sock.end(text);
  await withDeadline(r.closed, timeout, 'server to answer and close');
  const all = r.data.toString('latin1');
  const end = all.indexOf('\r\n\r\n');
  return {
    status: all.startsWith('HTTP/1.1 ') ? Number(all.slice(9, 12)) : undefined,
    head: end < 0 ? all : all.slice(0, end),
    body: end < 0 ? '' : all.slice(end + 4),
    raw: all,
  };
}

function withDeadline(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

describe('hostile clients (http.body-timeout=2s, static files served)', () => {
  const ctx = useServer({ args: ['--http.body-timeout=2s', `--http.static-dir=${staticDir}`] });

  /**
   * Runs `attack` while a normal client keeps calling getMetrics over WebSocket and GET /health;
   * asserts that every normal call succeeded, at least `minCalls` of them, and returns the
   * attack's result.
   */
  async function whileNormalClientWorks(attack, minCalls = 3) {
    const H = newHospital();
    const raw = await ctx.raw({ token: team(H).viewer, label: 'normal' });
    let stop = false;
    let calls = 0;
    let id = 0;
    const normal = (async () => {
      while (!stop) {
        const r = await raw.call(++id, 'query', 'healthcare.getMetrics', { hospitalId: H });
        assert.ok(r.result, `normal client's getMetrics failed: ${JSON.stringify(r)}`);
        const h = await ctx.http('/health');
        assert.equal(h.status, 200);
        calls++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      return await attack();
    } finally {
      // Wait for at least minCalls completed calls (a stuck server fails here by timeout).
      const t0 = Date.now();
      while (calls < minCalls && Date.now() - t0 < WAIT_MS * 2) await new Promise((r) => setTimeout(r, 20));
      stop = true;
      await normal;
      assert.ok(calls >= minCalls, `the normal client completed only ${calls} calls`);
    }
  }

  test('slowloris head: a request head trickled a line at a time is closed within ~10 s', async () => {
    const before = rssKiB(ctx.server.pid);
    const socks = await Promise.all(Array.from({ length: 50 }, () => rawSocket(ctx.port)));
    const timers = socks.map((s) => {
      s.sock.write('GET /health HTTP/1.1\r\nHost: x\r\n');
      return setInterval(() => { if (!s.sock.destroyed) s.sock.write(`X-Drip-${Date.now()}: 1\r\n`); }, 500);
    });
    try {
      const closed = await whileNormalClientWorks(() => withDeadline(Promise.all(socks.map((s) => s.closed)), 20000, 'slow heads closed'));
      for (const s of closed) {
        assert.ok(s.closedAfterMs < 15000, `closed after ${s.closedAfterMs} ms`);
        assert.equal(s.data.length, 0, 'an incomplete head gets no answer');
      }
    } finally {
      timers.forEach(clearInterval);
    }
    assert.ok(rssKiB(ctx.server.pid) - before < 64 * 1024, 'memory stays bounded');
  });

  test('slowloris body: a POST body trickled a byte at a time gets 408 after http.body-timeout', async () => {
    const H = newHospital();
    const socks = await Promise.all(Array.from({ length: 20 }, () => rawSocket(ctx.port)));
    const timers = socks.map((s) => {
      s.sock.write(`POST /api/trpc/healthcare.createAlert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`
        + `Authorization: Bearer ${team(H).operator}\r\nContent-Length: 1000\r\n\r\n{`);
      return setInterval(() => { if (!s.sock.destroyed) s.sock.write(' '); }, 200);
    });
    try {
      const closed = await whileNormalClientWorks(() => withDeadline(Promise.all(socks.map((s) => s.closed)), 10000, 'slow bodies answered'));
      for (const s of closed) {
        const text = s.data.toString('latin1');
        assert.match(text, /^HTTP\/1\.1 408 /, text);
        assert.match(text, /Request body not received within http\.body-timeout \(2000 ms\)/);
        assert.ok(s.closedAfterMs >= 1500 && s.closedAfterMs < 6000, `closed after ${s.closedAfterMs} ms`);
      }
    } finally {
      timers.forEach(clearInterval);
    }
    // Nothing was created by the cut-off requests.
    const r = await ctx.http(`/api/trpc/healthcare.getActiveAlerts?input=${encodeURIComponent(JSON.stringify({ hospitalId: H }))}`, { token: team(H).viewer });
    assert.equal(r.status, 200);
    assert.equal(r.json.result.data.alerts.length, 0);
  });

  test('a POST whose body arrives in time is served (the body timer is cancelled)', async () => {
    const H = newHospital();
    const body = JSON.stringify({ hospitalId: H, roomNumber: '101', alertType: 'code_blue', urgencyLevel: 3 });
    const r = await rawSocket(ctx.port);
    r.sock.write(`POST /api/trpc/healthcare.createAlert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`
      + `Authorization: Bearer ${team(H).operator}\r\nContent-Length: ${body.length}\r\n\r\n`);
    await new Promise((res) => setTimeout(res, 1000));
    r.sock.write(body);
    // The reply arrives, and the connection is kept alive past the body timeout.
    const t0 = Date.now();
    while (!r.data.toString('latin1').includes('\r\n\r\n') && Date.now() - t0 < WAIT_MS) await new Promise((res) => setTimeout(res, 20));
    assert.match(r.data.toString('latin1'), /^HTTP\/1\.1 200 /);
    await new Promise((res) => setTimeout(res, 2500));
    assert.equal(r.closedAfterMs, undefined, 'a served keep-alive connection is not cut by the body timer');
    r.sock.destroy();
  });

  test('half-open sockets: 200 connections that send nothing are closed, memory stays bounded', async () => {
    // 200: below libwebsockets' pool of 256 request-head buffers (max_http_header_pool). Beyond
    // it, new connections wait for a buffer until an idle one is closed (at most ~10 s): see
    // docs/operations.md "Hostile input".
    const before = rssKiB(ctx.server.pid);
    const socks = await Promise.all(Array.from({ length: 200 }, () => rawSocket(ctx.port)));
    const closed = await whileNormalClientWorks(() => withDeadline(Promise.all(socks.map((s) => s.closed)), 20000, 'idle sockets closed'));
    for (const s of closed) assert.ok(s.closedAfterMs < 15000, `closed after ${s.closedAfterMs} ms`);
    assert.ok(rssKiB(ctx.server.pid) - before < 64 * 1024, 'memory stays bounded');
  });

  test('deeply nested JSON: 60k "[" in a frame and 100k "[" in a POST body are PARSE_ERRORs', async () => {
    const H = newHospital();
    await whileNormalClientWorks(async () => {
      const raw = await ctx.raw({ token: team(H).viewer });
      raw.send('['.repeat(60000));
      const e = await raw.nullError();
      assert.equal(e.error.data.code, 'PARSE_ERROR');
      raw.send(`{"id":1,"method":"query","params":{"path":"healthcare.getMetrics","input":${'['.repeat(60000)}}}`);
      assert.equal((await raw.nullError()).error.data.code, 'PARSE_ERROR');
      // Over the frame size (64 KiB): 1009.
      raw.send('['.repeat(100000));
      assert.equal((await raw.waitClose()).code, 1009);
      const r = await ctx.http('/api/trpc/healthcare.createAlert', { method: 'POST', token: team(H).operator, headers: { 'content-type': 'application/json' }, body: '['.repeat(100000) });
      assert.equal(r.status, 400);
      assert.match(r.json.error.message, /JSON document/);
    });
  });

  test('batches at the limit: 50 requests in a frame are all answered, the 51st is refused', async () => {
    const H = newHospital();
    const raw = await ctx.raw({ token: team(H).viewer });
    const frame = (n) => Array.from({ length: n }, (_, i) => ({ id: i + 1, method: 'query', params: { path: 'healthcare.getMetrics', input: { hospitalId: H } } }));
    raw.send(frame(50));
    const replies = await Promise.all(frame(50).map((f) => raw.reply(f.id)));
    assert.ok(replies.every((r) => r.result), 'all 50 answered');
    raw.send(frame(51).map((f) => ({ ...f, id: f.id + 100 })));
    const more = await Promise.all(frame(51).map((f) => raw.reply(f.id + 100)));
    assert.equal(more.filter((r) => r.result).length, 50);
    assert.equal(more[50].error.message, 'Batch call exceeds maximum size');
    // The same over HTTP.
    const input = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [i, { hospitalId: H }]));
    const names = Array(51).fill('healthcare.getMetrics').join(',');
    const r = await ctx.http(`/api/trpc/${names}?batch=1&input=${encodeURIComponent(JSON.stringify(input))}`, { token: team(H).viewer });
    assert.equal(r.json.length, 51);
    assert.equal(r.json.filter((x) => x.result).length, 50);
    assert.equal(r.json[50].error.message, 'Batch call exceeds maximum size');
  });

  test('binary frames are refused with PARSE_ERROR; the connection stays usable', async () => {
    const H = newHospital();
    const raw = await ctx.raw({ token: team(H).viewer });
    raw.send(Buffer.from([0x00, 0xff, 0x7b, 0x7d]));
    const e = await raw.nullError();
    assert.equal(e.error.data.code, 'PARSE_ERROR');
    assert.equal(e.error.message, 'Binary frames are not supported');
    const r = await raw.call(1, 'query', 'healthcare.getMetrics', { hospitalId: H });
    assert.ok(r.result);
  });

  test('fragmented frames are reassembled; fragments adding up over the frame size close with 1009', async () => {
    const H = newHospital();
    const raw = await ctx.raw({ token: team(H).viewer });
    const text = JSON.stringify({ id: 7, method: 'query', params: { path: 'healthcare.getMetrics', input: { hospitalId: H } } });
    const parts = [text.slice(0, 5), text.slice(5, 20), text.slice(20)];
    parts.forEach((p, i) => raw.ws.send(p, { fin: i === parts.length - 1 }));
    assert.ok((await raw.reply(7)).result, 'the reassembled request is answered');
    const chunk = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 5; i++) raw.ws.send(chunk, { fin: false });
    assert.equal((await raw.waitClose()).code, 1009);
  });

  test('invalid UTF-8 in a text frame is a PARSE_ERROR (or a 1007 close), never a crash', async () => {
    const H = newHospital();
    const raw = await ctx.raw({ token: team(H).viewer });
    const bad = Buffer.concat([Buffer.from('{"id":1,"method":"query","params":{"path":"healthcare.getMetrics","input":{"hospitalId":"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}}}')]);
    raw.ws.send(bad, { binary: false });
    const m = await Promise.race([raw.nullError().then((e) => ({ e })), raw.closed.promise.then((c) => ({ c }))]);
    if (m.c) assert.equal(m.c.code, 1007);
    else {
      assert.equal(m.e.error.data.code, 'PARSE_ERROR');
      const r = await raw.call(2, 'query', 'healthcare.getMetrics', { hospitalId: H });
      assert.ok(r.result, 'the connection stays usable');
    }
  });

  test('path traversal against the static files: every form is 404, nothing outside is served', async () => {
    const ok = await rawRequest(ctx.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(ok.status, 200);
    assert.match(ok.body, /<title>vigil<\/title>/);
    for (const p of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
      '/..%2f..%2fetc%2fpasswd', '/%252e%252e/etc/passwd', '/.%2e/.%2e/etc/passwd', '/index.html%00.png',
      '//etc/passwd', '/./../etc/passwd', `/${'../'.repeat(50)}etc/passwd`, '/..\\..\\etc\\passwd']) {
      const r = await rawRequest(ctx.port, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.ok(r.status === 404 || r.status === 400 || r.status === 403 || r.status === undefined, `${p}: ${r.head}`);
      assert.doesNotMatch(r.raw, /root:/, `${p} served /etc/passwd`);
    }
  });

  test('header floods: a head over 16 KiB or with thousands of headers is dropped; the server stays up', async () => {
    const before = rssKiB(ctx.server.pid);
    await whileNormalClientWorks(async () => {
      const many = Array.from({ length: 5000 }, (_, i) => `X-H${i}: v`).join('\r\n');
      const r1 = await rawRequest(ctx.port, `GET /health HTTP/1.1\r\nHost: x\r\n${many}\r\n\r\n`);
      assert.notEqual(r1.status, 200, 'a 5000-header head is not served');
      const big = `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`;
      const r2 = await rawRequest(ctx.port, big);
      assert.notEqual(r2.status, 200, 'a 64 KiB header is not served');
      // Repeated Content-Length lines that differ: 400; hundreds of them: dropped by lws.
      const cl = (n) => Array.from({ length: n }, () => 'Content-Length: 5').join('\r\n');
      const r3 = await rawRequest(ctx.port, `POST /api/trpc/healthcare.createAlert HTTP/1.1\r\nHost: x\r\n${cl(10)}\r\nContent-Length: 6\r\n\r\n{}`);
      assert.equal(r3.status, 400, r3.head);
      const r4 = await rawRequest(ctx.port, `POST /api/trpc/healthcare.createAlert HTTP/1.1\r\nHost: x\r\n${cl(500)}\r\n\r\n{}`);
      assert.ok(r4.status === 400 || r4.status === undefined, r4.head);
      // Many of them at once.
      await Promise.all(Array.from({ length: 50 }, () => rawRequest(ctx.port, big)));
    });
    assert.ok(rssKiB(ctx.server.pid) - before < 64 * 1024, 'memory stays bounded');
  });
});
