// The audit trail (docs/operations.md "Audit trail", docs/api.md "getAuditLog"): every lifecycle
// action and every refused one is a hash-chained record in the database; hospital admins page
// through their hospital's records; `vigilctl audit --verify` checks the chain offline and names
// a changed or removed record. The tamper steps edit the file with the sqlite3 CLI.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, collect, newHospital, rejectsTrpc } from './lib/clients.mjs';
import { ctl } from './lib/vigilctl.mjs';
import { JETSTREAM } from './lib/server.mjs';

// Second-long first tier, so the timer escalates during the test; a long second tier, so it
// escalates exactly once.
const ctx = useServer({ tiers: 'nurse:1s,doctor:10m,head_doctor' });

const HASH = /^[0-9a-f]{64}$/;

/** Every record of hospital H the admin can read, oldest first (pages of 3). */
async function allRecords(admin, H) {
  const out = [];
  let cursor;
  for (;;) {
    const page = await admin.h.getAuditLog.query(cursor ? { hospitalId: H, cursor, limit: 3 } : { hospitalId: H, limit: 3 });
    assert.ok(page.records.length <= 3, 'a page holds at most `limit` records');
    out.push(...page.records);
    if (page.nextCursor === null) break;
    assert.equal(page.nextCursor, page.records.at(-1).seq, 'the cursor is the last seq of the page');
    cursor = page.nextCursor;
  }
  for (let i = 1; i < out.length; i++) assert.ok(out[i].seq < out[i - 1].seq, 'newest first, no record twice');
  return out.reverse();
}

function sqlite(db, sql) {
  return execFileSync('sqlite3', ['-cmd', '.timeout 5000', db, sql], { encoding: 'utf8' }).trim();
}

// On a cluster node (VIGIL_E2E_ENGINE=jetstream) the trail is the audit stream's
// (docs/operations.md "Running a cluster"): the same records and chain; the offline tools read
// SQLite files only.
describe('audit trail', () => {
  test('every action of a shift is recorded with its outcome, and the chain verifies', async () => {
    const H = newHospital();
    const other = newHospital();
    const T = team(H);
    const O = team(other);
    const secret = `audit-trail-free-text-${Date.now()}`;
    const nurse = ctx.client({ token: T.nurse });
    const doctor = ctx.client({ token: T.doctor });
    const stranger = ctx.client({ token: O.nurse });
    const admin = ctx.client({ token: T.admin });

    const s = collect(nurse.h.subscribeToAlerts, { hospitalId: H }, 'ward');
    await s.waitStarted();
    const { alert } = await nurse.h.createAlert.mutate(alertInput(H, { description: `${secret} description`, patientId: `${secret}-p` }));
    await s.until((it) => it.some((e) => e.type === 'alert.escalated' && e.alertId === alert.id), 'the timer escalation', 5000);
    await doctor.h.acknowledgeAlert.mutate({ alertId: alert.id, notes: `${secret} notes` });
    await rejectsTrpc(stranger.h.acknowledgeAlert.mutate({ alertId: alert.id }), { code: 'FORBIDDEN' });
    const anon = await ctx.http('/api/trpc/healthcare.acknowledgeAlert', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: { alertId: alert.id },
    });
    assert.equal(anon.status, 401);
    await doctor.h.transferAlert.mutate({ alertId: alert.id, toUserId: T.subs.nurse, reason: `${secret} reason` });
    await rejectsTrpc(doctor.h.acknowledgeAlert.mutate({ alertId: alert.id }), { code: 'CONFLICT' });
    await nurse.h.resolveAlert.mutate({ alertId: alert.id, resolution: `${secret} resolution text` });

    const records = await allRecords(admin, H);
    const shift = records.filter((r) => r.alertId === alert.id)
      .map((r) => [r.action, r.outcome, r.userId, r.role]);
    assert.deepEqual(shift, [
      ['createAlert', 'ok', T.subs.nurse, 'nurse'],
      ['escalationTimeout', 'ok', 'system', 'system'],
      ['acknowledgeAlert', 'ok', T.subs.doctor, 'doctor'],
      ['acknowledgeAlert', 'FORBIDDEN', O.subs.nurse, 'nurse'],
      ['acknowledgeAlert', 'UNAUTHORIZED', null, null],
      ['transferAlert', 'ok', T.subs.doctor, 'doctor'],
      ['acknowledgeAlert', 'CONFLICT', T.subs.doctor, 'doctor'],
      ['resolveAlert', 'ok', T.subs.nurse, 'nurse'],
    ]);
    // Reading the trail is itself recorded (the admin's first page read above).
    assert.ok(records.some((r) => r.action === 'getAuditLog' && r.userId === T.subs.admin && r.outcome === 'ok'));
    for (const r of records) {
      assert.equal(r.hospitalId, H);
      assert.match(r.hash, HASH);
      assert.match(r.prevHash, HASH);
      if (r.userId === 'system') {
        assert.equal(r.remoteAddress, null);
      } else {
        assert.match(r.remoteAddress, /^127\.0\.0\.1:\d+$/, JSON.stringify(r));
        assert.ok(r.connectionId > 0);
      }
    }
    const text = JSON.stringify(records);
    assert.ok(!text.includes(secret), 'no alert free text in the audit trail');
    for (const token of [T.nurse, T.doctor, O.nurse, T.admin]) {
      assert.ok(!text.includes(token.split('.')[2]), 'no token in the audit trail');
    }

    // Where records are consecutive, each is chained onto the one before.
    for (let i = 1; i < records.length; i++) {
      if (records[i].seq === records[i - 1].seq + 1) assert.equal(records[i].prevHash, records[i - 1].hash, `record ${records[i].seq}`);
    }
    if (JETSTREAM) return; // vigilctl audit reads SQLite files
    // Offline, while vigild runs: the same records, and the whole chain verifies.
    const printed = await ctl(['audit', `--db=${ctx.server.dbPath}`, `--hospital=${H}`, '--json']);
    assert.equal(printed.code, 0, printed.stderr);
    const offline = printed.lines.map((l) => JSON.parse(l));
    assert.deepEqual(offline.slice(0, records.length), records);
    assert.ok(!printed.lines.join('\n').includes(secret));
    const verified = await ctl(['audit', `--db=${ctx.server.dbPath}`, '--verify']);
    assert.equal(verified.code, 0, verified.lines.join('\n') + verified.stderr);
    assert.match(verified.lines[0], /^audit trail intact: \d+ records/);
  });

  test('only admins of the hospital read its audit log', async () => {
    const H = newHospital();
    const other = newHospital();
    const T = team(H);
    const O = team(other);
    const nurse = ctx.client({ token: T.nurse });
    await nurse.h.createAlert.mutate(alertInput(H));
    await ctx.client({ token: O.nurse }).h.createAlert.mutate(alertInput(other));

    await rejectsTrpc(ctx.client({ token: O.admin }).h.getAuditLog.query({ hospitalId: H }), { code: 'FORBIDDEN' });
    for (const role of ['head_doctor', 'doctor', 'nurse', 'operator', 'viewer']) {
      await rejectsTrpc(ctx.client({ token: T[role] }).h.getAuditLog.query({ hospitalId: H }),
        { code: 'FORBIDDEN', message: 'Access denied. Required permission: view_audit_log' });
    }
    await rejectsTrpc(ctx.client({ token: T.admin }).h.getAuditLog.query({ hospitalId: H, limit: 501 }), { code: 'BAD_REQUEST' });

    const mine = await ctx.client({ token: T.admin }).h.getAuditLog.query({ hospitalId: H });
    assert.ok(mine.records.length > 0);
    assert.ok(mine.records.every((r) => r.hospitalId === H), 'only the hospital\'s own records');
    // The refused reads are in the trail too: who tried to read it.
    const tried = mine.records.filter((r) => r.action === 'getAuditLog' && r.outcome === 'FORBIDDEN').map((r) => r.role).sort();
    assert.deepEqual(tried, ['admin', 'doctor', 'head_doctor', 'nurse', 'operator', 'viewer']);
  });

  test('vigilctl audit --verify names a changed record and a removed one', { skip: JETSTREAM && 'vigilctl audit reads SQLite files' }, async () => {
    const H = newHospital();
    const T = team(H);
    const nurse = ctx.client({ token: T.nurse });
    const { alert } = await nurse.h.createAlert.mutate(alertInput(H));
    await rejectsTrpc(nurse.h.resolveAlert.mutate({ alertId: alert.id, resolution: 'not acknowledged yet' }), { code: 'CONFLICT' });
    await nurse.h.acknowledgeAlert.mutate({ alertId: alert.id });
    const records = (await ctx.client({ token: T.admin }).h.getAuditLog.query({ hospitalId: H })).records;
    const refused = records.find((r) => r.outcome === 'CONFLICT');
    const acked = records.find((r) => r.action === 'acknowledgeAlert');
    assert.ok(refused && acked && acked.seq > refused.seq);
    const db = ctx.server.dbPath;
    const verify = () => ctl(['audit', `--db=${db}`, '--verify', '--json']);

    // A refused action made to look successful.
    sqlite(db, `UPDATE audit SET outcome = 'ok' WHERE seq = ${refused.seq}`);
    let r = await verify();
    assert.equal(r.code, 1, r.lines.join('\n') + r.stderr);
    let report = JSON.parse(r.lines[0]);
    assert.equal(report.intact, false);
    assert.equal(report.broken.seq, refused.seq);
    assert.match(report.broken.what, /hash mismatch/);
    const text = await ctl(['audit', `--db=${db}`, '--verify']);
    assert.equal(text.code, 1);
    assert.match(text.lines[0], new RegExp(`^audit trail BROKEN at seq ${refused.seq}: hash mismatch`));

    // Put back exactly as it was: intact again.
    sqlite(db, `UPDATE audit SET outcome = 'CONFLICT' WHERE seq = ${refused.seq}`);
    r = await verify();
    assert.equal(r.code, 0, r.lines.join('\n') + r.stderr);

    // A removed row is a gap at the next record.
    sqlite(db, `DELETE FROM audit WHERE seq = ${refused.seq}`);
    r = await verify();
    assert.equal(r.code, 1);
    report = JSON.parse(r.lines[0]);
    assert.equal(report.broken.seq, refused.seq + 1);
    assert.match(report.broken.what, new RegExp(`record ${refused.seq} missing`));
  });
});
