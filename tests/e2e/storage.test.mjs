// The database file of a real vigild: one server per database (a second one refuses to start),
// a clean stop leaves one self-contained file (no WAL to carry along), a foreign SQLite file is
// refused untouched, and `vigilctl restore` puts a backup back under a new epoch.
// Env: VIGIL_BIN (see lib/server.mjs), VIGILCTL_BIN (default <repo>/build/vigilctl).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { after, describe, test } from 'node:test';

import { JETSTREAM, VigilServer, startServer } from './lib/server.mjs';
import { mintToken } from './lib/tokens.mjs';
import { RawWs, newHospital, withTimeout } from './lib/clients.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const VIGILCTL_BIN = process.env.VIGILCTL_BIN || path.resolve(here, '..', '..', 'build', 'vigilctl');

// ---- helpers ------------------------------------------------------------------------------------

/** Runs vigilctl to completion: {code, stdout, stderr}. */
function ctl(args) {
  if (!existsSync(VIGILCTL_BIN)) throw new Error(`vigilctl not found at ${VIGILCTL_BIN} (build it, or set VIGILCTL_BIN)`);
  return withTimeout(new Promise((resolve, reject) => {
    execFile(VIGILCTL_BIN, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') { reject(err); return; }
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  }), 30000, `vigilctl ${args.join(' ')}`);
}

const show = (args, r) => `vigilctl ${args.join(' ')} -> exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

async function run(args) {
  const r = await ctl(args);
  return { ...r, describe: show(args, r) };
}

function tempDir() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-storage-e2e-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** POSTs a mutation; returns its data. */
async function mutate(server, token, name, input) {
  const res = await fetch(`${server.trpcUrl}/healthcare.${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(input),
  });
  const body = await res.json();
  assert.equal(res.status, 200, `${name}: ${JSON.stringify(body)}`);
  return body.result.data;
}

async function createAlerts(server, token, hospitalId, n, tag = 'R') {
  const out = [];
  for (let i = 1; i <= n; i++) {
    const { alert } = await mutate(server, token, 'createAlert', {
      hospitalId, roomNumber: `${tag}${i}`, alertType: 'medical_emergency', urgencyLevel: 2, description: `e2e ${i}`,
    });
    out.push(alert);
  }
  return out;
}

/** The stored events of a hospital, read offline by `vigilctl replay --db`. */
async function storedEvents(db, hospital) {
  const args = ['replay', '--db', db, '--hospital', hospital];
  const r = await run(args);
  assert.equal(r.code, 0, r.describe);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** Starts a server that is expected to refuse start-up; returns its exit info and log. */
async function expectStartRefused(server) {
  await assert.rejects(server.start(), /exited during start-up/);
  return { code: server.exitInfo.code, logs: server.logs() };
}

/**
 * Opens a raw WebSocket, subscribes to H resuming after `lastEventId`, and returns the first
 * data item (the resync event or the first replayed event).
 */
async function firstItemAfter(server, token, H, lastEventId) {
  const raw = await RawWs.open(server.port, { token });
  try {
    await raw.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H }, { lastEventId });
    const f = await raw.data(1);
    return f.result.data;
  } finally {
    await raw.close();
  }
}

// A 1 KiB SQLite database of another application (table patients_app with one row), made with
// `sqlite3 f.db "PRAGMA page_size=512; CREATE TABLE patients_app(id INTEGER PRIMARY KEY, name
// TEXT); INSERT INTO patients_app VALUES(1,'x');"`, gzipped.
const FOREIGN_DB = gunzipSync(Buffer.from(
  'H4sICExxD2sCA2YuZGIACw70ySxJVUjLL8pNLFEwZmBiYGRkcFBQYGAAMiEYBhiBmAWNTwgwMeglM/KCFDPOZQCiUUAKSG'
  + 'RkF1dVZWxkLUlMykktSCzJTM0rKY5PLChAZjM5B7k6hrgqhDg6+bgqIMtoZKYoePqFuLq7BikEBHn6OgZFKni7Ruoo5CXm'
  + 'piqEuEaEaELi5hcDEI2CEQVYGJkZ+CsAM2WjKQAEAAA=', 'base64'));

// ---- one server per database ----------------------------------------------------------------------

describe('one vigild per database', { skip: JETSTREAM && 'the SQLite database file: a cluster node has none, storage.path only holds admin.token (docs/operations.md "Running a cluster")' }, () => {
  test('a second vigild on the same database exits 1 with "in use by pid N"; the first keeps serving', async () => {
    const first = await startServer();
    const second = new VigilServer({ dbDir: first.dbDir });
    try {
      const H = newHospital();
      const T = mintToken({ role: 'head_doctor', hospitals: [H] });
      await createAlerts(first, T, H, 2);

      const { code, logs } = await expectStartRefused(second);
      assert.equal(code, 1, logs);
      assert.match(logs, new RegExp(`database ${escapeRe(first.dbPath)} in use by pid ${first.pid}`));
      assert.doesNotMatch(logs, /event=listening/);
      // The lock file is the first server's: the refused one leaves it in place, still locked.
      assert.equal(readFileSync(`${first.dbPath}.lock`, 'utf8'), `${first.pid}\n`);
      const third = new VigilServer({ dbDir: first.dbDir });
      try {
        assert.match((await expectStartRefused(third)).logs, new RegExp(`in use by pid ${first.pid}`));
      } finally {
        await third.dispose();
      }

      // The first server still commits, with consecutive seqs.
      await createAlerts(first, T, H, 1, 'S');
      const evs = await storedEvents(first.dbPath, H);
      assert.deepEqual(evs.map((e) => Number(e.id.split('-')[1])), [1, 2, 3]);

      // A backup of the running server still works (it reads; it takes no lock).
      const dir = tempDir();
      const copy = path.join(dir, 'copy.db');
      const b = await run(['backup', '--db', first.dbPath, '--out', copy]);
      assert.equal(b.code, 0, b.describe);
    } finally {
      await second.dispose();
      await first.dispose();
    }
  });

  test('once the first server stopped, the next one starts on the same database', async () => {
    const first = await startServer();
    try {
      await first.stop();
      const second = new VigilServer({ dbDir: first.dbDir });
      await second.start();
      await second.stop();
    } finally {
      await first.dispose();
    }
  });
});

// ---- clean stop -------------------------------------------------------------------------------------

describe('a clean stop', { skip: JETSTREAM && 'the SQLite database file: a cluster node has none, storage.path only holds admin.token (docs/operations.md "Running a cluster")' }, () => {
  test('leaves one self-contained database file: no WAL, and a copy of the main file alone holds every event', async () => {
    const server = await startServer();
    try {
      const H = newHospital();
      const T = mintToken({ role: 'head_doctor', hospitals: [H] });
      await createAlerts(server, T, H, 20);
      const info = await server.stop();
      assert.equal(info.code, 0, server.tail());

      const wal = `${server.dbPath}-wal`;
      assert.ok(!existsSync(wal) || statSync(wal).size === 0,
        `after a clean stop the WAL must be checkpointed and removed (it has ${existsSync(wal) ? statSync(wal).size : 0} bytes)`);

      // The main file alone is the database: copy it without its -wal/-shm and read it.
      const dir = tempDir();
      const copy = path.join(dir, 'copy.db');
      copyFileSync(server.dbPath, copy);
      const evs = await storedEvents(copy, H);
      assert.equal(evs.length, 20);
      const v = await run(['replay', '--verify', '--db', copy]);
      assert.equal(v.code, 0, v.describe);
      assert.match(v.stdout, /result: consistent/);
    } finally {
      await server.dispose();
    }
  });
});

// ---- foreign databases --------------------------------------------------------------------------------

describe('the database file at start-up', { skip: JETSTREAM && 'the SQLite database file: a cluster node has none, storage.path only holds admin.token (docs/operations.md "Running a cluster")' }, () => {
  test('a SQLite database of another application is refused and left byte for byte unchanged', async () => {
    const server = new VigilServer();
    try {
      writeFileSync(server.dbPath, FOREIGN_DB);
      const { code, logs } = await expectStartRefused(server);
      assert.equal(code, 1, logs);
      assert.match(logs, new RegExp(`${escapeRe(server.dbPath)}: not a vigil database: .*patients_app`));
      assert.equal(logs.split('\n').filter((l) => /level=error/.test(l)).length, 1, logs);
      assert.deepEqual(readFileSync(server.dbPath), FOREIGN_DB, 'the foreign file is unchanged');
      assert.ok(!existsSync(`${server.dbPath}-wal`), 'not switched to WAL');
      assert.ok(!existsSync(`${server.dbPath}.lock`), 'no lock file left behind');
    } finally {
      await server.dispose();
    }
  });

  test('an empty (zero-byte) file is initialised as a new database', async () => {
    const server = new VigilServer();
    try {
      writeFileSync(server.dbPath, '');
      await server.start();
      const H = newHospital();
      const T = mintToken({ role: 'head_doctor', hospitals: [H] });
      await createAlerts(server, T, H, 1);
    } finally {
      await server.dispose();
    }
  });
});

// ---- restore --------------------------------------------------------------------------------------

describe('vigilctl restore', { skip: JETSTREAM && 'vigilctl backup, restore and replay --db work on SQLite files only (docs/operations.md "Running a cluster", known limits)' }, () => {
  test('refused while vigild runs; then restores a verified backup under a new epoch, old files kept; a client resuming with a lost id gets resync', async () => {
    const server = await startServer();
    const dir = tempDir();
    try {
      const H = newHospital();
      const T = mintToken({ role: 'head_doctor', hospitals: [H] });
      await createAlerts(server, T, H, 3);
      const backup = path.join(dir, 'backup.db');
      const b = await run(['backup', '--db', server.dbPath, '--out', backup]);
      assert.equal(b.code, 0, b.describe);
      await createAlerts(server, T, H, 2, 'L'); // lost by the restore
      const before = await storedEvents(server.dbPath, H);
      assert.equal(before.length, 5);
      const oldEpoch = before[0].id.split('-')[0];
      const lostId = before[4].id;
      const keptId = before[1].id;

      // Refused while the server holds the database: nothing changes.
      const refusedArgs = ['restore', '--db', server.dbPath, '--from', backup];
      const refused = await run(refusedArgs);
      assert.equal(refused.code, 1, refused.describe);
      assert.match(refused.stderr, new RegExp(`database ${escapeRe(server.dbPath)} in use by pid ${server.pid}`));
      assert.deepEqual(readdirSync(server.dbDir).filter((f) => f.includes('before-restore')), []);
      assert.equal((await storedEvents(server.dbPath, H)).length, 5);

      const info = await server.stop();
      assert.equal(info.code, 0);
      const r = await run(['restore', '--db', server.dbPath, '--from', backup]);
      assert.equal(r.code, 0, r.describe);
      const m = new RegExp(`^restored ${escapeRe(server.dbPath)} from ${escapeRe(backup)}: new epoch ([a-z0-9]{8}) \\(backup epoch ${oldEpoch}\\), last event seq 3; the old database is kept as (\\S+)\\n$`).exec(r.stdout);
      assert.ok(m, r.describe);
      const [, newEpoch, aside] = m;
      assert.notEqual(newEpoch, oldEpoch);
      assert.ok(existsSync(aside), `${aside} exists`);
      assert.match(path.basename(aside), /^vigil\.db\.before-restore-\d{8}T\d{6}Z$/);
      // The old database, moved aside whole, still holds the lost events.
      assert.equal((await storedEvents(aside, H)).length, 5);
      assert.ok(!existsSync(`${server.dbPath}-wal`) || statSync(`${server.dbPath}-wal`).size === 0);

      // The restored database: the backup's events, renamed to the new epoch, and consistent.
      const restored = await storedEvents(server.dbPath, H);
      assert.deepEqual(restored.map((e) => e.id), [1, 2, 3].map((n) => `${newEpoch}-${n}`));
      assert.deepEqual(restored.map((e) => e.alertId), before.slice(0, 3).map((e) => e.alertId));
      const v = await run(['replay', '--verify', '--db', server.dbPath]);
      assert.equal(v.code, 0, v.describe);

      await server.start();
      assert.match(server.tail(5), new RegExp(`event=listening .*epoch=${newEpoch} last_seq=3`));
      // An id from after the backup (and any id of the old epoch) cannot be resumed from.
      for (const lastEventId of [lostId, keptId]) {
        const item = await firstItemAfter(server, T, H, lastEventId);
        assert.equal(item.alertId, '*', `${lastEventId}: ${JSON.stringify(item)}`);
        assert.deepEqual(item.data, { resync: true, reason: 'unknown_event_id' });
        assert.equal(item.id, `${newEpoch}-3`);
      }
      // New events continue the sequence under the new epoch; a new-epoch id resumes normally.
      await createAlerts(server, T, H, 1, 'N');
      const next = await firstItemAfter(server, T, H, `${newEpoch}-3`);
      assert.equal(next.id, `${newEpoch}-4`);
      assert.equal(next.type, 'alert.created');
    } finally {
      await server.dispose();
    }
  });

  test('a backup that is not a usable Vigil database changes nothing; bad command lines are usage errors', async () => {
    const server = await startServer();
    const dir = tempDir();
    try {
      const H = newHospital();
      const T = mintToken({ role: 'head_doctor', hospitals: [H] });
      await createAlerts(server, T, H, 1);
      await server.stop();
      const live = readFileSync(server.dbPath);
      const files = readdirSync(server.dbDir).sort();

      const foreign = path.join(dir, 'foreign.db');
      writeFileSync(foreign, FOREIGN_DB);
      const junk = path.join(dir, 'junk.db');
      writeFileSync(junk, 'not a database at all');
      for (const [from, message] of [
        [foreign, /not a vigil database: .*patients_app.*; nothing was changed/],
        [junk, /file is not a database.*; nothing was changed|not a database.*nothing was changed/],
        [path.join(dir, 'absent.db'), /backup .*absent\.db does not exist/],
      ]) {
        const r = await run(['restore', '--db', server.dbPath, '--from', from]);
        assert.equal(r.code, 1, r.describe);
        assert.match(r.stderr, message, r.describe);
        assert.deepEqual(readFileSync(server.dbPath), live, 'the database is unchanged');
        // Nothing added either: no lock file of the refused restore's own is left behind.
        assert.deepEqual(readdirSync(server.dbDir).sort(), files, r.describe);
      }
      assert.deepEqual(readFileSync(foreign), FOREIGN_DB, 'the backup is never changed');

      for (const [args, message] of [
        [['restore', '--from', foreign], /--db FILE is required/],
        [['restore', '--db', server.dbPath], /--from BACKUP is required/],
        [['restore', '--db', server.dbPath, '--from', foreign, '--force'], /unknown option/],
      ]) {
        const r = await run(args);
        assert.equal(r.code, 2, r.describe);
        assert.match(r.stderr, message);
      }
      const same = await run(['restore', '--db', server.dbPath, '--from', server.dbPath]);
      assert.equal(same.code, 1, same.describe);
      assert.match(same.stderr, /is the database itself/);
    } finally {
      await server.dispose();
    }
  });
});
