// Limits and close codes (docs/api.md), with small limits configured so they are quick to reach.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { assertErrorFrame, assertHttpError, enc, newHospital } from './lib/clients.mjs';
import { connectRaw } from './lib/tls.mjs';

describe('limits (limits.rate=20, rate-burst=20, frame-size=4KiB)', () => {
  const ctx = useServer({
    args: ['--limits.rate=20', '--limits.rate-burst=20', '--limits.frame-size=4KiB'],
  });

  test('an inbound frame over limits.frame-size closes the connection with 1009', async () => {
    const H = newHospital();
    const raw = await ctx.raw({ token: team(H).viewer });
    raw.send({ id: 1, method: 'query', params: { path: 'healthcare.getMetrics', input: { hospitalId: H, pad: 'x'.repeat(5000) } } });
    const info = await raw.waitClose();
    assert.equal(info.code, 1009);
  });

  test('request rate over the limit -> TOO_MANY_REQUESTS; PING does not count', async () => {
    const H = newHospital();
    const raw = await ctx.raw({ token: team(H).viewer });
    for (let i = 0; i < 30; i++) raw.send('PING');
    const frame = Array.from({ length: 30 }, (_, i) => ({ id: i + 1, method: 'query', params: { path: 'healthcare.getMetrics', input: { hospitalId: H } } }));
    raw.send(frame);
    const replies = await Promise.all(frame.map((f) => raw.reply(f.id)));
    const limited = replies.filter((r) => r.error?.data?.code === 'TOO_MANY_REQUESTS');
    assert.ok(replies.filter((r) => r.result).length >= 20, 'the burst is served');
    assert.ok(limited.length >= 1, 'requests beyond the burst are refused');
    assertErrorFrame(limited[0], { code: 'TOO_MANY_REQUESTS', jsonCode: -32029, httpStatus: 429 });
    assert.match(limited[0].error.message, /^Rate limit exceeded\. Please try again in \d+ seconds\.$/);
    const r = await ctx.http(`/api/trpc/healthcare.getMetrics?batch=1&input=${enc({ 0: { hospitalId: H } })}`, { token: team(H).viewer });
    assert.ok([200, 429].includes(r.status));
    if (r.status === 429) assertHttpError(r.json[0], { code: 'TOO_MANY_REQUESTS' });
  });
  test('the HTTP rate limit holds across the requests of one keep-alive connection', async () => {
    // lws re-zeroes its per-session storage for every request of a keep-alive connection; the
    // connection's state (and its token bucket) must survive that.
    const H = newHospital();
    const token = team(H).viewer;
    const sock = connectRaw(ctx.port, '127.0.0.1');
    await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    let buf = Buffer.alloc(0);
    const waiters = [];
    sock.on('data', (d) => { buf = Buffer.concat([buf, d]); while (waiters.length && takeReply()); });
    function takeReply() {
      const text = buf.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const len = Number(/content-length: (\d+)/i.exec(text.slice(0, end))[1]);
      if (buf.length < end + 4 + len) return false;
      const status = Number(text.slice(9, 12));
      buf = buf.subarray(end + 4 + len);
      waiters.shift()(status);
      return true;
    }
    const statuses = [];
    try {
      for (let i = 0; i < 30; i++) {
        const reply = new Promise((resolve) => waiters.push(resolve));
        sock.write(`GET /api/trpc/healthcare.getMetrics?input=${enc({ hospitalId: H })} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
        statuses.push(await reply);
      }
    } finally {
      sock.destroy();
    }
    assert.ok(statuses.slice(0, 20).every((s) => s === 200), statuses.join(','));
    assert.ok(statuses.includes(429), `no 429 in ${statuses.join(',')}`);
  });
});
