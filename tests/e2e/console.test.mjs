// `vigilctl console` and `vigilctl backup` against a real vigild with its console listener on a
// free admin port: known WebSocket connections, subscriptions and alerts, then every console
// command checked against them (JSON output with --json, text tables without), the operator
// commands (kick, reconnect-all, log-level) observed from the clients and the server log, and
// a backup read back with `vigilctl replay`. Then the listener itself: the admin token, and
// raw sockets that must be closed before vigild allocates anything for them.
// Env: VIGILCTL_BIN (default <repo>/build/vigilctl), VIGIL_BIN (see lib/server.mjs).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { RawWs, newHospital, withTimeout, WAIT_MS } from './lib/clients.mjs';
import { JETSTREAM, VigilServer, freePort, startServer } from './lib/server.mjs';
import { mintToken } from './lib/tokens.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const VIGILCTL_BIN = process.env.VIGILCTL_BIN || path.resolve(here, '..', '..', 'build', 'vigilctl');
const RECONNECT = { id: null, method: 'reconnect' };

// ---- helpers ------------------------------------------------------------------------------------

/** The environment for vigilctl: without an admin token or config of the developer's shell. */
function ctlEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  for (const k of ['VIGIL_ADMIN_TOKEN', 'VIGIL_CONFIG', 'VIGIL_DB']) if (!(k in extra)) delete env[k];
  return env;
}

/**
 * Runs vigilctl to completion: {code, stdout, stderr}. `input` is written to its stdin; `env`
 * adds environment variables, `cwd` sets its working directory.
 */
function ctl(args, { input, env, cwd } = {}) {
  if (!existsSync(VIGILCTL_BIN)) throw new Error(`vigilctl not found at ${VIGILCTL_BIN} (build it, or set VIGILCTL_BIN)`);
  return withTimeout(new Promise((resolve, reject) => {
    const child = execFile(VIGILCTL_BIN, args, { encoding: 'utf8', env: ctlEnv(env), cwd }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') { reject(err); return; }
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  }), 20000, `vigilctl ${args.join(' ')}`);
}

const describeRun = (args, r) => `vigilctl ${args.join(' ')} -> exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

function alertInput(hospitalId, roomNumber) {
  return { hospitalId, roomNumber, alertType: 'cardiac_arrest', urgencyLevel: 2, targetDepartment: 'icu' };
}

/** Sends a call over a raw socket and asserts success; returns the data. */
async function ok(raw, id, method, procedure, input) {
  const r = await raw.call(id, method, procedure, input);
  assert.ok(r.result, `${procedure} failed: ${JSON.stringify(r)}`);
  return r.result.data;
}

// ---- the scenario -------------------------------------------------------------------------------

describe('vigilctl console', () => {
  let server;
  let adminPort;
  const H = newHospital('console');
  const users = { a: 'u-console-a', b: 'u-console-b', c: 'u-console-c' };
  const roles = { a: 'nurse', b: 'doctor', c: 'head_doctor' };
  const socks = {};
  const ids = {};       // user key -> connection id (from `connections`)
  const alerts = {};    // active, acked, resolved -> alert id
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vigil-console-'));

  /** `vigilctl console` with the port and the database (whose directory holds the token). */
  const consoleArgs = () => ['console', '--port', String(adminPort), '--db', server.dbPath];

  /** `vigilctl console --exec CMD --json` that must succeed; returns the parsed answer. */
  async function consoleJson(cmd) {
    const args = [...consoleArgs(), '--exec', cmd, '--json'];
    const r = await ctl(args);
    assert.equal(r.code, 0, describeRun(args, r));
    assert.equal(r.stderr, '', describeRun(args, r));
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `--json prints one line\n${describeRun(args, r)}`);
    return JSON.parse(lines[0]);
  }

  /** `vigilctl console --exec CMD` that must fail with exit 1; returns stderr. */
  async function consoleFails(cmd) {
    const args = [...consoleArgs(), '--exec', cmd];
    const r = await ctl(args);
    assert.equal(r.code, 1, describeRun(args, r));
    assert.equal(r.stdout, '', describeRun(args, r));
    return r.stderr;
  }

  before(async () => {
    adminPort = await freePort();
    // lib/server.mjs passes --admin.port=0 (inspector off); a later flag wins.
    server = await startServer({ args: [`--admin.port=${adminPort}`] });
    assert.match(server.logs(), new RegExp(`event=inspector_listening address=127\\.0\\.0\\.1 port=${adminPort}`));
    for (const k of ['a', 'b', 'c']) {
      const token = mintToken({ sub: users[k], name: `console ${k}`, role: roles[k], hospitals: [H] });
      socks[k] = await RawWs.open(server.port, { token, label: k });
      // A round trip: the connection is authenticated before any inspection.
      await ok(socks[k], 1, 'query', 'healthcare.getActiveAlerts', { hospitalId: H });
    }
    await socks.a.subscribe(2, 'healthcare.subscribeToAlerts', { hospitalId: H });
    await socks.b.subscribe(2, 'healthcare.subscribeToAlerts', { hospitalId: H });
    // Three alerts: one stays active, one acknowledged, one resolved -> 2 open, 1 escalation timer.
    const created = [];
    for (const [i, room] of ['C1', 'C2', 'C3'].entries()) {
      created.push((await ok(socks.a, 10 + i, 'mutation', 'healthcare.createAlert', alertInput(H, room))).alert.id);
    }
    [alerts.active, alerts.acked, alerts.resolved] = created;
    await ok(socks.a, 20, 'mutation', 'healthcare.acknowledgeAlert', { alertId: alerts.acked });
    await ok(socks.a, 21, 'mutation', 'healthcare.acknowledgeAlert', { alertId: alerts.resolved });
    await ok(socks.a, 22, 'mutation', 'healthcare.resolveAlert', { alertId: alerts.resolved, resolution: 'Stabilised on the ward' });
    // Both subscribers saw all six events.
    for (const k of ['a', 'b']) await socks[k].dataN(2, 6);
  });

  after(async () => {
    for (const s of Object.values(socks)) s.ws.terminate();
    if (server) {
      const info = await server.stop();
      await server.dispose();
      assert.deepEqual(info, { code: 0, signal: null }, `vigild exit after SIGTERM\n${server.tail()}`);
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  test('stats counts connections, subscriptions, hospitals and events', async () => {
    const s = await consoleJson('stats');
    assert.equal(s.connections, 3);
    assert.equal(s.subscriptions, 2);
    assert.equal(s.hospitals, 1);
    assert.equal(s.drops, 0);
    assert.equal(s.events_published, 6);
    assert.equal(s.events_delivered, 12, 'six events to two subscribers');
    assert.ok(s.events_per_sec > 0, `events_per_sec ${s.events_per_sec}`);
    assert.ok(s.deliveries_per_sec >= s.events_per_sec, JSON.stringify(s));
    assert.ok(Number.isInteger(s.uptime_s) && s.uptime_s >= 0);
    assert.equal(s.log_level, 'info');
    // It names the server it came from, so that the wrong vigild cannot be inspected by accident.
    assert.equal(s.pid, server.pid);
    assert.equal(s.port, server.port);
    assert.equal(s.db, server.dbPath);
    assert.match(s.version, /^\d+\.\d+\.\d+$/);
    assert.match(s.epoch, /^[a-z0-9]{8}$/);
    // Text mode: aligned `key  value` lines.
    const r = await ctl([...consoleArgs(), '--exec', 'stats']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^pid\\s+${server.pid}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^port\\s+${server.port}$`, 'm'));
    assert.match(r.stdout, /^connections\s+3$/m);
    assert.match(r.stdout, /^subscriptions\s+2$/m);
    assert.match(r.stdout, /^hospitals\s+1$/m);
    assert.match(r.stdout, /^drops\s+0$/m);
  });

  test('connections lists every WebSocket with user, role and subscriptions', async () => {
    const rows = await consoleJson('connections');
    assert.equal(rows.length, 3, JSON.stringify(rows));
    for (const k of ['a', 'b', 'c']) {
      const row = rows.find((r) => r.user === users[k]);
      assert.ok(row, `no row for ${users[k]}: ${JSON.stringify(rows)}`);
      assert.equal(row.role, roles[k]);
      assert.equal(row.subscriptions, k === 'c' ? 0 : 1);
      assert.ok(Number.isInteger(row.id) && row.id > 0);
      assert.ok(Number.isInteger(row.queue_bytes) && row.queue_bytes >= 0);
      assert.ok(Number.isInteger(row.age_s) && row.age_s >= 0);
      assert.match(row.peer, /^127\.0\.0\.1:\d+$/, 'the client address as IP:port');
      ids[k] = row.id;
    }
    assert.deepEqual(rows.map((r) => r.id), [...rows.map((r) => r.id)].sort((x, y) => x - y), 'sorted by id');
    const r = await ctl([...consoleArgs(), '--exec', 'connections']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\s*ID\s+USER\s+ROLE\s+SUBSCRIPTIONS\s+QUEUE_BYTES\s+AGE_S/m);
    assert.equal(r.stdout.trim().split('\n').length, 4, r.stdout);
  });

  test('connections --hospital lists only the connections subscribed to it', async () => {
    const rows = await consoleJson(`connections --hospital ${H}`);
    assert.deepEqual(rows.map((r) => r.user).sort(), [users.a, users.b]);
    const err = await consoleFails('connections --hospital no-such-hospital');
    assert.match(err, /hospital "no-such-hospital" is not loaded/);
  });

  test('connection ID shows one connection; unknown ids fail clearly', async () => {
    const c = await consoleJson(`connection ${ids.c}`);
    assert.equal(c.id, ids.c);
    assert.equal(c.user, users.c);
    assert.equal(c.role, 'head_doctor');
    assert.equal(c.subscriptions, 0);
    assert.ok(Number.isInteger(c.queue_bytes));
    assert.ok(Number.isInteger(c.age_s));
    assert.match(await consoleFails('connection 999999'), /^vigilctl console: no open connection with id 999999\n$/);
    assert.match(await consoleFails('connection abc'), /usage: connection ID/);
    assert.match(await consoleFails('connection'), /usage: connection ID/);
  });

  test('hospitals and hospital ID report alerts, subscribers, escalations and ring depth', async () => {
    const rows = await consoleJson('hospitals');
    assert.equal(rows.length, 1);
    const h = rows[0];
    assert.equal(h.hospital, H);
    assert.equal(h.open_alerts, 2);
    assert.equal(h.active_alerts, 1);
    assert.equal(h.alerts, 3);
    assert.equal(h.subscribers, 2);
    assert.equal(h.connections, 2);
    assert.equal(h.pending_escalations, 1);
    assert.equal(h.ring_depth, 6);
    assert.ok(Number.isInteger(h.mailbox) && h.mailbox >= 0);

    const d = await consoleJson(`hospital ${H}`);
    assert.equal(d.open_alerts, 2);
    assert.equal(d.subscribers, 2);
    assert.deepEqual(d.connection_ids, [ids.a, ids.b].sort((x, y) => x - y));
    assert.equal(d.escalations.length, 1);
    const e = d.escalations[0];
    assert.equal(e.alert_id, alerts.active);
    assert.equal(e.hospital, H);
    assert.equal(e.tier, 1);
    assert.equal(e.to_tier, 2);
    assert.match(e.deadline, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(e.due_in_ms > 0, 'the default tier-1 timeout is minutes away');

    assert.match(await consoleFails('hospital unknown-h'), /hospital "unknown-h" is not loaded/);
    assert.match(await consoleFails('hospital'), /usage: hospital ID/);
  });

  test('escalations lists the pending timers', async () => {
    const rows = await consoleJson('escalations');
    assert.deepEqual(rows.map((r) => [r.alert_id, r.hospital, r.tier]), [[alerts.active, H, 1]]);
  });

  test('actors lists the directory, every hospital and every connection with mailbox sizes', async () => {
    const a = await consoleJson('actors');
    // The count and the rows agree: every running actor is listed (nothing short-lived runs now).
    assert.equal(a.listed, a.actors.length, JSON.stringify(a));
    assert.equal(a.running, a.listed, JSON.stringify(a));
    assert.equal(a.unlisted, 0, JSON.stringify(a));
    const kinds = (k) => a.actors.filter((x) => x.actor === k);
    assert.equal(kinds('directory').length, 1);
    assert.equal(kinds('inspector').length, 1);
    // A cluster node has the JetStream store (its loads and reads share its thread) and the
    // follows (the consumers that feed hospitals, made on a thread of their own).
    assert.deepEqual(kinds('storage').map((x) => x.name),
      JETSTREAM ? ['storage', 'follows'] : ['storage', 'reader', 'loader-0', 'loader-1']);
    assert.deepEqual(kinds('metrics').map((x) => x.name), [H]);
    assert.deepEqual(kinds('console').map((x) => x.name), ['request']);
    const hs = kinds('hospital');
    assert.deepEqual(hs.map((x) => x.name), [H]);
    assert.ok(Number.isInteger(hs[0].mailbox), JSON.stringify(hs[0]));
    assert.ok(Number.isInteger(hs[0].reply_us), JSON.stringify(hs[0]));
    const conns = kinds('connection');
    assert.deepEqual(conns.map((x) => Number(x.name)).sort(), [ids.a, ids.b, ids.c].sort());
    for (const c of conns) {
      assert.ok(!('error' in c), JSON.stringify(c));
      assert.ok(Number.isInteger(c.reply_us), JSON.stringify(c));
    }
    for (const x of a.actors) assert.ok(Number.isInteger(x.id) && x.id > 0, JSON.stringify(x));
  });

  test('log-level changes the server log level at run time', async () => {
    assert.match(await consoleFails('log-level loud'), /usage: log-level debug\|info\|warn\|error \(got "loud"\)/);
    const r = await consoleJson('log-level debug');
    assert.deepEqual(r, { level: 'debug', previous: 'info' });
    assert.match(server.logs(), /event=log_level_changed from=info to=debug/);
    assert.equal((await consoleJson('stats')).log_level, 'debug');
    // Debug lines now appear (the inspector logs each command at debug).
    await withTimeout((async () => {
      while (!/level=debug event=inspector_command command=stats/.test(server.logs())) {
        await new Promise((res) => setImmediate(res));
      }
    })(), WAIT_MS, 'a debug line in the server log');
    assert.deepEqual(await consoleJson('log-level info'), { level: 'info', previous: 'debug' });
  });

  test('reconnect-all sends the reconnect notification to every client', async () => {
    const r = await consoleJson('reconnect-all');
    assert.deepEqual(r, { notified: 3 });
    for (const k of ['a', 'b', 'c']) {
      const m = await socks[k].next((f) => f.json && f.json.method === 'reconnect', `${k}: reconnect`);
      assert.deepEqual(m.json, RECONNECT);
    }
  });

  test('kick closes exactly that connection with 4000', async () => {
    assert.match(await consoleFails('kick 999999'), /no open connection with id 999999/);
    assert.match(await consoleFails('kick'), /usage: kick CONN_ID/);
    assert.deepEqual(await consoleJson(`kick ${ids.c}`), { kicked: ids.c });
    const closed = await withTimeout(socks.c.closed.promise, WAIT_MS, 'c: close after kick');
    assert.equal(closed.code, 4000);
    // The others are untouched: they still answer.
    await ok(socks.a, 30, 'query', 'healthcare.getActiveAlerts', { hospitalId: H });
    await ok(socks.b, 30, 'query', 'healthcare.getActiveAlerts', { hospitalId: H });
    assert.equal(socks.a.closeInfo, undefined);
    assert.equal(socks.b.closeInfo, undefined);
    // The registry forgets the kicked one once the server has closed it.
    let rows;
    await withTimeout((async () => {
      do rows = await consoleJson('connections'); while (rows.length !== 2);
    })(), WAIT_MS, 'two connections after the kick');
    assert.deepEqual(rows.map((x) => x.id), [ids.a, ids.b].sort((x, y) => x - y));
    const s = await consoleJson('stats');
    assert.equal(s.connections, 2);
    assert.equal(s.subscriptions, 2);
  });

  test('unknown commands and bad arguments fail with exit 1; help needs no server', async () => {
    assert.match(await consoleFails('frobnicate'), /^vigilctl console: unknown command "frobnicate" \(try `help`\)\n$/);
    assert.match(await consoleFails('stats extra'), /usage: stats/);
    const h = await ctl(['console', '--port', '1', '--exec', 'help']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /Read-only commands:\n(.*\n)*.*Commands that change the running server/);
    assert.ok(h.stdout.indexOf('kick CONN_ID') > h.stdout.indexOf('Commands that change'), h.stdout);
    for (const c of ['stats', 'hospitals', 'hospital ID', 'connections [--hospital ID]', 'connection ID', 'actors',
      'escalations', 'kick CONN_ID', 'reconnect-all', 'log-level', 'help']) {
      assert.ok(h.stdout.includes(c), `help mentions ${c}:\n${h.stdout}`);
    }
    const bad = await ctl(['console', '--port', 'x', '--exec', 'stats']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /invalid --port "x"/);
    const unknown = await ctl(['console', '--bogus']);
    assert.equal(unknown.code, 2);
    const quote = await ctl([...consoleArgs(), '--exec', 'hospital "x']);
    assert.equal(quote.code, 2);
    assert.match(quote.stderr, /unterminated " quote/);
  });

  test('an unreachable inspector gives a clear error and exit 1', async () => {
    const port = await freePort();
    const token = ['--db', server.dbPath];
    for (const extra of [[], ['--json']]) {
      const args = ['console', '--port', String(port), ...token, '--exec', 'stats', ...extra];
      const r = await ctl(args);
      assert.equal(r.code, 1, describeRun(args, r));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^vigilctl console: cannot reach the vigild inspector at 127\\.0\\.0\\.1:${port}: .+\\n$`));
    }
    // Interactive mode fails the same way before reading any command.
    const args = ['console', '--host', '127.0.0.1', '--port', String(port), ...token];
    const r = await ctl(args, { input: 'stats\n' });
    assert.equal(r.code, 1, describeRun(args, r));
    assert.match(r.stderr, /cannot reach the vigild inspector at 127\.0\.0\.1:/);
    // Not a console at all (vigild's own tRPC port, which never greets): a clear error, no hang,
    // and the token is not sent there.
    const wrong = await ctl(['console', '--port', String(server.port), ...token, '--exec', 'stats']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`^vigilctl console: cannot reach the vigild inspector at 127\\.0\\.0\\.1:${server.port}: `));
  });

  test('interactive mode reads commands from piped stdin', async () => {
    const args = consoleArgs();
    const r = await ctl(args, { input: `stats\n\nhospital ${H}\nquit\nstats\n` });
    assert.equal(r.code, 0, describeRun(args, r));
    assert.match(r.stdout, /^connections\s+2$/m);
    assert.match(r.stdout, /^open_alerts\s+2$/m);
    assert.match(r.stdout, /^escalations:$/m);
    assert.equal(r.stdout.match(/^connections\s/mg).length, 2, 'stats then hospital (its connections count); nothing after quit');
    // The exit code of piped input is that of the last command.
    const failed = await ctl(args, { input: 'stats\nhospital nope\n' });
    assert.equal(failed.code, 1, describeRun(args, failed));
    assert.match(failed.stderr, /hospital "nope" is not loaded/);
    const json = await ctl([...args, '--json'], { input: 'stats\nescalations\n' });
    assert.equal(json.code, 0);
    const [stats, esc] = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(stats.connections, 2);
    assert.equal(esc.length, 1);
  });

  test('backup copies the live database; replay reads the copy', { skip: JETSTREAM && 'vigilctl backup, restore and replay --db work on SQLite files only (docs/operations.md "Running a cluster", known limits)' }, async () => {
    const copy = path.join(tmp, 'copy.db');
    const args = ['backup', '--db', server.dbPath, '--out', copy];
    const r = await ctl(args);
    assert.equal(r.code, 0, describeRun(args, r));
    assert.match(r.stdout, new RegExp(`^backup written to ${copy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: epoch [a-z0-9]{8}, last event seq 6, \\d+ bytes\\n$`));
    assert.deepEqual(readdirSync(tmp), ['copy.db'], 'no temporary files left');

    const live = await ctl(['replay', '--db', server.dbPath, '--hospital', H]);
    const fromCopy = await ctl(['replay', '--db', copy, '--hospital', H]);
    assert.equal(live.code, 0, live.stderr);
    assert.equal(fromCopy.code, 0, fromCopy.stderr);
    const events = fromCopy.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(events.length, 6);
    assert.deepEqual(events.map((e) => e.type), ['alert.created', 'alert.created', 'alert.created',
      'alert.acknowledged', 'alert.acknowledged', 'alert.resolved']);
    assert.equal(fromCopy.stdout, live.stdout);

    // The server keeps working after (and is unaffected by) the backup.
    await ok(socks.a, 40, 'mutation', 'healthcare.createAlert', alertInput(H, 'C4'));
    await socks.a.data(2);

    // An existing --out is refused without --force; with --force it is replaced by a newer copy.
    const again = await ctl(args);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists \(use --force to replace it\)/);
    const forced = await ctl([...args, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /last event seq 7,/);
    const replay7 = await ctl(['replay', '--db', copy, '--hospital', H]);
    assert.equal(replay7.stdout.trim().split('\n').length, 7);
  });

  test('backup refuses a missing database and bad arguments, creating nothing', { skip: JETSTREAM && 'vigilctl backup, restore and replay --db work on SQLite files only (docs/operations.md "Running a cluster", known limits)' }, async () => {
    const missing = path.join(tmp, 'absent.db');
    const out = path.join(tmp, 'never.db');
    const r = await ctl(['backup', '--db', missing, '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^vigilctl backup: database .*absent\.db does not exist/);
    assert.equal(existsSync(missing), false, 'the source is not created');
    assert.equal(existsSync(out), false);
    const self = await ctl(['backup', '--db', server.dbPath, '--out', server.dbPath, '--force']);
    assert.equal(self.code, 1);
    assert.match(self.stderr, /is the database itself/);
    const notDb = path.join(tmp, 'not-a-db');
    writeFileSync(notDb, 'hello, this is not SQLite');
    const bad = await ctl(['backup', '--db', notDb, '--out', out]);
    assert.equal(bad.code, 1);
    assert.equal(existsSync(out), false);
    assert.equal(statSync(notDb).size, 25, 'the source is untouched');
    assert.equal((await ctl(['backup', '--out', out])).code, 2);
    assert.equal((await ctl(['backup', '--db', server.dbPath])).code, 2);
  });
});

describe('vigild inspector start-up', () => {
  test('an admin.port in use stops start-up with exit 1 and a line naming admin.port', async () => {
    const adminPort = await freePort();
    const first = await startServer({ args: [`--admin.port=${adminPort}`] });
    const second = new VigilServer({ args: [`--admin.port=${adminPort}`] });
    try {
      await assert.rejects(second.start(), /exited during start-up \(code=1 signal=null\)/);
      assert.match(second.logs(), new RegExp(`level=error event=admin_listen_failed error="admin\\.port ${adminPort} on 127\\.0\\.0\\.1 is in use \\(another vigild\\?\\)"`));
    } finally {
      await second.dispose();
      await first.dispose();
    }
  });

  test('admin.port=0 disables the inspector', async () => {
    const s = await startServer();
    try {
      assert.doesNotMatch(s.logs(), /inspector_listening/);
    } finally {
      await s.dispose();
    }
  });
});

// ---- the console listener: admin token and bounded handshake ---------------------------------

/** A raw TCP socket to 127.0.0.1:port collecting what it reads; `closed` settles on close. */
function rawSocket(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const s = { sock, data: Buffer.alloc(0) };
    s.closed = new Promise((res) => sock.on('close', () => res(s.data)));
    sock.on('data', (d) => { s.data = Buffer.concat([s.data, d]); });
    sock.on('error', () => {}); // a reset is a close here
    sock.once('connect', () => resolve(s));
    sock.once('error', reject);
  });
}

/** Resolves with the first line the socket read (without the newline). */
async function firstLine(s) {
  return withTimeout((async () => {
    while (!s.data.includes(0x0a)) await new Promise((res) => setTimeout(res, 10));
    return s.data.subarray(0, s.data.indexOf(0x0a)).toString();
  })(), WAIT_MS, 'the first line from the console listener');
}

/** vigild's resident set size in KiB (Linux). */
function rssKiB(pid) {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

describe('console listener', () => {
  let server;
  let adminPort;
  let tokenFile;

  before(async () => {
    adminPort = await freePort();
    server = await startServer({ args: [`--admin.port=${adminPort}`] });
    tokenFile = path.join(server.dbDir, 'admin.token');
  });

  after(async () => {
    if (server) {
      const info = await server.stop();
      await server.dispose();
      assert.deepEqual(info, { code: 0, signal: null }, `vigild exit after SIGTERM\n${server.tail()}`);
    }
  });

  test('the admin token is created next to the database, mode 0600, and named in the log', () => {
    const st = statSync(tokenFile);
    assert.equal(st.mode & 0o777, 0o600);
    assert.match(readFileSync(tokenFile, 'utf8'), /^[0-9a-f]{64}\n$/);
    assert.match(server.logs(), new RegExp(`event=inspector_listening address=127\\.0\\.0\\.1 port=${adminPort} token_file=${tokenFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  test('a BASP-like header claiming a 4 GiB payload, or random bytes: closed, and vigild stays small', async () => {
    const before = rssKiB(server.pid);
    // CAF 0.17's BASP header: operation, flags, payload length (here 0xFFFFFFFF), operation
    // data, source and destination actor ids. The old middleman allocated what it claimed.
    const basp = Buffer.alloc(32);
    basp.writeUInt8(0x00, 0);
    basp.writeUInt32BE(0xffffffff, 4);
    basp.writeBigUInt64BE(1n, 8);
    const randomBytes = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 151 + 7) % 256));
    for (const payload of [basp, randomBytes, Buffer.concat([basp, Buffer.alloc(4096, 0x41)])]) {
      const s = await rawSocket(adminPort);
      s.sock.write(payload);
      await withTimeout(s.closed, WAIT_MS, 'the listener closes the socket');
      // What it read, if anything, is the greeting only: no reply to the garbage.
      assert.ok(s.data.length === 0 || s.data.toString() === 'vigil-console 1 ready\n', JSON.stringify(s.data.toString()));
    }
    const afterKiB = rssKiB(server.pid);
    assert.ok(afterKiB < before + 16 * 1024, `VmRSS ${before} kB -> ${afterKiB} kB`);
    assert.match(server.logs(), /level=warn event=console_auth_failed peer="?127\.0\.0\.1:\d+"? reason="?not_auth"?/);
  });

  test('an AUTH line past 512 bytes or a silent client is cut off, and logged', async () => {
    const long = await rawSocket(adminPort);
    assert.equal(await firstLine(long), 'vigil-console 1 ready');
    long.sock.write(`AUTH ${'a'.repeat(2000)}`); // no newline
    await withTimeout(long.closed, WAIT_MS, 'closed after 512 bytes');
    assert.equal(long.data.toString(), 'vigil-console 1 ready\n');
    assert.match(server.logs(), /event=console_auth_failed peer="?127\.0\.0\.1:\d+"? reason="?too_long"?/);

    const silent = await rawSocket(adminPort);
    const opened = Date.now();
    assert.equal(await firstLine(silent), 'vigil-console 1 ready');
    silent.sock.write('AUTH ');
    await withTimeout(silent.closed, 10000, 'closed after the 5 s authentication timeout');
    assert.ok(Date.now() - opened >= 4000, `closed after ${Date.now() - opened} ms`);
    assert.match(server.logs(), /event=console_auth_failed peer="?127\.0\.0\.1:\d+"? reason="?timeout"?/);
  });

  test('at most 8 console sockets at once: the others read "busy" and are closed', async () => {
    const socks = [];
    try {
      for (let i = 0; i < 10; i += 1) socks.push(await rawSocket(adminPort));
      const lines = await Promise.all(socks.map(firstLine));
      assert.equal(lines.filter((l) => l === 'vigil-console 1 ready').length, 8, lines.join('\n'));
      assert.equal(lines.filter((l) => l === 'vigil-console 1 busy').length, 2, lines.join('\n'));
      assert.match(server.logs(), /event=console_refused peer="?127\.0\.0\.1:\d+"? reason="?too_many_sockets"?/);
    } finally {
      for (const s of socks) s.sock.destroy();
    }
    // The slots come back once those sockets are gone.
    await withTimeout((async () => {
      for (;;) {
        const r = await ctl(['console', '--port', String(adminPort), '--token-file', tokenFile, '--exec', 'stats', '--json']);
        if (r.code === 0) return;
        await new Promise((res) => setTimeout(res, 50));
      }
    })(), WAIT_MS, 'a console session after the raw sockets closed');
  });

  test('without the token the console is refused with a clear message', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'vigil-console-cwd-'));
    try {
      // No token anywhere: the default file (./data/admin.token) does not exist.
      const none = await ctl(['console', '--port', String(adminPort), '--exec', 'stats'], { cwd: tmp });
      assert.equal(none.code, 1, describeRun(['console'], none));
      assert.equal(none.stdout, '');
      assert.match(none.stderr, /^vigilctl console: cannot read the admin token file \.\/data\/admin\.token: No such file or directory \(the console needs vigild's admin token/);
      const missing = await ctl(['console', '--port', String(adminPort), '--token-file', path.join(tmp, 'nope'), '--exec', 'stats']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /cannot read the admin token file .*nope: No such file or directory/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    // A request without AUTH first gets nothing and is closed.
    const s = await rawSocket(adminPort);
    assert.equal(await firstLine(s), 'vigil-console 1 ready');
    s.sock.write('["stats"]\n');
    await withTimeout(s.closed, WAIT_MS, 'closed without AUTH');
    assert.equal(s.data.toString(), 'vigil-console 1 ready\n');
  });

  test('a wrong token is refused and logged, never the token itself', async () => {
    const wrong = 'wrong-token-0123456789abcdef';
    const r = await ctl(['console', '--port', String(adminPort), '--exec', 'stats'], { env: { VIGIL_ADMIN_TOKEN: wrong } });
    assert.equal(r.code, 1, describeRun(['console'], r));
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `vigilctl console: the vigild console at 127.0.0.1:${adminPort} refused the admin token from VIGIL_ADMIN_TOKEN: wrong admin token\n`);
    const bad = path.join(server.dbDir, 'other.token');
    writeFileSync(bad, 'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\n', { mode: 0o600 });
    const fromFile = await ctl(['console', '--port', String(adminPort), '--token-file', bad], { input: 'stats\n' });
    assert.equal(fromFile.code, 1);
    assert.match(fromFile.stderr, /refused the admin token from .*other\.token: wrong admin token/);
    await withTimeout((async () => {
      while ((server.logs().match(/event=console_auth_failed peer="?127\.0\.0\.1:\d+"? reason="?wrong_token"?/g) || []).length < 2) {
        await new Promise((res) => setTimeout(res, 10));
      }
    })(), WAIT_MS, 'two console_auth_failed reason=wrong_token lines');
    const token = readFileSync(tokenFile, 'utf8').trim();
    assert.ok(!server.logs().includes(token), 'the admin token is never logged');
    assert.ok(!server.logs().includes(wrong), 'a wrong token is never logged either');
    // Too short to be a token: refused before connecting.
    const short = await ctl(['console', '--port', String(adminPort), '--exec', 'stats'], { env: { VIGIL_ADMIN_TOKEN: 'abc' } });
    assert.equal(short.code, 2);
    assert.match(short.stderr, /VIGIL_ADMIN_TOKEN is shorter than 16 characters/);
  });

  test('with the right token (file, --db or VIGIL_ADMIN_TOKEN) everything works; mutating commands are logged', async () => {
    const token = readFileSync(tokenFile, 'utf8').trim();
    for (const [args, env] of [
      [['--token-file', tokenFile], {}],
      [['--db', server.dbPath], {}],
      [[], { VIGIL_ADMIN_TOKEN: token }],
    ]) {
      const r = await ctl(['console', '--port', String(adminPort), ...args, '--exec', 'stats', '--json'], { env });
      assert.equal(r.code, 0, describeRun(args, r));
      assert.equal(JSON.parse(r.stdout).pid, server.pid);
    }
    const lvl = await ctl(['console', '--port', String(adminPort), '--db', server.dbPath, '--exec', 'log-level info', '--json']);
    assert.equal(lvl.code, 0, lvl.stderr);
    assert.match(server.logs(), /level=info event=console_command peer="?127\.0\.0\.1:\d+"? command="?log-level"?/);
    assert.doesNotMatch(server.logs(), /event=console_command [^\n]*command="?stats"?/, 'read-only commands are not logged at info');
  });

  test('the raw protocol: AUTH and requests in one write, length-prefixed replies; an open session does not hold up shutdown', async () => {
    const token = readFileSync(tokenFile, 'utf8').trim();
    const s = await rawSocket(adminPort);
    s.sock.write(`AUTH ${token}\n["stats"]\n["hospital","x y"]\nnot json\n`);
    /** The replies read so far: [{ok, data|error}], parsed by their length prefixes. */
    const replies = () => {
      const out = [];
      let buf = s.data.subarray(s.data.indexOf(0x0a) + 1); // after the greeting
      for (;;) {
        const nl = buf.indexOf(0x0a);
        if (nl < 0) return out;
        const len = Number(buf.subarray(0, nl).toString());
        if (buf.length < nl + 1 + len) return out;
        out.push(JSON.parse(buf.subarray(nl + 1, nl + 1 + len).toString()));
        buf = buf.subarray(nl + 1 + len);
      }
    };
    await withTimeout((async () => {
      while (replies().length < 4) await new Promise((res) => setTimeout(res, 10));
    })(), WAIT_MS, 'four replies');
    const [auth, stats, hospital, bad] = replies();
    assert.equal(s.data.subarray(0, s.data.indexOf(0x0a)).toString(), 'vigil-console 1 ready');
    assert.deepEqual(auth, { ok: true, data: { version: auth.data.version, pid: server.pid, port: server.port, admin_port: adminPort, db: server.dbPath, epoch: auth.data.epoch } });
    assert.equal(stats.ok, true);
    assert.equal(stats.data.pid, server.pid);
    assert.deepEqual(hospital, { ok: false, error: 'hospital "x y" is not loaded (no call or subscription has used it since start)' });
    assert.deepEqual(bad, { ok: false, error: 'bad request: expected a JSON array of strings, command first' });
    // The session stays open (idle) while vigild stops: it is closed, and the stop is clean.
    const started = Date.now();
    assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.tail());
    assert.ok(Date.now() - started < 5000, `stopped after ${Date.now() - started} ms`);
    await withTimeout(s.closed, WAIT_MS, 'the session closed by the shutdown');
    await server.start(); // the suite's later tests and `after` expect a running server
  });

  test('a token file readable by others stops start-up', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-console-token-'));
    const file = path.join(dir, 'admin.token');
    writeFileSync(file, `${'a'.repeat(64)}\n`, { mode: 0o644 });
    const port = await freePort();
    const s = new VigilServer({ args: [`--admin.port=${port}`, `--admin.token-file=${file}`] });
    try {
      await assert.rejects(s.start(), /exited during start-up \(code=1 signal=null\)/);
      assert.match(s.logs(), /level=error event=admin_token_failed error=".*admin\.token has mode 0644: other users could use the console/);
    } finally {
      await s.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
