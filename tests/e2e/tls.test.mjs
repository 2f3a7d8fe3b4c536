// Native TLS (issue #13 item 1, docs/operations.md "TLS"): wss:// and https:// on server.port with
// tls.cert-file/tls.key-file, TLS 1.2+ only, the plain loopback port beside it (tls.plain-port),
// the certificate reloaded on SIGHUP without dropping connections, and a certificate that does not
// load refused at start. Runs in both modes of the suite: every server here says whether it
// speaks TLS. Certificates are made at run time (lib/tls.mjs), signed by the run's CA, which Node
// trusts through NODE_EXTRA_CA_CERTS (lib/run.mjs).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';

import {
  RawWs, alertInput, appClient, collect, http, newHospital, withTimeout,
} from './lib/clients.mjs';
import { VIGIL_BIN, freePort, parseLogfmt, startServer } from './lib/server.mjs';
import { issueCert, tlsDir, tlsFiles } from './lib/tls.mjs';
import { mintToken } from './lib/tokens.mjs';

/** The subject CN of the certificate a new TLS connection to `port` is served. */
function servedCn(port) {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ port, host: '127.0.0.1' }, () => {
      const cn = sock.getPeerCertificate().subject?.CN;
      sock.end();
      resolve(cn);
    });
    sock.once('error', reject);
  });
}

/** Resolves with the first log line of `event` from now on (parsed), within 5 s. */
function nextLog(server, event) {
  const seen = server.stderrLines.length;
  return withTimeout(new Promise((resolve) => {
    const check = () => {
      const hit = server.stderrLines.slice(seen).find((l) => ` ${l} `.includes(` event=${event} `));
      if (!hit) return;
      server.child.stderr.off('data', check);
      resolve(parseLogfmt(hit));
    };
    server.child.stderr.on('data', check);
    check();
  }), 5000, `log line event=${event}\n${server.tail(20)}`);
}

/** `openssl s_client` limited to one TLS version: {ok, out}. Offers it at security level 0, so
 * only the server can refuse it. */
function handshake(port, versionFlag) {
  const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, versionFlag,
    '-cipher', 'DEFAULT:@SECLEVEL=0', '-brief'], { input: '', encoding: 'utf8', timeout: 10000 });
  return { ok: r.status === 0, out: `${r.stdout}\n${r.stderr}` };
}

/** Sends `GET /health` as plain HTTP on a raw socket; resolves with whatever came back. */
function plainGet(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
    let got = '';
    const timer = setTimeout(() => { sock.destroy(); resolve(got); }, 3000);
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('error', () => {});
    sock.on('close', () => { clearTimeout(timer); resolve(got); });
  });
}

describe('TLS: wss:// and https:// on server.port, plain on the loopback port', () => {
  let server;
  let plainPort;
  before(async () => {
    plainPort = await freePort();
    server = await startServer({ tls: true, args: [`--tls.plain-port=${plainPort}`] });
  });
  after(async () => { await server?.dispose(); });

  test('the real @trpc/client: subscription over wss://, mutation and query over https://', async () => {
    const H = newHospital();
    const c = appClient({ port: server.port, tls: true, token: mintToken({ role: 'nurse', hospitals: [H] }) });
    try {
      const sub = collect(c.h.subscribeToAlerts, { hospitalId: H }, 'wss subscription');
      await sub.waitStarted();
      const created = await c.h.createAlert.mutate(alertInput(H));
      const [event] = await sub.count(1);
      assert.equal(event.alertId, created.alert.id);
      const list = await c.h.getActiveAlerts.query({ hospitalId: H });
      assert.ok(JSON.stringify(list).includes(created.alert.id), 'the alert is listed over https');
    } finally {
      await c.close();
    }
    for (const p of ['/health', '/ready', '/metrics']) {
      const r = await http(server.port, p, { tls: true });
      assert.equal(r.status, 200, `${p} over https`);
    }
    const listening = server.stderrLines.map(parseLogfmt).find((l) => l.event === 'listening');
    assert.equal(listening.tls, 'on');
    assert.equal(Number(listening.plain_port), plainPort);
  });

  test('TLS 1.2 and 1.3 are accepted, TLS 1.1 and 1.0 are refused', () => {
    const v12 = handshake(server.port, '-tls1_2');
    assert.ok(v12.ok && /TLSv1\.2/.test(v12.out), v12.out);
    const v13 = handshake(server.port, '-tls1_3');
    assert.ok(v13.ok && /TLSv1\.3/.test(v13.out), v13.out);
    for (const flag of ['-tls1_1', '-tls1']) {
      const old = handshake(server.port, flag);
      assert.ok(!old.ok, `${flag} must be refused:\n${old.out}`);
      assert.doesNotMatch(old.out, /Protocol version: TLSv1(\.1)?\b(?!\.)/, old.out);
    }
  });

  test('only HTTP/1.1 is offered (ALPN): vigild frames HTTP/1.1 itself', async () => {
    const proto = await new Promise((resolve, reject) => {
      const sock = tls.connect({ port: server.port, host: '127.0.0.1', ALPNProtocols: ['h2', 'http/1.1'] }, () => {
        resolve(sock.alpnProtocol);
        sock.end();
      });
      sock.once('error', reject);
    });
    assert.equal(proto, 'http/1.1');
  });

  test('server.port speaks only TLS: plain HTTP gets no HTTP answer', async () => {
    const got = await plainGet(server.port);
    assert.doesNotMatch(got, /^HTTP\/1\.1 /, `plain HTTP on the TLS port was answered: ${JSON.stringify(got.slice(0, 80))}`);
  });

  test('a socket that never completes a TLS handshake or a request head is closed within ~10 s', async () => {
    const t0 = Date.now();
    const silent = new Promise((resolve) => {
      const sock = net.connect(server.port, '127.0.0.1');
      sock.on('error', () => {});
      sock.on('close', () => resolve(Date.now() - t0));
    });
    const afterHandshake = new Promise((resolve, reject) => {
      const sock = tls.connect({ port: server.port, host: '127.0.0.1' });
      sock.on('error', () => {});
      sock.once('secureConnect', () => sock.write('GET /health HTTP/1.1\r\n'));
      sock.on('close', () => resolve(Date.now() - t0));
      setTimeout(() => reject(new Error('not closed within 20 s')), 20000).unref();
    });
    const [a, b] = await withTimeout(Promise.all([silent, afterHandshake]), 20000, 'both sockets closed');
    for (const ms of [a, b]) assert.ok(ms >= 9000 && ms < 15000, `closed after ${ms} ms`);
  });

  test('the plain loopback port serves ws:// and http:// (same server, same events)', async () => {
    const r = await http(plainPort, '/health', { tls: false });
    assert.equal(r.status, 200);
    const H = newHospital();
    const token = mintToken({ role: 'nurse', hospitals: [H] });
    const plain = appClient({ port: plainPort, tls: false, token });
    const secure = appClient({ port: server.port, tls: true, token });
    try {
      const sub = collect(plain.h.subscribeToAlerts, { hospitalId: H }, 'plain subscription');
      await sub.waitStarted();
      const created = await secure.h.createAlert.mutate(alertInput(H));
      const [event] = await sub.count(1);
      assert.equal(event.alertId, created.alert.id, 'an alert made over TLS reaches a plain subscriber');
    } finally {
      await plain.close();
      await secure.close();
    }
    // The plain port is bound to loopback only.
    const lines = spawnSync('ss', ['-Hltn', `sport = :${plainPort}`], { encoding: 'utf8' });
    if (lines.status === 0 && lines.stdout.trim()) {
      for (const l of lines.stdout.trim().split('\n')) assert.match(l, /\s127\.0\.0\.1:\d+\s/, l);
    }
  });
});

describe('TLS: certificate reload on SIGHUP', () => {
  let dir;
  let server;
  let certs;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-tls-reload-'));
    const a = issueCert(dir, 'a', { caDir: tlsDir(), cn: 'vigil-a' });
    const b = issueCert(dir, 'b', { caDir: tlsDir(), cn: 'vigil-b' });
    certs = { a, b, cert: path.join(dir, 'live.pem'), key: path.join(dir, 'live.key') };
    copyFileSync(a.cert, certs.cert);
    copyFileSync(a.key, certs.key);
    server = await startServer({ tls: false, args: [`--tls.cert-file=${certs.cert}`, `--tls.key-file=${certs.key}`] });
    server.tls = true; // its URLs: the flags above turned TLS on
  });
  after(async () => {
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('new connections get the new certificate; an open wss:// connection stays and keeps receiving', async () => {
    const H = newHospital();
    const token = mintToken({ role: 'nurse', hospitals: [H] });
    assert.equal(await servedCn(server.port), 'vigil-a');
    const raw = await RawWs.open(server.port, { token, tls: true, label: 'open across the reload' });
    const c = appClient({ port: server.port, tls: true, token });
    try {
      await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });

      copyFileSync(certs.b.cert, certs.cert);
      copyFileSync(certs.b.key, certs.key);
      const reloaded = nextLog(server, 'tls_reloaded');
      process.kill(server.pid, 'SIGHUP');
      const line = await reloaded;
      assert.match(line.subject, /vigil-b/);
      assert.equal(await servedCn(server.port), 'vigil-b');

      // The connection opened under the old certificate is still there and still live.
      const created = await c.h.createAlert.mutate(alertInput(H));
      const [ev] = await raw.dataN(1, 1);
      assert.equal(ev.result.data.alertId, created.alert.id, 'the event after the reload');
      assert.ok(raw.isOpen, 'the open connection was not closed');

      // A bad file keeps the certificate in service.
      writeFileSync(certs.cert, 'not a certificate\n');
      const failed = nextLog(server, 'tls_reload_failed');
      process.kill(server.pid, 'SIGHUP');
      const bad = await failed;
      assert.match(bad.error, /tls\.cert-file ".*live\.pem" holds no PEM certificate/);
      // A key of another certificate too.
      copyFileSync(certs.a.cert, certs.cert); // key is still b's
      const mismatch = nextLog(server, 'tls_reload_failed');
      process.kill(server.pid, 'SIGHUP');
      assert.match((await mismatch).error, /does not match/);
      assert.equal(await servedCn(server.port), 'vigil-b');
      const r = await http(server.port, '/health', { tls: true });
      assert.equal(r.status, 200);
      assert.ok(raw.isOpen);
    } finally {
      raw.close?.();
      await c.close();
    }
  });
});

describe('TLS: configuration errors stop start-up with one line (exit 2)', () => {
  let dir;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-tls-bad-'));
    issueCert(dir, 'other', { caDir: tlsDir(), cn: 'other' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (args) => spawnSync(VIGIL_BIN, ['--port=0', '--admin.port=0', `--db=${path.join(dir, 'v.db')}`, ...args],
    { encoding: 'utf8', timeout: 10000 });

  test('missing file, half a pair, a key of another certificate, not PEM, plain port without TLS', () => {
    const f = tlsFiles();
    const other = path.join(dir, 'other.key');
    const junk = path.join(dir, 'junk.pem');
    writeFileSync(junk, 'junk\n');
    const cases = [
      [[`--tls.cert-file=${dir}/missing.pem`, `--tls.key-file=${f.key}`],
        `vigild: cannot read tls.cert-file "${dir}/missing.pem"`],
      [[`--tls.cert-file=${f.cert}`], 'vigild: tls.cert-file needs tls.key-file'],
      [[`--tls.key-file=${f.key}`], 'vigild: tls.key-file needs tls.cert-file'],
      [[`--tls.cert-file=${f.cert}`, `--tls.key-file=${other}`],
        `vigild: tls.key-file "${other}" does not match tls.cert-file "${f.cert}"`],
      [[`--tls.cert-file=${junk}`, `--tls.key-file=${f.key}`],
        `vigild: tls.cert-file "${junk}" holds no PEM certificate`],
      [[`--tls.cert-file=${f.cert}`, `--tls.key-file=${junk}`],
        `vigild: tls.key-file "${junk}" holds no unencrypted PEM private key`],
      [['--tls.plain-port=4999'], 'vigild: tls.plain-port needs tls.cert-file and tls.key-file'],
    ];
    for (const [args, message] of cases) {
      const r = run(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0].startsWith(message), `${args.join(' ')}:\n  got ${lines[0]}\n  want ${message}`);
    }
    // --check-config loads the pair as well.
    const ok = run(['--check-config', `--tls.cert-file=${f.cert}`, `--tls.key-file=${f.key}`]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /configuration OK/);
  });
});
