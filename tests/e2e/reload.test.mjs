// SIGHUP reloads what can be reloaded (log level, CORS origins, JWT secrets) and never ends the
// process; the built-in development secret never listens beyond loopback
// (docs/operations.md "Reloading the configuration (SIGHUP)" and "Rotating the JWT secret").

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { assertHttpError, enc, http, newHospital, RawWs, WAIT_MS } from './lib/clients.mjs';
import { parseLogfmt, startServer, VIGIL_BIN } from './lib/server.mjs';
import { mintToken } from './lib/tokens.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-reload-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name) => path.join(dir, name);
const write = (name, text, mode = 0o600) => {
  writeFileSync(file(name), text, { mode });
  return file(name);
};

const SECRET_A = 'reload-secret-A-5c0e1d2f3a4b';
const SECRET_B = 'reload-secret-B-9e8d7c6b5a4f';

/**
 * Sends SIGHUP and resolves with the parsed log line that ends the reload (event=reloaded or
 * event=reload_failed) plus every line the reload wrote.
 */
async function hup(srv) {
  const from = srv.stderrLines.length;
  process.kill(srv.pid, 'SIGHUP');
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const lines = srv.stderrLines.slice(from);
    const end = lines.find((l) => / event=(reloaded|reload_failed) /.test(` ${l} `));
    if (end) return { end: parseLogfmt(end), lines: lines.map(parseLogfmt) };
    if (!srv.child) assert.fail(`vigild exited on SIGHUP (${JSON.stringify(srv.exitInfo)}):\n${srv.tail()}`);
    if (Date.now() > deadline) assert.fail(`no event=reloaded within ${WAIT_MS} ms:\n${srv.tail()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** getMetrics over HTTP with `token`: resolves the response. */
const metrics = (srv, token, hospital, headers = {}) =>
  http(srv.port, `/api/trpc/healthcare.getMetrics?input=${enc({ hospitalId: hospital })}`, { token, headers });

async function assertAccepted(srv, token, H, what) {
  const r = await metrics(srv, token, H);
  assert.equal(r.status, 200, `${what}: ${r.text}`);
}

async function assertRefused(srv, token, H, what) {
  const r = await metrics(srv, token, H);
  assert.equal(r.status, 401, `${what}: ${r.text}`);
  assertHttpError(r.json, { code: 'UNAUTHORIZED', message: 'Invalid token' });
}

describe('SIGHUP reload', () => {
  const H = newHospital('reload');
  const conf = file('vigil.conf');
  const secretFile = write('secret', `${SECRET_A}\n`);
  const previousFile = file('previous');
  const writeConf = (lines) => writeFileSync(conf, `${lines.join('\n')}\n`);
  const baseConf = [
    '[auth]', `jwt-secret-file = ${secretFile}`,
    '[log]', 'level = info',
    '[http]', 'cors-origins = https://a.example',
  ];
  let srv;
  before(async () => {
    writeConf(baseConf);
    srv = await startServer({ secret: null, args: [`--config=${conf}`] });
  });
  after(() => srv?.dispose());

  test('starts with the secret file and survives SIGHUP (it used to exit 129)', async () => {
    const tokenA = mintToken({ secret: SECRET_A, role: 'viewer', hospitals: [H] });
    await assertAccepted(srv, tokenA, H, 'token of the secret file');
    const { end } = await hup(srv);
    assert.equal(end.event, 'reloaded');
    assert.equal(end.changed, 'none');
    assert.ok(srv.child, 'still running');
    await assertAccepted(srv, tokenA, H, 'after an empty reload');
  });

  test('a log level change takes effect', async () => {
    // hospital_spawned is a debug line: absent at info, written at debug.
    const spawned = () => srv.stderrLines.filter((l) => l.includes('event=hospital_spawned')).length;
    const token = mintToken({ secret: SECRET_A, role: 'viewer', hospitals: ['lvl-1', 'lvl-2'] });
    await assertAccepted(srv, token, 'lvl-1', 'at info');
    assert.equal(spawned(), 0);
    writeConf(baseConf.map((l) => (l === 'level = info' ? 'level = debug' : l)));
    const { end } = await hup(srv);
    assert.equal(end.changed, 'log.level');
    await assertAccepted(srv, token, 'lvl-2', 'at debug');
    assert.equal(spawned(), 1, srv.tail());
    writeConf(baseConf);
    assert.equal((await hup(srv)).end.changed, 'log.level');
  });

  test('CORS origins change takes effect', async () => {
    const token = mintToken({ secret: SECRET_A, role: 'viewer', hospitals: [H] });
    const acao = async (origin) =>
      (await metrics(srv, token, H, { origin })).headers.get('access-control-allow-origin');
    assert.equal(await acao('https://a.example'), 'https://a.example');
    assert.equal(await acao('https://b.example'), null);
    writeConf(baseConf.map((l) => (l.startsWith('cors-origins') ? 'cors-origins = https://b.example' : l)));
    assert.equal((await hup(srv)).end.changed, 'http.cors-origins');
    assert.equal(await acao('https://b.example'), 'https://b.example');
    assert.equal(await acao('https://a.example'), null);
    writeConf(baseConf);
    await hup(srv);
    assert.equal(await acao('https://a.example'), 'https://a.example');
  });

  test('secret rotation: new secret plus previous, then previous removed', async () => {
    const oldToken = mintToken({ secret: SECRET_A, role: 'viewer', hospitals: [H] });
    const newToken = mintToken({ secret: SECRET_B, role: 'viewer', hospitals: [H] });
    // A WebSocket authenticated with the old token before the rotation.
    const ws = await RawWs.open(srv.port, { token: oldToken, label: 'before-rotation' });
    try {
      assert.equal((await ws.call(1, 'query', 'healthcare.getMetrics', { hospitalId: H })).result !== undefined, true);
      await assertRefused(srv, newToken, H, 'new token before the rotation');

      // Step 1: the new secret in the secret file, the old one as the previous secret.
      write('previous', `${SECRET_A}\n`);
      write('secret', `${SECRET_B}\n`);
      writeConf([...baseConf, '[auth]', `jwt-previous-secret-file = ${previousFile}`]);
      const step1 = await hup(srv);
      assert.equal(step1.end.event, 'reloaded');
      assert.equal(step1.end.changed, 'auth.jwt-secret,auth.jwt-previous-secret');
      await assertAccepted(srv, oldToken, H, 'old token during the rotation');
      await assertAccepted(srv, newToken, H, 'new token during the rotation');

      // Step 2: the previous secret removed.
      writeConf(baseConf);
      const step2 = await hup(srv);
      assert.equal(step2.end.changed, 'auth.jwt-previous-secret');
      await assertRefused(srv, oldToken, H, 'old token after the previous secret was removed');
      await assertAccepted(srv, newToken, H, 'new token after the rotation');

      // The connection authenticated before keeps its identity (docs/operations.md).
      assert.ok((await ws.call(2, 'query', 'healthcare.getMetrics', { hospitalId: H })).result,
        'the connection opened with the old token keeps working');
    } finally {
      ws.close();
    }
    for (const secret of [SECRET_A, SECRET_B]) assert.ok(!srv.logs().includes(secret), 'a secret was logged');
  });

  test('an invalid configuration keeps the running one and says why', async () => {
    const token = mintToken({ secret: SECRET_B, role: 'viewer', hospitals: [H] });
    writeConf([...baseConf.map((l) => (l.startsWith('cors-origins') ? 'cors-origins = https://c.example' : l)),
      '[limits]', 'rate = fast']);
    const bad = await hup(srv);
    assert.equal(bad.end.event, 'reload_failed');
    assert.equal(bad.end.level, 'error');
    assert.match(bad.end.error, /invalid value "fast" for limits\.rate/);
    // Nothing of it was applied, the CORS change included.
    const r = await metrics(srv, token, H, { origin: 'https://c.example' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null);

    // An empty secret file is refused the same way; the running secret stays.
    writeConf(baseConf);
    write('secret', '\n');
    const empty = await hup(srv);
    assert.equal(empty.end.event, 'reload_failed');
    assert.equal(empty.end.error, `auth.jwt-secret-file "${secretFile}" is empty`);
    await assertAccepted(srv, token, H, 'the running secret after a failed reload');
    write('secret', `${SECRET_B}\n`);
    assert.equal((await hup(srv)).end.event, 'reloaded');
  });

  test('a setting that needs a restart is named once and not applied', async () => {
    writeConf([...baseConf, '[limits]', 'rate = 7', 'frame-size = 32KiB']);
    const { end, lines } = await hup(srv);
    assert.equal(end.event, 'reloaded');
    assert.equal(end.restart_needed, 'limits.frame-size,limits.rate');
    const warned = lines.filter((l) => l.event === 'reload_restart_needed').map((l) => l.key);
    assert.deepEqual(warned.sort(), ['limits.frame-size', 'limits.rate']);
    writeConf(baseConf);
    await hup(srv);
  });
});

describe('the built-in development secret', () => {
  test('an explicit non-loopback host is refused with one line (exit 2, a configuration error)', () => {
    const env = { ...process.env };
    delete env.AUTH_JWT_SECRET;
    delete env.VIGIL_AUTH_JWT_SECRET;
    delete env.VIGIL_CONFIG;
    const r = spawnSync(VIGIL_BIN, ['--host=0.0.0.0', '--port=0', `--db=${file('dev.db')}`, '--admin.port=0'],
      { env, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, 'vigild: refusing to listen on 0.0.0.0 with the built-in development JWT secret '
      + '(anyone can sign tokens with it): set auth.jwt-secret-file (or AUTH_JWT_SECRET), or listen on 127.0.0.1\n');
  });

  test('without a host it listens on loopback only and says why', async () => {
    const srv = await startServer({ secret: null, host: null, env: { AUTH_JWT_SECRET: '', VIGIL_AUTH_JWT_SECRET: '' } });
    try {
      const listening = srv.stderrLines.map(parseLogfmt).find((l) => l.event === 'listening');
      assert.equal(listening.host, '127.0.0.1');
      const warning = srv.stderrLines.map(parseLogfmt).find((l) => l.event === 'loopback_only');
      assert.ok(warning, srv.tail());
      assert.equal(warning.level, 'warn');
      const r = await http(srv.port, '/health');
      assert.equal(r.status, 200);
    } finally {
      await srv.dispose();
    }
  });
});
