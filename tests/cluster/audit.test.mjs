// The audit trail of a cluster (docs/operations.md "Running a cluster"): one stream, one global
// hash chain, appended by every node at once; every node reads the same records.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';

import { useCluster } from './lib/cluster.mjs';
import { team } from '../e2e/lib/fixture.mjs';
import { alertInput, newHospital, rejectsTrpc } from '../e2e/lib/clients.mjs';

const ctx = useCluster();
const GENESIS = '0'.repeat(64);

/** sha256 of the canonical encoding (domain/audit.cpp audit_canonical). */
function recordHash(r) {
  const field = (v) => `${Buffer.byteLength(String(v))}:${v};`;
  const text = 'vigil-audit-v1;' + [r.seq, Date.parse(r.time), r.userId ?? '', r.role ?? '', r.hospitalId ?? '', r.alertId ?? '',
    r.action, r.outcome, r.connectionId, r.remoteAddress ?? '', r.prevHash].map(field).join('');
  return createHash('sha256').update(text).digest('hex');
}

/** Every record of H that node i serves, oldest first. */
async function allRecords(i, token, H) {
  const admin = ctx.client(i, { token });
  const out = [];
  let cursor;
  for (;;) {
    const page = await admin.h.getAuditLog.query(cursor ? { hospitalId: H, cursor, limit: 100 } : { hospitalId: H, limit: 100 });
    out.push(...page.records);
    if (page.nextCursor === null) return out.reverse();
    cursor = page.nextCursor;
  }
}

describe('vigil cluster: audit trail', () => {
  test('three nodes appending at once: one gap-free chain from the genesis, the same on every node', async () => {
    // One hospital only, so that its records are the whole trail of this cluster.
    const H = newHospital('audit');
    const T = team(H);
    const N = 8;
    const acked = [];
    const refused = [];
    await Promise.all([0, 1, 2].map(async (i) => {
      const nurse = ctx.client(i, { token: T.nurse });
      const viewer = ctx.client(i, { token: T.viewer });
      for (let k = 0; k < N; k++) {
        try {
          const { alert } = await nurse.h.createAlert.mutate(alertInput(H, { roomNumber: `N${i}-${k}` }));
          acked.push(alert.id);
          await rejectsTrpc(viewer.h.acknowledgeAlert.mutate({ alertId: alert.id }), { code: 'FORBIDDEN' });
          refused.push(alert.id);
        } catch (e) {
          if (e.data?.code !== 'CONFLICT') throw e; // lost the race for the hospital 8 times
        }
      }
    }));
    assert.ok(acked.length >= 3 * N - 3, `most creates acknowledged (${acked.length})`);
    const views = [];
    for (const i of [0, 1, 2]) views.push(await allRecords(i, T.admin, H));
    const records = views[2]; // node 3's read is the last: it holds the other nodes' reads too
    // Gap-free and chained from the genesis; each hash is the record's own.
    records.forEach((r, k) => {
      assert.equal(r.seq, k + 1, 'seq 1, 2, …');
      assert.equal(r.prevHash, k === 0 ? GENESIS : records[k - 1].hash, `record ${r.seq} chained`);
      assert.equal(r.hash, recordHash(r), `record ${r.seq} hash`);
    });
    // Every acknowledged create once, every refusal once.
    const created = records.filter((r) => r.action === 'createAlert' && r.outcome === 'ok').map((r) => r.alertId);
    assert.deepEqual([...created].sort(), [...acked].sort());
    const forbidden = records.filter((r) => r.action === 'acknowledgeAlert' && r.outcome === 'FORBIDDEN').map((r) => r.alertId);
    assert.deepEqual([...forbidden].sort(), [...refused].sort());
    // Every node serves the same records (each a prefix of the newest read).
    for (const v of views) assert.deepEqual(v, records.slice(0, v.length));
    assert.equal(records.filter((r) => r.action === 'getAuditLog').length >= 3, true, 'the reads are recorded');
  });
});
