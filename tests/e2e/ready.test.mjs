// Readiness (docs/api.md "Operational endpoints"): /ready is 200 while storage can commit and 503
// {"status":"not_ready",…} when it cannot, while /health stays 200. The database lives on a tiny
// tmpfs that the test fills up (needs root for mount; skipped with a message otherwise).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { JETSTREAM, VigilServer } from './lib/server.mjs';
import { team } from './lib/fixture.mjs';
import { RawWs, alertInput, assertErrorFrame, http, newHospital, parseEventId } from './lib/clients.mjs';

/** Fills the file system holding `dir` with one dummy file until a write fails with ENOSPC. */
function fillUp(file) {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(4096, 0x5a);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if (e.code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
}

describe('readiness on a full disk (DB on a 512 KiB tmpfs)', { skip: JETSTREAM && 'fills the SQLite database\'s file system; a cluster node stores in JetStream (storage that cannot commit there: tests/cluster/failover_nats.test.mjs, docs/operations.md "Running a cluster")' }, () => {
  let dir;
  let mounted = false;
  let skipReason;
  let srv;
  const socks = [];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-e2e-tmpfs-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir], { stdio: 'pipe' });
      mounted = true;
    } catch (e) {
      skipReason = `cannot mount a tmpfs (needs root / CAP_SYS_ADMIN): ${String(e.stderr || e.message).trim()}`;
      return;
    }
    srv = new VigilServer({ dbDir: dir });
    await srv.start();
  });

  after(async () => {
    await Promise.all(socks.map((s) => s.close()));
    if (srv) await srv.stop().catch(() => null);
    if (mounted) execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('/ready 503 while storage cannot commit, /health stays 200; a mutation fails cleanly; all recovers when space is freed', async (t) => {
    if (!mounted) { t.skip(skipReason); return; }
    const H = newHospital();
    const T = team(H);
    const ready0 = await http(srv.port, '/ready');
    assert.equal(ready0.status, 200, ready0.text);
    assert.deepEqual(ready0.json, { status: 'ready' });

    const sub = await RawWs.open(srv.port, { token: T.viewer, label: 'subscriber' });
    const pub = await RawWs.open(srv.port, { token: T.nurse, label: 'publisher' });
    socks.push(sub, pub);
    await sub.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });
    const ok0 = await pub.call(1, 'mutation', 'healthcare.createAlert', alertInput(H));
    assert.ok(ok0.result, JSON.stringify(ok0));
    const e0 = await sub.data(1);

    const filler = path.join(dir, 'filler');
    fillUp(filler);
    const ready1 = await http(srv.port, '/ready');
    assert.equal(ready1.status, 503, `/ready on a full disk: ${ready1.status} ${ready1.text}`);
    assert.equal(ready1.json?.status, 'not_ready', ready1.text);
    assert.equal(typeof ready1.json?.reason, 'string');
    assert.ok(ready1.json.reason.length > 0, 'a reason is given');
    const health = await http(srv.port, '/health');
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json?.status, 'ok');

    // A mutation that cannot commit: INTERNAL_SERVER_ERROR without internals, and no event.
    const text = `disk-full-${Date.now()}`;
    const failed = await pub.call(2, 'mutation', 'healthcare.createAlert', alertInput(H, { description: text }));
    const err = assertErrorFrame(failed, { id: 2, code: 'INTERNAL_SERVER_ERROR', httpStatus: 500 });
    assert.ok(!/sqlite|disk|full|\/tmp/i.test(err.message), `the message carries no internals: ${err.message}`);

    unlinkSync(filler);
    const ready2 = await http(srv.port, '/ready');
    assert.equal(ready2.status, 200, `/ready after freeing space: ${ready2.status} ${ready2.text}`);
    const ok1 = await pub.call(3, 'mutation', 'healthcare.createAlert', alertInput(H));
    assert.ok(ok1.result, `createAlert after freeing space: ${JSON.stringify(ok1)}`);
    const e1 = await sub.data(1);
    assert.equal(e1.result.data.alertId, ok1.result.data.alert.id, 'the next event is the new alert: nothing from the failed call');
    assert.equal(parseEventId(e1.result.id).seq, parseEventId(e0.result.id).seq + 1n, 'the failed commit used no seq (gap-free)');
    assert.ok(!srv.logs().includes(text), 'the description of the failed call is not logged');
  });
});
