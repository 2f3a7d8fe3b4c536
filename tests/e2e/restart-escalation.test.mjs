// Escalation timers after a restart when no client touches the hospital (docs/operations.md,
// "Upgrading"): vigild starts every hospital with a running timer itself, so `vigilctl console
// --exec escalations` lists the timers as soon as /ready is 200, a deadline that falls after the
// restart fires on time, and one that fell due while the server was down fires at once. Nothing
// here calls, subscribes to or otherwise uses the hospitals after the restart: the console and an
// offline `vigilctl replay --db` are the only observers. Also: /ready creates no pseudo hospital.
// Env: VIGILCTL_BIN (default <repo>/build/vigilctl), VIGIL_BIN (see lib/server.mjs).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';

import { team } from './lib/fixture.mjs';
import { RawWs, alertInput, http, ms, newHospital, withTimeout } from './lib/clients.mjs';
import { JETSTREAM, VigilServer, freePort } from './lib/server.mjs';
import { wsBase } from './lib/tls.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const VIGILCTL_BIN = process.env.VIGILCTL_BIN || path.resolve(here, '..', '..', 'build', 'vigilctl');
const TIER_MS = 3000;
/** How late a timer may fire on a busy test box and still count as "on time". */
const SLACK_MS = 1000;

/** Runs vigilctl to completion: {code, stdout, stderr}. */
function ctl(args, env = {}) {
  if (!existsSync(VIGILCTL_BIN)) throw new Error(`vigilctl not found at ${VIGILCTL_BIN} (build it, or set VIGILCTL_BIN)`);
  return withTimeout(new Promise((resolve, reject) => {
    const child = execFile(VIGILCTL_BIN, args, { encoding: 'utf8', env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') { reject(err); return; }
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
    child.stdin.end();
  }), 20000, `vigilctl ${args.join(' ')}`);
}

/** Polls `probe` (async, returns a value or undefined) every 100 ms until it returns a value. */
async function until(probe, what, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(100);
  }
}

describe('escalation timers after a restart, with no client touching the hospital', () => {
  let server;
  let adminPort;

  // Where the console needs more to find the server (an admin token), add it here.
  const consoleArgs = () => ['console', '--port', String(adminPort), '--db', server.dbPath];

  async function consoleJson(cmd) {
    const r = await ctl([...consoleArgs(), '--exec', cmd, '--json']);
    assert.equal(r.code, 0, `console ${cmd}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** The stored events of `hospital`, read offline from the database file (a cluster node has
   *  none: the node replays its stream). */
  async function storedEvents(hospital) {
    let r;
    if (JETSTREAM) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-replay-'));
      try {
        r = await ctl(['replay', '--url', wsBase(server.port), '--hospital', hospital, '--from-start',
          '--checkpoint', path.join(dir, 'cp')], { VIGIL_TOKEN: team(hospital).viewer });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } else {
      r = await ctl(['replay', '--db', server.dbPath, '--hospital', hospital]);
    }
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  }

  /** Creates one alert in a new hospital; returns {H, alert}. */
  async function createAlert(tag) {
    const H = newHospital(tag);
    const ws = await RawWs.open(server.port, { token: team(H).nurse, label: tag });
    try {
      const r = await ws.call(1, 'mutation', 'healthcare.createAlert', alertInput(H));
      assert.ok(r.result, JSON.stringify(r));
      return { H, alert: r.result.data.alert };
    } finally {
      await ws.close();
    }
  }

  async function restartAndAwaitReady() {
    const exit = await server.stop();
    assert.equal(exit.code, 0, 'SIGTERM stops vigild cleanly');
    await server.start();
    return until(async () => {
      const r = await http(server.port, '/ready');
      return r.status === 200 ? Date.now() : undefined;
    }, '/ready 200', 10000);
  }

  before(async () => {
    adminPort = await freePort();
    server = new VigilServer({
      tiers: `nurse:${TIER_MS / 1000}s,doctor:${TIER_MS / 1000}s,head_doctor`,
      args: [`--admin.port=${adminPort}`],
    });
    await server.start();
  });

  after(async () => {
    if (server) await server.dispose();
  });

  test('a deadline that falls after the restart is listed at once and fires on time', async () => {
    const { H, alert } = await createAlert('due-later');
    const deadline = ms(alert.nextEscalationAt);
    await restartAndAwaitReady();

    // Right after ready, without any call: the console lists the pending timer.
    const rows = await consoleJson('escalations');
    const row = rows.find((r) => r.alert_id === alert.id);
    assert.ok(row, `console escalations lists ${alert.id} after the restart: ${JSON.stringify(rows)}`);
    assert.equal(row.hospital, H);
    if (Date.now() < deadline) {
      assert.equal(row.tier, 1);
      assert.equal(ms(row.deadline), deadline);
    }

    // It fires at its deadline: the console shows the next tier, and the stored event's time is
    // the deadline (not whenever a client would have come by).
    await until(async () => {
      const now = await consoleJson('escalations');
      return now.find((r) => r.alert_id === alert.id && r.tier === 2);
    }, 'the timer escalation to tier 2', deadline - Date.now() + 5000);
    const escalated = (await storedEvents(H)).filter((e) => e.type === 'alert.escalated');
    assert.equal(escalated.length, 1, JSON.stringify(escalated));
    assert.equal(escalated[0].data.escalatedBy, 'system');
    const late = ms(escalated[0].timestamp) - deadline;
    assert.ok(late >= 0 && late < SLACK_MS, `fired ${late} ms after its deadline`);
  });

  test('a deadline that passed while the server was down fires at once after the restart', async () => {
    const { H, alert } = await createAlert('overdue');
    const exit = await server.stop();
    assert.equal(exit.code, 0);
    // let the deadline pass while the server is down (a time condition, not synchronisation)
    const wait = ms(alert.nextEscalationAt) + 200 - Date.now();
    if (wait > 0) await delay(wait);
    const startedAt = Date.now();
    await server.start();
    await until(async () => ((await http(server.port, '/ready')).status === 200 ? true : undefined), '/ready 200', 10000);

    const escalated = await until(async () => {
      const evs = (await storedEvents(H)).filter((e) => e.type === 'alert.escalated');
      return evs.length > 0 ? evs : undefined;
    }, 'the overdue escalation', 5000);
    assert.equal(escalated.length, 1, 'one tier, not one per missed deadline');
    assert.equal(escalated[0].data.fromTier, 1);
    const after = ms(escalated[0].timestamp) - startedAt;
    assert.ok(after >= 0 && after < SLACK_MS + 1000, `fired ${after} ms after the restart began`);
    const rows = await consoleJson('escalations');
    const row = rows.find((r) => r.alert_id === alert.id);
    assert.ok(row, `the tier-2 timer is listed: ${JSON.stringify(rows)}`);
    assert.equal(row.tier, 2);
    assert.equal(ms(row.deadline), ms(escalated[0].timestamp) + TIER_MS);
  });

  test('/ready creates no pseudo hospital', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await http(server.port, '/ready');
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { status: 'ready' });
    }
    const hospitals = (await consoleJson('hospitals')).map((h) => h.hospital);
    assert.ok(!hospitals.some((h) => h.includes('ready')), `console hospitals: ${hospitals.join(', ')}`);
    assert.ok(!server.logs().includes('runtime error'), 'no UBSan report in the log');
  });
});
