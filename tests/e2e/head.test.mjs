// HEAD on the operational endpoints (operations issue #17): load balancers and uptime probes send
// HEAD /health and HEAD /ready. The answer has the status and headers of GET and no body, and the
// keep-alive connection stays usable for the next request.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer } from './lib/fixture.mjs';
import { connectRaw } from './lib/tls.mjs';

/** One keep-alive connection that reads responses whose framing the caller states. */
class Conn {
  static open(port) {
    return new Promise((resolve, reject) => {
      const c = new Conn();
      c.sock = connectRaw(port, '127.0.0.1', () => resolve(c));
      c.sock.on('error', reject);
      c.buf = Buffer.alloc(0);
      c.waiters = [];
      c.sock.on('data', (d) => { c.buf = Buffer.concat([c.buf, d]); c.wake(); });
    });
  }
  wake() { for (const w of this.waiters.splice(0)) w(); }
  /** Waits until `pred(buf)` is a number n and takes n bytes. */
  async take(pred) {
    for (;;) {
      const n = pred(this.buf);
      if (n !== undefined) {
        const out = this.buf.subarray(0, n).toString('latin1');
        this.buf = this.buf.subarray(n);
        return out;
      }
      await new Promise((r, j) => {
        const t = setTimeout(() => j(new Error(`timeout; have ${JSON.stringify(this.buf.toString('latin1'))}`)), 5000);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }
  /** Sends a request and reads the head (status line and headers). */
  async request(method, path) {
    this.sock.write(`${method} ${path} HTTP/1.1\r\nHost: test\r\n\r\n`);
    const head = await this.take((b) => { const i = b.indexOf('\r\n\r\n'); return i < 0 ? undefined : i + 4; });
    const lines = head.trim().split('\r\n');
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    return { status: Number(lines[0].split(' ')[1]), headers };
  }
  body(len) { return this.take((b) => (b.length >= len ? len : undefined)); }
  close() { this.sock.destroy(); }
}

describe('HEAD /health, /ready, /metrics', () => {
  const ctx = useServer();

  test('status and headers as GET, no body, the connection stays usable', async () => {
    const c = await Conn.open(ctx.port);
    try {
      for (const path of ['/health', '/ready', '/metrics']) {
        const get = await c.request('GET', path);
        const body = await c.body(Number(get.headers['content-length']));
        const head = await c.request('HEAD', path);
        assert.equal(head.status, get.status, path);
        assert.equal(head.status, 200, path);
        assert.equal(head.headers['content-type'], get.headers['content-type'], path);
        assert.ok(Number(head.headers['content-length']) > 0, `${path}: content-length of the GET body`);
        if (path === '/ready') assert.equal(head.headers['content-length'], String(body.length));
        // No body after the HEAD head: the next bytes on the connection are the next response.
        const next = await c.request('GET', '/ready');
        assert.equal(next.status, 200, `${path}: the response after HEAD starts at once`);
        assert.equal(await c.body(Number(next.headers['content-length'])), '{"status":"ready"}');
      }
    } finally {
      c.close();
    }
  });

  test('HEAD on a tRPC path or an unknown path has no body either', async () => {
    const c = await Conn.open(ctx.port);
    try {
      const trpc = await c.request('HEAD', '/api/trpc/healthcare.getMetrics');
      assert.equal(trpc.status, 405);
      const unknown = await c.request('HEAD', '/nope');
      assert.equal(unknown.status, 404);
      const next = await c.request('GET', '/health');
      assert.equal(next.status, 200);
    } finally {
      c.close();
    }
  });
});
