// The database file of a real vigild: one server per database (a second one refuses to start),
// a clean stop leaves one self-contained file (no WAL to carry along), a foreign SQLite file is
// refused untouched, and `vigilctl restore` puts a backup back under a new epoch.
// Env: VIGIL_BIN (see lib/server.mjs), VIGILCTL_BIN (default <repo>/build/vigilctl).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { after, describe, test } from 'node:test';

import { VigilServer, startServer } from './lib/server.mjs';
import { mintToken } from './lib/tokens.mjs';
import { newHospital, withTimeout } from './lib/clients.mjs';

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
  const { RawWs } = await import('./lib/clients.mjs');
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

describe('one vigild per database', () => {
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

describe('a clean stop', () => {
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

describe('the database file at start-up', () => {
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
