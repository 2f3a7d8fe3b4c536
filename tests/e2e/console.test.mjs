// `vigilctl console` and `vigilctl backup` against a real vigild with its inspector published on
// a free admin port: known WebSocket connections, subscriptions and alerts, then every console
// command checked against them (JSON output with --json, text tables without), the operator
// commands (kick, reconnect-all, log-level) observed from the clients and the server log, and
// a backup read back with `vigilctl replay`.
// Env: VIGILCTL_BIN (default <repo>/build/vigilctl), VIGIL_BIN (see lib/server.mjs).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { RawWs, newHospital, withTimeout, WAIT_MS } from './lib/clients.mjs';
import { VigilServer, freePort, startServer } from './lib/server.mjs';
import { mintToken } from './lib/tokens.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const VIGILCTL_BIN = process.env.VIGILCTL_BIN || path.resolve(here, '..', '..', 'build', 'vigilctl');
const RECONNECT = { id: null, method: 'reconnect' };

// ---- helpers ------------------------------------------------------------------------------------

/** Runs vigilctl to completion: {code, stdout, stderr}. `input` is written to its stdin. */
function ctl(args, { input } = {}) {
  if (!existsSync(VIGILCTL_BIN)) throw new Error(`vigilctl not found at ${VIGILCTL_BIN} (build it, or set VIGILCTL_BIN)`);
  return withTimeout(new Promise((resolve, reject) => {
    const child = execFile(VIGILCTL_BIN, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
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

  /** `vigilctl console --exec CMD --json` that must succeed; returns the parsed answer. */
  async function consoleJson(cmd) {
    const args = ['console', '--port', String(adminPort), '--exec', cmd, '--json'];
    const r = await ctl(args);
    assert.equal(r.code, 0, describeRun(args, r));
    assert.equal(r.stderr, '', describeRun(args, r));
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `--json prints one line\n${describeRun(args, r)}`);
    return JSON.parse(lines[0]);
  }

  /** `vigilctl console --exec CMD` that must fail with exit 1; returns stderr. */
  async function consoleFails(cmd) {
    const args = ['console', '--port', String(adminPort), '--exec', cmd];
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
    // Text mode: aligned `key  value` lines.
    const r = await ctl(['console', '--port', String(adminPort), '--exec', 'stats']);
    assert.equal(r.code, 0, r.stderr);
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
    const r = await ctl(['console', '--port', String(adminPort), '--exec', 'connections']);
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
    assert.ok(a.running >= 6, `running ${a.running}`);
    const kinds = (k) => a.actors.filter((x) => x.actor === k);
    assert.equal(kinds('directory').length, 1);
    assert.equal(kinds('inspector').length, 1);
    assert.equal(kinds('storage').length, 1);
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
    for (const c of ['stats', 'hospitals', 'hospital ID', 'connections [--hospital ID]', 'connection ID', 'actors',
      'escalations', 'kick CONN_ID', 'reconnect-all', 'log-level', 'help']) {
      assert.ok(h.stdout.includes(c), `help mentions ${c}:\n${h.stdout}`);
    }
    const bad = await ctl(['console', '--port', 'x', '--exec', 'stats']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /invalid --port "x"/);
    const unknown = await ctl(['console', '--bogus']);
    assert.equal(unknown.code, 2);
    const quote = await ctl(['console', '--port', String(adminPort), '--exec', 'hospital "x']);
    assert.equal(quote.code, 2);
    assert.match(quote.stderr, /unterminated " quote/);
  });

  test('an unreachable inspector gives a clear error and exit 1', async () => {
    const port = await freePort();
    for (const extra of [[], ['--json']]) {
      const args = ['console', '--port', String(port), '--exec', 'stats', ...extra];
      const r = await ctl(args);
      assert.equal(r.code, 1, describeRun(args, r));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^vigilctl console: cannot reach the vigild inspector at 127\\.0\\.0\\.1:${port}: .+\\n$`));
    }
    // Interactive mode fails the same way before reading any command.
    const args = ['console', '--host', '127.0.0.1', '--port', String(port)];
    const r = await ctl(args, { input: 'stats\n' });
    assert.equal(r.code, 1, describeRun(args, r));
    assert.match(r.stderr, /cannot reach the vigild inspector at 127\.0\.0\.1:/);
    // Not a CAF node at all (vigild's own tRPC port): still a clear error, no hang.
    const wrong = await ctl(['console', '--port', String(server.port), '--exec', 'stats']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`^vigilctl console: cannot reach the vigild inspector at 127\\.0\\.0\\.1:${server.port}: `));
  });

  test('interactive mode reads commands from piped stdin', async () => {
    const args = ['console', '--port', String(adminPort)];
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

  test('backup copies the live database; replay reads the copy', async () => {
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

  test('backup refuses a missing database and bad arguments, creating nothing', async () => {
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
      assert.match(second.logs(), new RegExp(`level=error event=admin_listen_failed error=".*admin\\.port ${adminPort}.*"`));
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
