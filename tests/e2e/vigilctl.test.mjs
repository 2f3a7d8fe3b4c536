// `vigilctl watch` and `vigilctl replay` against a real vigild: the real binaries, alerts made over
// HTTP, output read line by line. Env VIGILCTL_BIN points at vigilctl (default
// /work/main/build/vigilctl); VIGIL_BIN at vigild (see lib/server.mjs).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';

import {
  Ctl, EVENT_ID, assertIncreasing, createAlert, createAlerts, ctl, epochOf, events, ids, mutate,
  newHospital, seq, tempDir, useServer,
} from './lib/vigilctl.mjs';
import { JETSTREAM } from './lib/server.mjs';

// ---- watch ----------------------------------------------------------------------------------------

describe('vigilctl watch', () => {
  const ctx = useServer();

  test('prints each event of the hospital as one flat JSON line; --count N exits 0 after N', async () => {
    const H = newHospital();
    const other = newHospital();
    const T = ctx.token([H, other]);
    const w = new Ctl(['watch', '--url', ctx.url(), '--hospital', H, '--count', '3'], { VIGIL_TOKEN: T });
    await w.subscribed();
    const a1 = await createAlert(ctx.server, T, H, 1);
    await createAlert(ctx.server, T, other, 9); // another hospital: not printed
    const a2 = await createAlert(ctx.server, T, H, 2);
    const a3 = await createAlert(ctx.server, T, H, 3);
    await createAlert(ctx.server, T, H, 4); // after --count: not printed
    const r = await w.exit();
    assert.equal(r.code, 0, w.describe());
    assert.equal(r.lines.length, 3, w.describe());
    const evs = events(r.lines);
    assert.deepEqual(evs.map((e) => e.alertId), [a1.id, a2.id, a3.id]);
    for (const [i, e] of evs.entries()) {
      assert.deepEqual(Object.keys(e).sort(), ['alertId', 'data', 'hospitalId', 'id', 'timestamp', 'type']);
      assert.match(e.id, EVENT_ID);
      assert.equal(e.type, 'alert.created');
      assert.equal(e.hospitalId, H);
      assert.equal(e.data.id, e.alertId);
      assert.equal(e.data.roomNumber, `R${i + 1}`);
      assert.equal(e.data.status, 'active');
      assert.match(e.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
    assertIncreasing(evs.map((e) => e.id), 'watch output');
    assert.ok(!r.stderr.includes(T), 'the token is never printed');
  });

  test('--last-event-id replays the stored events after that id first', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    const w = new Ctl(['watch', '--url', ctx.url(), '--hospital', H, '--count', '3', '--token', T]);
    await w.subscribed();
    await createAlerts(ctx.server, T, H, 3);
    const first = ids((await w.exit()).lines);
    assert.equal(first.length, 3);

    const r = await ctl(['watch', '--url', `${ctx.url()}/api/trpc`, '--hospital', H, '--count', '2',
      '--last-event-id', first[0], '--token', T]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(ids(r.lines), first.slice(1));
    assert.match(r.stderr, new RegExp(`subscribed to healthcare.subscribeToAlerts after ${first[0]}`));
  });

  test('--alert follows one alert; --superjson prints the same flat events', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    const [a, b] = await createAlerts(ctx.server, T, H, 2);
    const w = new Ctl(['watch', '--url', ctx.url(), '--alert', a.id, '--superjson', '--count', '3'], { VIGIL_TOKEN: T });
    await w.subscribed();
    assert.match(w.stderr, /subscribed to healthcare.subscribeToAlert\n/);
    await mutate(ctx.server, T, 'acknowledgeAlert', { alertId: b.id }); // another alert: not printed
    await mutate(ctx.server, T, 'updateAlert', { alertId: a.id, urgencyLevel: 1 });
    await mutate(ctx.server, T, 'acknowledgeAlert', { alertId: a.id, notes: 'on my way' });
    await mutate(ctx.server, T, 'resolveAlert', { alertId: a.id, resolution: 'resolved in the e2e test' });
    const r = await w.exit();
    assert.equal(r.code, 0, w.describe());
    const evs = events(r.lines);
    assert.deepEqual(evs.map((e) => e.type), ['alert.updated', 'alert.acknowledged', 'alert.resolved']);
    for (const e of evs) {
      assert.equal(e.alertId, a.id);
      assert.equal(typeof e.timestamp, 'string', 'dates are plain ISO strings, not superjson envelopes');
      assert.equal(e.json, undefined);
    }
    assert.equal(evs[1].data.acknowledgedBy.length > 0, true);
    assert.equal(typeof evs[1].data.acknowledgedAt, 'string');
    assert.equal(evs[2].data.resolution, 'resolved in the e2e test');
    assertIncreasing(evs.map((e) => e.id), 'alert stream');
  });

  test('--timeout exits 0 when nothing happens', async () => {
    const H = newHospital();
    const r = await ctl(['watch', '--url', ctx.url(), '--hospital', H, '--timeout', '0.5'], { VIGIL_TOKEN: ctx.token(H) });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.lines, []);
  });

  test('server errors are printed with code and message, exit 1', async () => {
    const H = newHospital();
    const forbidden = await ctl(['watch', '--url', ctx.url(), '--hospital', H, '--timeout', '5'],
      { VIGIL_TOKEN: ctx.token(newHospital()) });
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /FORBIDDEN \(-32003\): Access denied to this hospital/);
    assert.deepEqual(forbidden.lines, []);

    const unauthorized = await ctl(['watch', '--url', ctx.url(), '--hospital', H, '--timeout', '5'],
      { VIGIL_TOKEN: 'not.a.token' });
    assert.equal(unauthorized.code, 1);
    assert.match(unauthorized.stderr, /UNAUTHORIZED \(-32001\): Invalid token/);
    assert.ok(!unauthorized.stderr.includes('not.a.token'), 'the token is never printed');

    const notFound = await ctl(['watch', '--url', ctx.url(), '--alert', randomUUID(), '--timeout', '5'],
      { VIGIL_TOKEN: ctx.token(H) });
    assert.equal(notFound.code, 1);
    assert.match(notFound.stderr, /NOT_FOUND \(-32004\): Alert not found/);
  });

  test('an unreachable server is a failure, bad command lines are usage errors', async () => {
    const H = newHospital();
    const env = { VIGIL_TOKEN: ctx.token(H) };
    const down = await ctl(['watch', '--url', 'ws://127.0.0.1:1', '--hospital', H], env);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot connect to 127\.0\.0\.1:1/);
    const downTls = await ctl(['watch', '--url', 'wss://127.0.0.1:1', '--hospital', H], env);
    assert.equal(downTls.code, 1);
    assert.match(downTls.stderr, /cannot connect to 127\.0\.0\.1:1/);

    const usage = [
      [['watch', '--hospital', H], /--url is required/],
      [['watch', '--url', 'http://127.0.0.1:1', '--hospital', H], /must start with ws:\/\/ or wss:\/\//],
      [['watch', '--url', 'ws://127.0.0.1:99999', '--hospital', H], /invalid port/],
      [['watch', '--url', ctx.url()], /--hospital \(or --alert\) is required/],
      [['watch', '--url', ctx.url(), '--hospital', 'bad id!'], /invalid hospital id/],
      [['watch', '--url', ctx.url(), '--alert', 'nope'], /--alert must be a UUID/],
      [['watch', '--url', ctx.url(), '--hospital', H, '--count', '0'], /--count/],
      [['watch', '--url', ctx.url(), '--hospital', H, '--timeout', 'soon'], /--timeout/],
      [['watch', '--url', ctx.url(), '--hospital', H, '--bogus'], /unknown option "--bogus"/],
    ];
    for (const [args, message] of usage) {
      const r = await ctl(args, env);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const noToken = await ctl(['watch', '--url', ctx.url(), '--hospital', H], { VIGIL_TOKEN: '' });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /a token is required/);

    const help = await ctl(['watch', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.lines.join('\n'), /Usage: vigilctl watch/);
  });
});

describe('vigilctl watch across server restarts', () => {
  const ctx = useServer();

  test('reconnects after a graceful restart (reconnect notification) and after kill -9, resuming without duplicates or gaps', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    const w = new Ctl(['watch', '--url', ctx.url(), '--hospital', H, '--count', '6'], { VIGIL_TOKEN: T });
    await w.subscribed(1);
    const created = await createAlerts(ctx.server, T, H, 2, 1);
    await w.until(() => w.lines.length >= 2, '2 events');

    await ctx.server.restart(); // SIGTERM: the server sends {"id":null,"method":"reconnect"} first
    await w.subscribed(2);
    created.push(...await createAlerts(ctx.server, T, H, 2, 3));
    await w.until(() => w.lines.length >= 4, '4 events');

    await ctx.server.kill9(); // the connection just drops
    await ctx.server.start();
    await w.subscribed(3);
    created.push(...await createAlerts(ctx.server, T, H, 2, 5));

    const r = await w.exit();
    assert.equal(r.code, 0, w.describe());
    const evs = events(r.lines);
    assert.deepEqual(evs.map((e) => e.alertId), created.map((a) => a.id), 'every event once, in order');
    assertIncreasing(evs.map((e) => e.id), 'across reconnects');
    assert.match(r.stderr, /reconnecting in 0\.5 s/);
    assert.match(r.stderr, new RegExp(`subscribed to healthcare.subscribeToAlerts after ${evs[1].id}`));
    assert.match(r.stderr, new RegExp(`subscribed to healthcare.subscribeToAlerts after ${evs[3].id}`));
  });

  test('with several --url it moves to the next URL on every failure and resumes there; at the start each URL is tried once', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    const dead = 'ws://127.0.0.1:1';
    // A dead URL first: watch moves on at once to the live one.
    const w = new Ctl(['watch', '--url', `${dead},${ctx.url()}`, '--hospital', H, '--count', '4'], { VIGIL_TOKEN: T });
    await w.subscribed(1);
    assert.match(w.stderr, /cannot connect to 127\.0\.0\.1:1.*; reconnecting to .* in 0\.0 s/);
    const created = await createAlerts(ctx.server, T, H, 2, 1);
    await w.until(() => w.lines.length >= 2, '2 events');
    // The live server dies: watch goes round the list (the dead URL, then the live one again,
    // with back-off) and resumes after its last printed event once the server is back.
    await ctx.server.kill9();
    await ctx.server.start();
    await w.subscribed(2);
    created.push(...await createAlerts(ctx.server, T, H, 2, 3));
    const r = await w.exit();
    assert.equal(r.code, 0, w.describe());
    assert.deepEqual(events(r.lines).map((e) => e.alertId), created.map((a) => a.id), 'every event once, in order');
    assertIncreasing(ids(r.lines), 'across the move');
    assert.match(r.stderr, new RegExp(`reconnecting to ws://127\\.0\\.0\\.1:1 in 0\\.5 s`));
    assert.match(r.stderr, new RegExp(`subscribed to healthcare.subscribeToAlerts after ${ids(r.lines)[1]}`));

    // Every URL refused before any connection worked: failure, after trying each once.
    const down = await ctl(['watch', '--url', dead, '--url', 'ws://127.0.0.1:2', '--hospital', H], { VIGIL_TOKEN: T });
    assert.equal(down.code, 1, down.stderr);
    assert.match(down.stderr, /cannot connect to 127\.0\.0\.1:1[^]*reconnecting to ws:\/\/127\.0\.0\.1:2 in 0\.0 s[^]*cannot connect to 127\.0\.0\.1:2/);
    for (const [args, message] of [
      [['watch', '--url', `${ctx.url()},`, '--hospital', H], /an empty URL in the list/],
      [['watch', '--url', `${ctx.url()},http://x`, '--hospital', H], /invalid --url http:\/\/x: .*ws:\/\//],
      [['watch', '--url', Array(17).fill(ctx.url()).join(','), '--hospital', H], /at most 16 URLs/],
    ]) {
      const bad = await ctl(args, { VIGIL_TOKEN: T });
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, message);
    }
  });

  test('replay --follow with several --url starts on the first that answers and moves to the next on every failure', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigilctl-e2e-'));
    try {
      const cp = path.join(dir, 'cp');
      const dead = 'ws://127.0.0.1:1';
      const f = new Ctl(['replay', '--url', dead, '--url', ctx.url(), '--hospital', H, '--checkpoint', cp, '--follow'], { VIGIL_TOKEN: T });
      await f.until(() => existsSync(cp), 'the initial checkpoint');
      assert.match(f.stderr, new RegExp(`cannot connect to 127\\.0\\.0\\.1:1.*; trying ${ctx.url().replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
      const created = await createAlerts(ctx.server, T, H, 2, 1);
      await f.until(() => f.lines.length >= 2, '2 events');
      await ctx.server.kill9();
      await ctx.server.start();
      created.push(...await createAlerts(ctx.server, T, H, 2, 3));
      await f.until(() => f.lines.length >= 4, '4 events after the restart', 30000);
      f.child.kill('SIGTERM');
      const done = await f.exit();
      assert.equal(done.code, 0, f.describe());
      assert.deepEqual(events(f.lines).map((e) => e.alertId), created.map((a) => a.id), 'every event once');
      assert.match(f.stderr, /connection lost: .*; reconnecting to ws:\/\/127\.0\.0\.1:1 in 0\.5 s/);
      for (const [args, message] of [
        [['replay', '--verify', '--url', `${ctx.url()},${ctx.url()}`, '--hospital', H], /checks one node: give one URL/],
        [['replay', '--url', `${ctx.url()},`, '--hospital', H, '--checkpoint', cp], /an empty URL in the list/],
      ]) {
        const bad = await ctl(args, { VIGIL_TOKEN: T });
        assert.equal(bad.code, 2, bad.stderr);
        assert.match(bad.stderr, message);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('replay --follow resumes from its checkpoint after the server is killed and restarted', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigilctl-e2e-'));
    try {
      const cp = path.join(dir, 'cp');
      const f = new Ctl(['replay', '--url', ctx.url(), '--hospital', H, '--checkpoint', cp, '--follow'], { VIGIL_TOKEN: T });
      await f.until(() => existsSync(cp), 'the initial checkpoint');
      const created = await createAlerts(ctx.server, T, H, 2, 1);
      await f.until(() => f.lines.length >= 2, '2 events');
      await ctx.server.kill9();
      await ctx.server.start();
      created.push(...await createAlerts(ctx.server, T, H, 2, 3));
      await f.until(() => f.lines.length >= 4, '4 events after the restart');
      await f.until(() => readFileSync(cp, 'utf8').trim() === ids(f.lines).at(-1), 'the checkpoint');
      f.child.kill('SIGTERM');
      const done = await f.exit();
      // SIGTERM ends a follower cleanly, with its summary line.
      assert.equal(done.code, 0, f.describe());
      assert.match(done.stderr, new RegExp(`vigilctl replay: done: 4 events printed, checkpoint none -> ${ids(f.lines).at(-1)}\n`));
      assert.deepEqual(events(f.lines).map((e) => e.alertId), created.map((a) => a.id), 'every event once');
      // Each reconnect line says why: here the TCP connection dropped without a close frame.
      assert.match(f.stderr, /vigilctl replay: connection lost: the connection dropped without a close frame \(code 1006\); reconnecting in 0\.5 s/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- replay: offline and verify ------------------------------------------------------------------

describe('vigilctl replay --db (offline) and --verify', { skip: JETSTREAM && 'vigilctl backup, restore and replay --db work on SQLite files only (docs/operations.md "Running a cluster", known limits)' }, () => {
  const ctx = useServer();
  const dir = tempDir();
  const H = newHospital();
  const H2 = newHospital();
  let T;
  let all; // the event ids of H, as offline replay printed them

  before(async () => {
    T = ctx.token([H, H2]);
    const [a, b, c] = await createAlerts(ctx.server, T, H, 3);
    await createAlert(ctx.server, T, H2, 1);
    await mutate(ctx.server, T, 'triggerEscalation', { alertId: a.id });
    await mutate(ctx.server, T, 'updateAlert', { alertId: a.id, description: 'changed', urgencyLevel: 1 });
    await mutate(ctx.server, T, 'acknowledgeAlert', { alertId: a.id, urgencyAssessment: 'decrease', notes: 'n' });
    await mutate(ctx.server, T, 'resolveAlert', { alertId: a.id, resolution: 'all good, patient is fine' });
    await mutate(ctx.server, T, 'acknowledgeAlert', { alertId: b.id });
    await mutate(ctx.server, T, 'updateAlert', { alertId: c.id, description: 'still waiting' });
  });

  test('prints the stored events of the hospital in order, while the server runs', async () => {
    const r = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H]);
    assert.equal(r.code, 0, r.stderr);
    const evs = events(r.lines);
    assert.deepEqual(evs.map((e) => e.type), [
      'alert.created', 'alert.created', 'alert.created', 'alert.escalated', 'alert.updated',
      'alert.acknowledged', 'alert.resolved', 'alert.acknowledged', 'alert.updated',
    ]);
    for (const e of evs) {
      assert.equal(e.hospitalId, H);
      assert.match(e.id, EVENT_ID);
    }
    all = evs.map((e) => e.id);
    assertIncreasing(all, 'offline replay');
    assert.equal(new Set(all.map(epochOf)).size, 1);

    // The same events the protocol replays: a watch from the first id prints the rest.
    const w = await ctl(['watch', '--url', ctx.url(), '--hospital', H, '--last-event-id', all[0],
      '--count', String(all.length - 1)], { VIGIL_TOKEN: T });
    assert.equal(w.code, 0, w.stderr);
    assert.deepEqual(w.lines.map((l) => JSON.parse(l)), evs.slice(1));
  });

  test('--since EVENT_ID prints the events after it; ids of another epoch are refused', async () => {
    const r = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--since', all[4]]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(ids(r.lines), all.slice(5));

    const last = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--since', all.at(-1)]);
    assert.equal(last.code, 0);
    assert.deepEqual(last.lines, []);

    const other = epochOf(all[0]) === 'zzzzzzzz' ? 'yyyyyyyy' : 'zzzzzzzz';
    const foreign = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--since', `${other}-1`]);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, new RegExp(`epoch ${other}, but this database's epoch is ${epochOf(all[0])}`));
    assert.deepEqual(foreign.lines, []);

    const future = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--since', `${epochOf(all[0])}-999999`]);
    assert.equal(future.code, 1);
    assert.match(future.stderr, /newer than every event/);

    const malformed = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--since', 'last-week']);
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /--since must be an event id/);
  });

  test('--from/--to select an inclusive range of event timestamps', async () => {
    const full = events((await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H])).lines);
    const from = full[3].timestamp;
    const to = full[6].timestamp;
    const expected = full.filter((e) => e.timestamp >= from && e.timestamp <= to).map((e) => e.id);
    assert.ok(expected.includes(full[3].id) && expected.includes(full[6].id), 'inclusive at both ends');

    const r = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--from', from, '--to', to]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(ids(r.lines), expected);

    const onlyFrom = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--from', to]);
    assert.deepEqual(ids(onlyFrom.lines), full.filter((e) => e.timestamp >= to).map((e) => e.id));
    const onlyTo = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--to', from]);
    assert.deepEqual(ids(onlyTo.lines), full.filter((e) => e.timestamp <= from).map((e) => e.id));
    // Another offset form of the same instant selects the same events.
    const offset = new Date(Date.parse(from)).toISOString().replace('Z', '+00:00');
    const same = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--from', offset, '--to', to]);
    assert.deepEqual(ids(same.lines), expected);

    const none = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--from', '2000-01-01T00:00:00Z', '--to', '2000-01-02T00:00:00Z']);
    assert.equal(none.code, 0);
    assert.deepEqual(none.lines, []);

    for (const [args, message] of [
      [['--from', 'yesterday'], /--from must be an ISO-8601 time/],
      [['--to', '2026-13-01T00:00:00Z'], /--to must be an ISO-8601 time/],
      [['--from', to, '--to', from], from === to ? null : /--from is later than --to/],
      [['--since', all[0], '--from', from], /either --since or --from/],
    ]) {
      if (!message) continue;
      const bad = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, ...args]);
      assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, message);
    }
  });

  test('--verify: the alerts table of a good database equals the state derived from its events', async () => {
    const r = await ctl(['replay', '--verify', '--db', ctx.server.dbPath]);
    assert.equal(r.code, 0, r.lines.join('\n') + r.stderr);
    const report = r.lines.join('\n');
    assert.match(report, /result: consistent/);
    assert.match(report, /differences: 0/);
    assert.match(report, /alerts: 4 \(4 verified, 0 not verifiable/);
    assert.match(report, new RegExp(`epoch: ${epochOf(all[0])}`));
  });

  test('--verify --url: the replay the server serves derives the state its getAlert answers; a changed alert is a difference', async () => {
    const env = { VIGIL_TOKEN: T };
    const r = await ctl(['replay', '--verify', '--url', ctx.url(), '--hospital', H, '--json'], env);
    assert.equal(r.code, 0, r.lines.join('\n') + r.stderr);
    const report = JSON.parse(r.lines[0]);
    assert.equal(report.consistent, true);
    assert.deepEqual(report.differences, []);
    assert.equal(report.events, all.length);
    assert.equal(report.first, all[0]);
    assert.equal(report.last, all.at(-1));
    assert.equal(report.newest, all.at(-1));
    assert.deepEqual([report.alerts, report.alertsVerified, report.alertsNotVerifiable], [3, 3, 0]);
    const text = await ctl(['replay', '--verify', '--url', ctx.url(), '--hospital', H], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.lines.join('\n'), /events replayed: \d+ \(.* \.\. .*\)\nalerts: 3 \(3 verified against getAlert, 0 not verifiable[^]*result: consistent/);

    // The stored alert no longer matches its events (changed behind the server's back).
    const sql = (q) => execFileSync('sqlite3', ['-cmd', '.timeout 5000', ctx.server.dbPath, q], { encoding: 'utf8' }).trim();
    await ctx.server.stop();
    const id = sql(`SELECT id FROM alerts WHERE hospital_id = '${H}' ORDER BY created_at LIMIT 1`);
    const room = sql(`SELECT json_extract(json, '$.roomNumber') FROM alerts WHERE id = '${id}'`);
    sql(`UPDATE alerts SET json = json_set(json, '$.roomNumber', 'Z-9') WHERE id = '${id}'`);
    await ctx.server.start();
    try {
      const bad = await ctl(['replay', '--verify', '--url', ctx.url(), '--hospital', H, '--json'], env);
      assert.equal(bad.code, 1, bad.stderr);
      const b = JSON.parse(bad.lines[0]);
      assert.equal(b.consistent, false);
      assert.deepEqual(b.differences, [`alert ${id}: roomNumber: the events give "${room}", the node's getAlert has "Z-9"`]);
    } finally {
      await ctx.server.stop();
      sql(`UPDATE alerts SET json = json_set(json, '$.roomNumber', '${room}') WHERE id = '${id}'`);
      await ctx.server.start();
    }
  });

  test('offline replay and --verify also work with the server down', async () => {
    const running = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H]);
    await ctx.server.stop();
    try {
      const r = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.lines, running.lines);
      const v = await ctl(['replay', '--verify', '--db', ctx.server.dbPath]);
      assert.equal(v.code, 0, v.lines.join('\n') + v.stderr);
    } finally {
      await ctx.server.start();
    }
  });

  test('unreadable databases and bad command lines', async () => {
    const missing = await ctl(['replay', '--db', path.join(dir, 'nope.db'), '--hospital', H]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /does not exist/);
    const verifyMissing = await ctl(['replay', '--verify', '--db', path.join(dir, 'nope.db')]);
    assert.equal(verifyMissing.code, 1);
    const junk = path.join(dir, 'junk.db');
    writeFileSync(junk, 'not a database at all, just text');
    const bad = await ctl(['replay', '--verify', '--db', junk]);
    assert.equal(bad.code, 1);

    for (const [args, message] of [
      [['replay', '--hospital', H], /either --db FILE \(offline\) or --url URL \(online\)/],
      [['replay', '--db', junk], /--hospital is required/],
      [['replay', '--db', junk, '--hospital', H, '--follow'], /--follow, --token and --token-file need --url/],
      [['replay', '--db', junk, '--hospital', H, '--from-start'], /--from-start goes with --checkpoint/],
      [['replay', '--db', junk, '--hospital', H, '--checkpoint', 'x', '--since', all[0]], /--checkpoint replaces --since/],
      [['replay', '--verify', '--db', junk, '--checkpoint', 'x'], /--verify takes only --db/],
      [['replay', '--db', junk, '--hospital', H, '--json'], /--json goes with --verify/],
      [['replay', '--verify'], /--verify needs --db/],
      [['replay', '--verify', '--db', junk, '--hospital', H], /--verify takes only --db/],
      [['replay', '--url', ctx.url(), '--hospital', H, '--token', 't'], /--checkpoint FILE is required/],
      [['replay', '--url', ctx.url(), '--hospital', H, '--checkpoint', 'x', '--since', all[0], '--token', 't'], /need --db/],
    ]) {
      const r = await ctl(args, { VIGIL_TOKEN: '' });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});

// ---- replay: online with a checkpoint ------------------------------------------------------------

describe('vigilctl replay --url (online, checkpoint)', () => {
  const ctx = useServer();
  const dir = tempDir();

  const online = (H, checkpoint, ...extra) =>
    ['replay', '--url', ctx.url(), '--hospital', H, '--checkpoint', checkpoint, ...extra];
  const readCheckpoint = (file) => readFileSync(file, 'utf8').trim();
  // The oracle: the stored events of H (after `since`), offline from the SQLite file; a cluster
  // node (VIGIL_E2E_ENGINE=jetstream) has no file, so there it is the node's own full replay
  // (--from-start into a checkpoint of its own, independent of the checkpoint under test).
  const storedLines = async (H, since) => {
    if (!JETSTREAM) {
      return (await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H,
        ...(since ? ['--since', since] : [])])).lines;
    }
    const r = await ctl(['replay', '--url', ctx.url(), '--hospital', H, '--from-start',
      '--checkpoint', path.join(dir, `oracle-${randomUUID()}.cp`)], { VIGIL_TOKEN: ctx.token(H) });
    assert.equal(r.code, 0, r.stderr);
    if (!since) return r.lines;
    const at = ids(r.lines).indexOf(since);
    assert.ok(at >= 0, `${since} is a stored event of ${H}`);
    return r.lines.slice(at + 1);
  };
  const offlineIds = async (H, since) => ids(await storedLines(H, since));

  test('each event is printed exactly once across runs; without a checkpoint it starts from now', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    const env = { VIGIL_TOKEN: T };
    const cp = path.join(dir, `${H}.cp`);
    await createAlerts(ctx.server, T, H, 2, 1); // before the first run: never printed

    const first = await ctl(online(H, cp), env);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.lines, []);
    const start = readCheckpoint(cp);
    assert.match(start, EVENT_ID);
    const before = await offlineIds(H);
    assert.equal(start, before.at(-1), 'from now = the newest event of the hospital');

    const batch1 = await createAlerts(ctx.server, T, H, 3, 3);
    const second = await ctl(online(H, cp), env);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(events(second.lines).map((e) => e.alertId), batch1.map((a) => a.id));
    assert.equal(readCheckpoint(cp), ids(second.lines).at(-1));

    const [x] = await createAlerts(ctx.server, T, H, 1, 6);
    await mutate(ctx.server, T, 'acknowledgeAlert', { alertId: x.id });
    await mutate(ctx.server, T, 'acknowledgeAlert', { alertId: batch1[0].id });
    const third = await ctl(online(H, cp), env);
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual(events(third.lines).map((e) => e.type), ['alert.created', 'alert.acknowledged', 'alert.acknowledged']);

    const fourth = await ctl(online(H, cp), env);
    assert.equal(fourth.code, 0, fourth.stderr);
    assert.deepEqual(fourth.lines, [], 'caught up: nothing new');

    const printed = [...ids(second.lines), ...ids(third.lines)];
    assert.equal(new Set(printed).size, printed.length, 'no event twice');
    assert.deepEqual(printed, await offlineIds(H, start), 'every event after the start, in order');
    assert.deepEqual(events([...second.lines, ...third.lines]), events(await storedLines(H, start)),
      'the same event objects as stored');
  });

  test('--from-start replays every stored event of the hospital', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    await createAlerts(ctx.server, T, H, 3);
    const cp = path.join(dir, `${H}.cp`);
    const r = await ctl(online(H, cp, '--from-start'), { VIGIL_TOKEN: T });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(ids(r.lines), await offlineIds(H));
    assert.equal(readCheckpoint(cp), ids(r.lines).at(-1));

    // A hospital without events: caught up at once, the checkpoint is <epoch>-0.
    const empty = newHospital();
    const cp2 = path.join(dir, `${empty}.cp`);
    const e = await ctl(online(empty, cp2, '--from-start'), { VIGIL_TOKEN: ctx.token(empty) });
    assert.equal(e.code, 0, e.stderr);
    assert.deepEqual(e.lines, []);
    assert.equal(readCheckpoint(cp2), `${epochOf(ids(r.lines)[0])}-0`);
    const [late] = await createAlerts(ctx.server, ctx.token(empty), empty, 1);
    const again = await ctl(online(empty, cp2), { VIGIL_TOKEN: ctx.token(empty) });
    assert.deepEqual(events(again.lines).map((ev) => ev.alertId), [late.id]);
  });

  test('kill -9 mid-stream leaves a valid checkpoint; the rerun prints only the events after it', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    const cp = path.join(dir, `${H}.cp`);
    const follower = new Ctl(online(H, cp, '--follow', '--from-start'), { VIGIL_TOKEN: T });
    await follower.until(() => existsSync(cp), 'the initial checkpoint');
    let killed = false;
    const producing = (async () => {
      for (let i = 1; i <= 12; i++) {
        await createAlert(ctx.server, T, H, i);
        if (!killed && follower.lines.length >= 3) {
          killed = true;
          follower.child.kill('SIGKILL');
        }
      }
    })();
    await follower.until(() => follower.lines.length >= 3 || killed, '3 events');
    if (!killed) { killed = true; follower.child.kill('SIGKILL'); }
    await producing;
    const dead = await follower.exit();
    assert.equal(dead.signal, 'SIGKILL');

    const checkpoint = readCheckpoint(cp);
    assert.match(checkpoint, EVENT_ID, 'the checkpoint file is intact');
    const printed = ids(dead.lines.filter((l) => l.endsWith('}')));
    assert.ok(printed.includes(checkpoint), `checkpoint ${checkpoint} is a printed event (${printed})`);
    assert.ok(printed.indexOf(checkpoint) >= printed.length - 2,
      'the checkpoint is the last printed event, or the one before when killed between print and save');

    const rerun = await ctl(online(H, cp), { VIGIL_TOKEN: T });
    assert.equal(rerun.code, 0, rerun.stderr);
    const after = ids(rerun.lines);
    assert.deepEqual(after, await offlineIds(H, checkpoint), 'exactly the events after the checkpoint');
    const all = await offlineIds(H);
    assert.equal(all.length, 12);
    assert.deepEqual([...new Set([...printed, ...after])].sort((a, b) => seq(a) - seq(b)), all, 'nothing lost');
    assert.equal(readCheckpoint(cp), all.at(-1));
  });

  test('--follow prints live events as they come', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    const cp = path.join(dir, `${H}.cp`);
    const f = new Ctl(online(H, cp, '--follow'), { VIGIL_TOKEN: T });
    await f.until(() => existsSync(cp), 'the initial checkpoint');
    const created = await createAlerts(ctx.server, T, H, 2);
    await f.until(() => f.lines.length >= 2, '2 live events');
    assert.deepEqual(events(f.lines).map((e) => e.alertId), created.map((a) => a.id));
    // The checkpoint follows each printed event (print first, then save).
    await f.until(() => readCheckpoint(cp) === ids(f.lines).at(-1), 'the checkpoint to reach the last event');
    f.child.kill('SIGTERM');
    await f.exit();
  });

  test('a checkpoint the server cannot resume from: warning, checkpoint moved to the resync id, exit 3', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    await createAlerts(ctx.server, T, H, 2);
    const newest = (await offlineIds(H)).at(-1);
    const cp = path.join(dir, `${H}.cp`);
    const foreign = epochOf(newest) === 'zzzzzzzz' ? 'yyyyyyyy' : 'zzzzzzzz';
    writeFileSync(cp, `${foreign}-5\n`);
    const r = await ctl(online(H, cp), { VIGIL_TOKEN: T });
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(r.lines, []);
    assert.match(r.stderr, new RegExp(`warning: the server cannot resume after ${foreign}-5 \\(unknown_event_id\\)`));
    assert.equal(readCheckpoint(cp), newest);
    const next = await ctl(online(H, cp), { VIGIL_TOKEN: T });
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual(next.lines, []);
  });

  test('a malformed checkpoint or a refused token fails without touching the checkpoint', async () => {
    const H = newHospital();
    const cp = path.join(dir, `${H}.cp`);
    writeFileSync(cp, 'garbage\n');
    const r = await ctl(online(H, cp), { VIGIL_TOKEN: ctx.token(H) });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not hold an event id/);
    assert.equal(readFileSync(cp, 'utf8'), 'garbage\n');

    const cp2 = path.join(dir, `${H}-forbidden.cp`);
    const f = await ctl(online(H, cp2), { VIGIL_TOKEN: ctx.token(newHospital()) });
    assert.equal(f.code, 1);
    assert.match(f.stderr, /FORBIDDEN/);
    assert.equal(existsSync(cp2), false);

    const down = await ctl(['replay', '--url', 'ws://127.0.0.1:1', '--hospital', H, '--checkpoint', cp2],
      { VIGIL_TOKEN: ctx.token(H) });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot connect/);
  });
});
