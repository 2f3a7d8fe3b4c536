// vigilctl for operators (operations issue #17): progress of long work on a terminal only
// (backup, replay --verify, bench), `console --interval` like `redis-cli --stat`, and vigild's
// duration and size syntax in the tools' options.
// Env: VIGILCTL_BIN (default <repo>/build/vigilctl), VIGIL_BIN (see lib/server.mjs).

import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { newHospital, withTimeout } from './lib/clients.mjs';
import { createMany } from './lib/load.mjs';
import { JETSTREAM, freePort, startServer } from './lib/server.mjs';
import { mintToken, SECRET } from './lib/tokens.mjs';
import { TLS, wsBase } from './lib/tls.mjs';
import { RawWs } from './lib/clients.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const VIGILCTL_BIN = process.env.VIGILCTL_BIN || path.resolve(here, '..', '..', 'build', 'vigilctl');

function ctlEnv() {
  const env = { ...process.env };
  // VIGIL_CA_FILE stays: over TLS (VIGIL_E2E_TLS=1) it is the run's CA.
  for (const k of Object.keys(env)) if (k.startsWith('VIGIL_') && k !== 'VIGIL_CA_FILE') delete env[k];
  return env;
}

/** Runs vigilctl with pipes (not a terminal): {code, stdout, stderr, ms}. */
function ctl(args, timeoutMs = 30000) {
  const t0 = Date.now();
  return withTimeout(new Promise((resolve, reject) => {
    execFile(VIGILCTL_BIN, args, { encoding: 'utf8', env: ctlEnv() }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') { reject(err); return; }
      resolve({ code: err ? err.code : 0, stdout, stderr, ms: Date.now() - t0 });
    });
  }), timeoutMs, `vigilctl ${args.join(' ')}`);
}

/** Runs vigilctl on a pseudo-terminal (util-linux `script`): its whole output, or null without `script`. */
function ctlOnTty(args) {
  const quoted = [VIGILCTL_BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const r = spawnSync('script', ['-qec', quoted, '/dev/null'], { encoding: 'utf8', env: ctlEnv(), timeout: 30000 });
  if (r.error) return null;
  return { code: r.status, out: r.stdout };
}

const show = (args, r) => `vigilctl ${args.join(' ')} -> ${r.code}\nstdout:\n${r.stdout ?? r.out}\nstderr:\n${r.stderr ?? ''}`;

describe('vigilctl: progress, console --interval, duration and size syntax', () => {
  let server;
  let adminPort;
  let benchPort; // vigilctl bench speaks plain ws:// only: over TLS it uses tls.plain-port
  let dir;
  const H = newHospital();

  before(async () => {
    if (!existsSync(VIGILCTL_BIN)) throw new Error(`vigilctl not found at ${VIGILCTL_BIN}`);
    adminPort = await freePort();
    benchPort = TLS ? await freePort() : undefined;
    server = await startServer({ args: [`--admin.port=${adminPort}`, ...(TLS ? [`--tls.plain-port=${benchPort}`] : [])] });
    benchPort ??= server.port;
    dir = mkdtempSync(path.join(os.tmpdir(), 'vigilctl-ops-'));
    const raw = await RawWs.open(server.port, { token: mintToken({ sub: 'ops', role: 'nurse', hospitals: [H] }) });
    await createMany(raw, H, 30);
    raw.close();
  });
  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('backup and replay --verify: quiet when stderr is not a terminal', { skip: JETSTREAM && 'vigilctl backup, restore and replay --db work on SQLite files only (docs/operations.md "Running a cluster", known limits)' }, async () => {
    const b = await ctl(['backup', '--db', server.dbPath, '--out', path.join(dir, 'quiet.db')]);
    assert.equal(b.code, 0, show(['backup'], b));
    assert.equal(b.stderr, '', 'no progress on a pipe');
    const v = await ctl(['replay', '--verify', '--db', server.dbPath]);
    assert.equal(v.code, 0, show(['replay', '--verify'], v));
    assert.equal(v.stderr, '');
    assert.match(v.stdout, /result: consistent/);
  });

  test('backup and replay --verify: a progress line on a terminal, erased before the result', { skip: JETSTREAM && 'vigilctl backup, restore and replay --db work on SQLite files only (docs/operations.md "Running a cluster", known limits)' }, (t) => {
    const backupArgs = ['backup', '--db', server.dbPath, '--out', path.join(dir, 'tty.db')];
    const b = ctlOnTty(backupArgs);
    if (b === null) { t.skip('util-linux `script` is not installed'); return; }
    assert.equal(b.code, 0, show(backupArgs, b));
    assert.match(b.out, /\r\x1b\[Kcopying: \d+ of \d+ pages \(\d+ %\)/, show(backupArgs, b));
    assert.match(b.out, /\r\x1b\[Kbackup written to /, 'the line is erased before the result');
    const verifyArgs = ['replay', '--verify', '--db', server.dbPath];
    const v = ctlOnTty(verifyArgs);
    assert.equal(v.code, 0, show(verifyArgs, v));
    assert.match(v.out, /verifying: \d+ of ~\d+ events/, show(verifyArgs, v));
    assert.match(v.out, /result: consistent/);
  });

  test('bench: durations and sizes in vigild syntax, progress only on a terminal', async (t) => {
    const url = `${wsBase(benchPort, false)}/api/trpc`;
    const args = ['bench', '--url', url, '--secret', SECRET, '--subscribers', '2', '--rate', '20',
      '--duration', '400ms', '--drain', '2s', '--payload', '0.1KB', '--connect-timeout', '0.5m', '--json'];
    const r = await ctl(args);
    assert.equal(r.code, 0, show(args, r));
    assert.equal(r.stderr, '', 'no progress on a pipe');
    const report = JSON.parse(r.stdout);
    assert.equal(report.duration_s, 0.4);
    assert.equal(report.payload, 100);
    for (const [flag, value, range] of [['--duration', '6m', '100ms..5m'], ['--duration', '10x', '100ms..5m'],
      ['--payload', '1KiB', '0..400 bytes'], ['--drain', '-1s', '0s..2m']]) {
      const bad = await ctl(['bench', '--url', url, flag, value]);
      assert.equal(bad.code, 2, show(['bench', flag, value], bad));
      assert.ok(bad.stderr.includes(`invalid value "${value}" for ${flag} (${range})`), bad.stderr);
    }
    const tty = ctlOnTty(args.filter((a) => a !== '--json'));
    if (tty === null) { t.skip('util-linux `script` is not installed'); return; }
    assert.equal(tty.code, 0, show(args, tty));
    assert.match(tty.out, /\r\x1b\[K(connecting|publishing|draining): /, show(args, tty));
  });

  test('watch --timeout takes a duration', async () => {
    const url = `${wsBase(server.port)}/api/trpc`;
    const token = mintToken({ sub: 'w', role: 'viewer', hospitals: [H] });
    const r = await ctl(['watch', '--url', url, '--hospital', H, '--token', token, '--timeout', '300ms']);
    assert.equal(r.code, 0, show(['watch'], r));
    const bad = await ctl(['watch', '--url', url, '--hospital', H, '--token', token, '--timeout', '3 parsecs']);
    assert.equal(bad.code, 2, show(['watch'], bad));
  });

  test('console --interval prints one stats line per interval, --count stops it', async () => {
    const base = ['console', '--port', String(adminPort), '--db', server.dbPath];
    const args = [...base, '--interval', '150ms', '--count', '4'];
    const r = await ctl(args);
    assert.equal(r.code, 0, show(args, r));
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 5, 'a header and four lines');
    assert.match(lines[0], /^time\s+connections\s+subs\s+hospitals\s+events\s+events\/s\s+deliveries\/s\s+drops\s+escalations$/);
    for (const line of lines.slice(1)) {
      const cols = line.trim().split(/\s+/);
      assert.equal(cols.length, 9, line);
      assert.match(cols[0], /^\d\d:\d\d:\d\d$/);
      assert.ok(Number(cols[4]) >= 30, `events published so far: ${line}`);
    }
    assert.ok(r.ms >= 3 * 150, `four samples 150 ms apart take at least 450 ms (took ${r.ms})`);
    const json = await ctl([...base, '--interval', '0.1', '--count', '2', '--json']);
    assert.equal(json.code, 0, show(['--json'], json));
    const objs = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(objs.length, 2);
    assert.ok(objs.every((o) => o.events_published >= 30 && typeof o.connections === 'number'));
    for (const [extra, msg] of [[['--count', '2'], '--count needs --interval'],
      [['--interval', '50ms'], 'invalid --interval'], [['--interval', '1s', '--count', '0'], 'invalid --count'],
      [['--interval', '1s', '--exec', 'hospitals'], 'cannot run --exec']]) {
      const bad = await ctl([...base, ...extra]);
      assert.equal(bad.code, 2, show(extra, bad));
      assert.ok(bad.stderr.includes(msg), bad.stderr);
    }
  });
});
