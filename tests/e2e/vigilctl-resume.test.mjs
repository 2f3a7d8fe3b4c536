// `vigilctl replay` checkpoints across a restored backup, offline and online, its summary line
// and `--verify --json`; `--token-file` rotation for `watch` and `replay --follow`. The real
// binaries (VIGILCTL_BIN, VIGIL_BIN), as in vigilctl.test.mjs.

import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import {
  Ctl, EVENT_ID, createAlerts, ctl, epochOf, events, ids, newHospital, seq, tempDir, useServer,
} from './lib/vigilctl.mjs';
import { SECRET } from './lib/tokens.mjs';
import { JETSTREAM } from './lib/server.mjs';

const readCheckpoint = (file) => readFileSync(file, 'utf8').trim();
const summary = (stderr) => stderr.match(/^vigilctl replay: done: .*$/gm) || [];

/** Copies the database of a stopped server (with its -wal, if any) to `dest`. */
function copyDatabase(dbPath, dest) {
  copyFileSync(dbPath, dest);
  for (const ext of ['-wal']) {
    if (existsSync(dbPath + ext)) copyFileSync(dbPath + ext, dest + ext);
    else rmSync(dest + ext, { force: true });
  }
}

/** Puts a copy made by copyDatabase back in place of the (stopped) server's database. */
function restoreDatabase(copy, dbPath) {
  for (const ext of ['-wal', '-shm']) rmSync(dbPath + ext, { force: true });
  copyFileSync(copy, dbPath);
  if (existsSync(copy + '-wal')) copyFileSync(copy + '-wal', dbPath + '-wal');
}

describe('vigilctl replay with a checkpoint newer than the server (a restored backup)', { skip: JETSTREAM && 'vigilctl backup, restore and replay --db work on SQLite files only (docs/operations.md "Running a cluster", known limits)' }, () => {
  const ctx = useServer();
  const dir = tempDir();

  test('catch-up warns, moves the checkpoint back to the newest event and exits 3; the events that reuse the ids are printed next', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    const env = { VIGIL_TOKEN: T };
    const cp = path.join(dir, `${H}.cp`);
    const online = ['replay', '--url', ctx.url(), '--hospital', H, '--checkpoint', cp];

    await createAlerts(ctx.server, T, H, 2, 1);
    const backup = path.join(dir, 'backup.db');
    await ctx.server.stop();
    copyDatabase(ctx.server.dbPath, backup);
    await ctx.server.start();
    const backupNewest = ids((await ctl(['replay', '--db', backup, '--hospital', H])).lines).at(-1);

    // The consumer reads events that the restore will lose.
    await createAlerts(ctx.server, T, H, 3, 3);
    const first = await ctl([...online, '--from-start'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.lines.length, 5);
    const ahead = readCheckpoint(cp);
    assert.ok(seq(ahead) > seq(backupNewest));

    await ctx.server.stop();
    restoreDatabase(backup, ctx.server.dbPath);
    await ctx.server.start();

    const r = await ctl(online, env);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(r.lines, []);
    assert.match(r.stderr, new RegExp(`warning: the server cannot resume after ${ahead} \\(the checkpoint is newer than the hospital's newest event ${backupNewest}: was the database restored from a backup\\?\\): events were lost; the checkpoint is now ${backupNewest}`));
    assert.equal(readCheckpoint(cp), backupNewest);
    assert.deepEqual(summary(r.stderr), [`vigilctl replay: done: 0 events printed, checkpoint ${ahead} -> ${backupNewest}`]);


    // Offline, on a copy of the checkpoint: the same verdict from the database file.
    const offlineCp = path.join(dir, `${H}-offline.cp`);
    writeFileSync(offlineCp, `${ahead}\n`);
    const offline = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--checkpoint', offlineCp]);
    assert.equal(offline.code, 3, offline.stderr);
    assert.deepEqual(offline.lines, []);
    assert.match(offline.stderr, new RegExp(`warning: the database cannot resume after ${ahead} \\(the checkpoint is newer than the hospital's newest event ${backupNewest}`));
    assert.equal(readCheckpoint(offlineCp), backupNewest);

    // New events get the sequence numbers the lost ones had; none of them is skipped.
    const fresh = await createAlerts(ctx.server, T, H, 2, 6);
    const next = await ctl(online, env);
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual(events(next.lines).map((e) => e.alertId), fresh.map((a) => a.id));
    assert.ok(seq(ids(next.lines).at(-1)) <= seq(ahead), 'the printed events reuse sequence numbers');
  });
});

describe('vigilctl replay: summary line, offline --checkpoint, --from-start warning, --verify --json', () => {
  const ctx = useServer();
  const dir = tempDir();

  test('online: one summary line with the count and the checkpoint before and after', async () => {
    const H = newHospital();
    const T = ctx.token(H);
    const cp = path.join(dir, `${H}.cp`);
    const online = ['replay', '--url', ctx.url(), '--hospital', H, '--checkpoint', cp];
    const start = await ctl(online, { VIGIL_TOKEN: T });
    assert.equal(start.code, 0, start.stderr);
    const initial = readCheckpoint(cp);
    assert.deepEqual(summary(start.stderr), [`vigilctl replay: done: 0 events printed, checkpoint none -> ${initial}`]);

    await createAlerts(ctx.server, T, H, 3);
    const r = await ctl(online, { VIGIL_TOKEN: T });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.lines.length, 3);
    assert.deepEqual(summary(r.stderr), [`vigilctl replay: done: 3 events printed, checkpoint ${initial} -> ${ids(r.lines).at(-1)}`]);

    if (JETSTREAM) return; // offline (--db) needs the SQLite file
    const all = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H]);
    assert.deepEqual(summary(all.stderr), ['vigilctl replay: done: 3 events printed']);
  });

  test('offline --checkpoint reads and writes the same file as online; --from-start over an existing checkpoint warns', { skip: JETSTREAM && 'vigilctl backup, restore and replay --db work on SQLite files only (docs/operations.md "Running a cluster", known limits)' }, async () => {
    const H = newHospital();
    const T = ctx.token(H);
    const cp = path.join(dir, `${H}.cp`);
    const offline = ['replay', '--db', ctx.server.dbPath, '--hospital', H, '--checkpoint', cp];
    const online = ['replay', '--url', ctx.url(), '--hospital', H, '--checkpoint', cp];
    const batch1 = await createAlerts(ctx.server, T, H, 2, 1);

    const first = await ctl([...offline, '--from-start']);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(events(first.lines).map((e) => e.alertId), batch1.map((a) => a.id));
    assert.equal(readCheckpoint(cp), ids(first.lines).at(-1));
    assert.doesNotMatch(first.stderr, /warning/);

    // Online goes on where offline stopped ...
    const batch2 = await createAlerts(ctx.server, T, H, 2, 3);
    const second = await ctl(online, { VIGIL_TOKEN: T });
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(events(second.lines).map((e) => e.alertId), batch2.map((a) => a.id));

    // ... and offline where online stopped; --from-start is ignored now, with a warning.
    const batch3 = await createAlerts(ctx.server, T, H, 1, 5);
    const third = await ctl([...offline, '--from-start']);
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual(events(third.lines).map((e) => e.alertId), batch3.map((a) => a.id));
    assert.match(third.stderr, new RegExp(`warning: --from-start is ignored: the checkpoint ${cp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} exists \\(${ids(second.lines).at(-1)}\\)`));
    assert.deepEqual(summary(third.stderr), [`vigilctl replay: done: 1 event printed, checkpoint ${ids(second.lines).at(-1)} -> ${ids(third.lines).at(-1)}`]);

    const onlineFromStart = await ctl([...online, '--from-start'], { VIGIL_TOKEN: T });
    assert.equal(onlineFromStart.code, 0, onlineFromStart.stderr);
    assert.deepEqual(onlineFromStart.lines, [], 'the checkpoint wins: nothing new');
    assert.match(onlineFromStart.stderr, /warning: --from-start is ignored: the checkpoint .* exists/);

    // Without a checkpoint file, offline starts from now, as online does.
    const fresh = path.join(dir, `${H}-fresh.cp`);
    const now = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--checkpoint', fresh]);
    assert.equal(now.code, 0, now.stderr);
    assert.deepEqual(now.lines, []);
    assert.equal(readCheckpoint(fresh), ids(third.lines).at(-1));

    // A checkpoint of another database: exit 3, moved to the newest event, like online.
    const foreign = path.join(dir, `${H}-foreign.cp`);
    const other = epochOf(readCheckpoint(cp)) === 'zzzzzzzz' ? 'yyyyyyyy' : 'zzzzzzzz';
    writeFileSync(foreign, `${other}-3\n`);
    const lost = await ctl(['replay', '--db', ctx.server.dbPath, '--hospital', H, '--checkpoint', foreign]);
    assert.equal(lost.code, 3, lost.stderr);
    assert.match(lost.stderr, new RegExp(`warning: the database cannot resume after ${other}-3 \\(unknown_event_id`));
    assert.equal(readCheckpoint(foreign), readCheckpoint(cp));
  });

  test('--verify --json prints one machine-readable object', { skip: JETSTREAM && 'vigilctl backup, restore and replay --db work on SQLite files only (docs/operations.md "Running a cluster", known limits)' }, async () => {
    const H = newHospital();
    await createAlerts(ctx.server, ctx.token(H), H, 2);
    const r = await ctl(['replay', '--verify', '--json', '--db', ctx.server.dbPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.lines.length, 1);
    const v = JSON.parse(r.lines[0]);
    assert.equal(v.database, ctx.server.dbPath);
    assert.equal(v.consistent, true);
    assert.match(v.epoch, /^[a-z0-9]{8}$/);
    assert.ok(v.events >= 2 && v.lastSeq >= v.firstSeq && v.firstSeq >= 1, r.lines[0]);
    assert.equal(v.alerts, v.alertsVerified + v.alertsNotVerifiable);
    assert.ok(v.alerts >= 2);
    assert.deepEqual(v.differences, []);
    for (const k of ['metaLastSeq', 'prunedThrough']) assert.equal(typeof v[k], 'number');

    const junk = path.join(dir, 'junk.db');
    writeFileSync(junk, 'not a database');
    const bad = await ctl(['replay', '--verify', '--json', '--db', junk]);
    assert.equal(bad.code, 1);
    const e = JSON.parse(bad.lines[0]);
    assert.equal(e.database, junk);
    assert.equal(typeof e.error, 'string');
  });
});

describe('--token-file: watch and replay --follow survive token rotation', () => {
  // A short grace: the server closes an expired connection 1 s after its reconnect notification.
  const ctx = useServer({ args: ['--auth.expiry-grace=1s'] });
  const dir = tempDir();

  /** A token minted by `vigilctl token`, living `ttl`. */
  async function mint(H, ttl) {
    const r = await ctl(['token', '--secret', SECRET, '--sub', 'u-svc', '--role', 'head_doctor', '--hospital', H, '--ttl', ttl]);
    assert.equal(r.code, 0, r.stderr);
    return r.lines[0].trim();
  }

  /** Replaces the file atomically, as an operator's rotation job should. */
  function rotate(file, token) {
    writeFileSync(`${file}.new`, `${token}\n`);
    renameSync(`${file}.new`, file);
  }

  test('after the first token expired, both re-read the file and keep receiving events', async () => {
    const H = newHospital();
    const T = ctx.token(H); // for creating alerts over HTTP
    const tokenFile = path.join(dir, 'token');
    const short = await mint(H, '3s');
    rotate(tokenFile, short);
    const cp = path.join(dir, `${H}.cp`);

    const w = new Ctl(['watch', '--url', ctx.url(), '--hospital', H, '--token-file', tokenFile, '--count', '2'], { VIGIL_TOKEN: '' });
    const f = new Ctl(['replay', '--url', ctx.url(), '--hospital', H, '--checkpoint', cp, '--follow', '--token-file', tokenFile], { VIGIL_TOKEN: '' });
    await w.subscribed();
    await f.until(() => existsSync(cp), 'the initial checkpoint');
    const [a1] = await createAlerts(ctx.server, T, H, 1, 1);
    await w.until(() => w.lines.length >= 1, 'the first event (watch)');
    await f.until(() => f.lines.length >= 1, 'the first event (replay)');

    // The short token runs out; with the file not yet rotated the server refuses it.
    const refused = /the server refused the token \(UNAUTHORIZED: Token expired\); reading .* again; reconnecting in/;
    await w.until(() => refused.test(w.stderr), 'watch to see the token refused', 15000);
    await f.until(() => refused.test(f.stderr), 'replay to see the token refused', 15000);
    rotate(tokenFile, await mint(H, '1h'));

    await w.subscribed(2);
    await f.until(() => readCheckpoint(cp) === ids(f.lines).at(-1), 'the checkpoint');
    const [a2] = await createAlerts(ctx.server, T, H, 1, 2);
    const r = await w.exit();
    assert.equal(r.code, 0, w.describe());
    assert.deepEqual(events(r.lines).map((e) => e.alertId), [a1.id, a2.id]);
    await f.until(() => f.lines.length >= 2, 'the second event (replay)', 15000);
    assert.deepEqual(events(f.lines).map((e) => e.alertId), [a1.id, a2.id]);
    assert.equal(f.exitInfo, undefined, 'replay --follow keeps running');
    f.child.kill('SIGTERM');
    await f.exit();
    for (const c of [w, f]) {
      assert.ok(!c.stderr.includes(short), 'the token is never printed');
      assert.match(ids(c.lines)[0], EVENT_ID);
    }
  });

  test('--token and --token-file exclude each other; an unreadable or empty file is refused', async () => {
    const H = newHospital();
    const tokenFile = path.join(dir, 'token-usage');
    writeFileSync(tokenFile, `${ctx.token(H)}\n`);
    const empty = path.join(dir, 'empty');
    writeFileSync(empty, '\n');
    const cp = path.join(dir, 'usage.cp');
    for (const cmd of [['watch', '--url', ctx.url(), '--hospital', H],
      ['replay', '--url', ctx.url(), '--hospital', H, '--checkpoint', cp]]) {
      const both = await ctl([...cmd, '--token', 't', '--token-file', tokenFile]);
      assert.equal(both.code, 2, both.stderr);
      assert.match(both.stderr, /give either --token or --token-file, not both/);
      const missing = await ctl([...cmd, '--token-file', path.join(dir, 'nope')]);
      assert.equal(missing.code, 2, missing.stderr);
      assert.match(missing.stderr, /cannot read the token file .*nope/);
      const blank = await ctl([...cmd, '--token-file', empty]);
      assert.equal(blank.code, 2, blank.stderr);
      assert.match(blank.stderr, /the token file .* is empty/);
    }
    assert.equal(existsSync(cp), false);
    // A token refused on the very first connection is an error, not a retry loop.
    writeFileSync(tokenFile, 'not.a.token\n');
    const bad = await ctl(['watch', '--url', ctx.url(), '--hospital', H, '--token-file', tokenFile, '--timeout', '5']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /UNAUTHORIZED \(-32001\): Invalid token/);
  });
});
