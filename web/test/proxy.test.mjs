// The browser tests' forwarding proxy (lib/proxy.mjs) while no vigild port is known: a test that
// replaces stack.server (another database behind the same address) leaves the proxy without an
// upstream until the new server's start() resolves. A WebSocket upgrade in that window threw in
// the proxy and was never answered: the browser's socket stayed CONNECTING for minutes and the
// dashboard never left polling (the resync-banner test missed 'resynced' for 30 s). No browser.

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';

import { Proxy } from './lib/proxy.mjs';

/** Sends `request` raw; resolves with what came back once the proxy closed the socket. */
function exchange(port, request, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d) => { got += d; });
    s.on('close', () => { clearTimeout(t); resolve(got); });
    s.on('error', () => {});
    const t = setTimeout(() => { s.destroy(); reject(new Error(`no answer and not closed within ${timeoutMs} ms (got ${JSON.stringify(got)})`)); }, timeoutMs);
  });
}

const UPGRADE = 'GET /api/trpc HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
  + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

test('without a vigild port the proxy refuses an upgrade at once (502, closed) and answers HTTP with 502', async () => {
  let upstream;
  const proxy = await new Proxy(() => upstream).listen();
  try {
    const answer = await exchange(proxy.port, UPGRADE);
    assert.match(answer, /^HTTP\/1\.1 502 /);
    assert.equal(proxy.upgradesWithoutUpstream, 1);
    assert.equal(proxy.openWebSockets, 0);

    const res = await fetch(`${proxy.url}/api/trpc/healthcare.getMetrics`);
    assert.equal(res.status, 502);
    await res.text();
  } finally {
    await proxy.close();
  }
});
