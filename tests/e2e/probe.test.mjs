// Independent probes of today's changes, written as an outside test suite would: each test states
// what docs/api.md or docs/operations.md promise and checks it against a real vigild. Tests that
// fail here are defects found by the probe (see the report on branch h-probe).

import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { JETSTREAM, startServer } from './lib/server.mjs';
import { RawWs, newHospital, withTimeout } from './lib/clients.mjs';
import { createMany } from './lib/load.mjs';
import { mintToken } from './lib/tokens.mjs';
import { connectRaw } from './lib/tls.mjs';

describe('graceful shutdown with a client that stopped reading', () => {
  // docs/api.md "Close codes": on SIGTERM queued frames are written for at most
  // shutdown.drain-timeout, then the connection is closed. docs/operations.md: a clean stop leaves
  // one database file, no WAL. A client that reads nothing must not turn that into a crash.
  test('SIGTERM while a WebSocket has unread replies queued: exit 0 after the drain window, no WAL left', async () => {
    // The crash is a use-after-free (the session map is erased while it is iterated), so it
    // does not show every time: three rounds, each with a fresh server, make a miss unlikely.
    for (let round = 0; round < 3; round++) {
      const server = await startServer({ args: ['--limits.rate=0', '--shutdown.drain-timeout=1s'] });
      let sockets = [];
      try {
        const H = newHospital();
        const token = mintToken({ role: 'nurse', hospitals: [H] });
        const pub = await RawWs.open(server.port, { token, label: 'publisher' });
        const stalledReaders = [];
        for (let i = 0; i < 8; i++) stalledReaders.push(await RawWs.open(server.port, { token, label: `stalled reader ${i}` }));
        sockets = [pub, ...stalledReaders];
        await createMany(pub, H, 300);
        // Eight readers stop reading and each asks for ~700 KB of pages (within 8x the outbound budget, so
        // no 4008): the replies stay queued in vigild when SIGTERM comes.
        for (const stalled of stalledReaders) {
          stalled.ws._socket.pause();
          for (let i = 0; i < 12; i++) {
            stalled.send({ id: 100 + i, method: 'query', params: { path: 'healthcare.getActiveAlerts', input: { hospitalId: H, limit: 100 } } });
          }
        }
        // The queries left the client (bufferedAmount 0); a round trip on the publisher's socket
        // then lets vigild read and answer them (no event on the stalled socket can be awaited).
        await withTimeout((async () => {
          while (stalledReaders.some((r) => r.ws.bufferedAmount > 0)) await new Promise((r) => setImmediate(r));
        })(), 5000, 'queries sent');
        const stats = await pub.call(1, 'query', 'healthcare.getAlertStats', { hospitalId: H });
        assert.equal(stats.result.data.active, 300);
        const info = await server.stop(15000);
        assert.deepEqual(info, { code: 0, signal: null }, `vigild exit after SIGTERM; stderr tail:\n${server.tail(15)}`);
        if (!JETSTREAM) { // a cluster node has no database file (its events are in JetStream)
          const files = readdirSync(server.dbDir);
          assert.ok(!files.includes('vigil.db-wal'), `a clean stop leaves no WAL: ${files.join(', ')}`);
          assert.ok(existsSync(path.join(server.dbDir, 'vigil.db')));
        }
      } finally {
        for (const s of sockets) s.terminate();
        await server.dispose().catch(() => null);
      }
    }
  });
});

describe('HTTP framing: HEAD', () => {
  // RFC 9110 §9.3.2: a response to HEAD carries no content, whatever its status. docs/api.md
  // "HTTP": other methods get 405; the answer must still keep the keep-alive connection framed,
  // or the client reads the body as the start of the next response (load balancers probe with
  // HEAD /health).
  test('HEAD /health -> a response without a body; the next request on the connection is answered', async () => {
    const server = await startServer();
    try {
      const text = await new Promise((resolve, reject) => {
        const sock = connectRaw(server.port, '127.0.0.1', () => {
          sock.write('HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n');
        });
        let buf = '';
        const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no GET reply: ${JSON.stringify(buf)}`)); }, 5000);
        sock.on('data', (d) => {
          buf += d;
          if (buf.includes('"status":"ok"')) { clearTimeout(timer); sock.destroy(); resolve(buf); }
        });
        sock.on('error', reject);
      });
      const firstHeadEnd = text.indexOf('\r\n\r\n') + 4;
      assert.match(text.slice(0, firstHeadEnd), /^HTTP\/1\.1 \d{3} /, text);
      assert.ok(text.startsWith('HTTP/1.1 ', firstHeadEnd),
        `the HEAD response must end with its head; bytes after it: ${JSON.stringify(text.slice(firstHeadEnd, firstHeadEnd + 60))}`);
    } finally {
      await server.dispose().catch(() => null);
    }
  });
});

describe('HTTP framing: Expect: 100-continue', () => {
  // RFC 9110 §10.1.1: a server that receives "Expect: 100-continue" sends 100 (Continue) or a
  // final status before it waits for the body. curl sends that header with larger POST bodies and
  // waits 1 s for the 100 before sending anyway: without it every such mutation takes a second.
  test('a POST with Expect: 100-continue gets "100 Continue" before its body is sent', async () => {
    const server = await startServer();
    try {
      const H = newHospital();
      const token = mintToken({ role: 'nurse', hospitals: [H] });
      const body = JSON.stringify({ hospitalId: H, roomNumber: 'ICU-1', alertType: 'fire', urgencyLevel: 2, description: 'x'.repeat(500), targetDepartment: 'd'.repeat(64), patientId: 'p'.repeat(64), idempotencyKey: 'k'.repeat(100) }); // over 1 KiB, as curl sends Expect for
      const result = await new Promise((resolve, reject) => {
        const sock = connectRaw(server.port, '127.0.0.1', () => {
          sock.write(`POST /api/trpc/healthcare.createAlert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`
            + `Authorization: Bearer ${token}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`);
        });
        let buf = '';
        let continued = false;
        // The client waits for the interim response (as curl does, but it gives up after 1 s).
        const timer = setTimeout(() => { sock.destroy(); resolve({ continued, buf }); }, 3000);
        sock.on('data', (d) => {
          buf += d;
          if (!continued && /^HTTP\/1\.1 100 /.test(buf)) { continued = true; sock.write(body); }
          if (buf.includes('"success":true')) { clearTimeout(timer); sock.destroy(); resolve({ continued, buf }); }
        });
        sock.on('error', reject);
      });
      assert.ok(result.continued, `no "HTTP/1.1 100 Continue" within 3 s; received: ${JSON.stringify(result.buf.slice(0, 200))}`);
      assert.ok(result.buf.includes('"success":true'), result.buf.slice(0, 300));
    } finally {
      await server.dispose().catch(() => null);
    }
  });
});

describe('HTTP pipelining', () => {
  // lws 4.1 re-reported the end of a body for every service round while the bytes of a pipelined
  // next request waited behind an unanswered one: the service thread spun and every client of the
  // server went unanswered (found with `vigilctl bench --transport http`). Pipelining is refused
  // by closing that connection; the server keeps serving everyone else.
  test('POSTs pipelined on one connection: that connection is closed, the server keeps answering', async () => {
    const server = await startServer();
    try {
      const H = newHospital();
      const token = mintToken({ role: 'nurse', hospitals: [H] });
      const body = JSON.stringify({ hospitalId: H, roomNumber: 'P-1', alertType: 'fire', urgencyLevel: 2 });
      const one = `POST /api/trpc/healthcare.createAlert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`
        + `Authorization: Bearer ${token}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      const closed = await new Promise((resolve, reject) => {
        const sock = connectRaw(server.port, '127.0.0.1', () => sock.write(one.repeat(3)));
        const timer = setTimeout(() => { sock.destroy(); resolve(false); }, 5000);
        sock.on('data', () => {});
        sock.on('close', () => { clearTimeout(timer); resolve(true); });
        sock.on('error', () => {});
        void reject;
      });
      assert.ok(closed, 'the pipelining connection is closed');
      const t0 = Date.now();
      const res = await fetch(`${server.httpUrl}/health`, { signal: AbortSignal.timeout(3000) });
      assert.equal(res.status, 200);
      assert.ok(Date.now() - t0 < 2000, 'the server still answers at once');
      const list = await fetch(`${server.httpUrl}/api/trpc/healthcare.getActiveAlerts?input=${encodeURIComponent(JSON.stringify({ hospitalId: H }))}`,
        { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(3000) });
      assert.equal(list.status, 200);
    } finally {
      await server.dispose().catch(() => null);
    }
  });
});
