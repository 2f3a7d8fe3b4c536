// The unattended-alert failsafe on a cluster (docs/operations.md "Running a cluster"): whether
// anybody of a tier's role is online is asked of every node (cluster presence over core NATS), a
// receipt on one node keeps the alert at its tier on all of them, and a failsafe escalation
// happens once cluster-wide, counted once.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useCluster } from './lib/cluster.mjs';
import { team } from '../e2e/lib/fixture.mjs';
import { alertInput, collect, http, newHospital } from '../e2e/lib/clients.mjs';

const RECEIPT_MS = 1000;
// Long tiers: every escalation seen here is the failsafe's.
const ctx = useCluster({ tiers: 'nurse:60s,doctor:60s,head_doctor', failsafe: 'on', args: [`--escalation.receipt-timeout=${RECEIPT_MS}ms`] });

const escalations = (items, alertId) => items.filter((e) => e.type === 'alert.escalated' && e.alertId === alertId);
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

async function unattendedTotal() {
  let sum = 0;
  for (const n of ctx.cluster.nodes) {
    const line = (await http(n.port, '/metrics')).text.split('\n').find((l) => l.startsWith('vigil_alerts_unattended_total '));
    sum += line ? Number(line.split(' ')[1]) : 0;
  }
  return sum;
}

describe('vigil cluster: failsafe', () => {
  test('a nurse online on node 2 only: an alert raised on node 1 waits for her receipt, which keeps it at its tier on every node', async () => {
    const H = newHospital('fsrcpt');
    const T = team(H);
    const nurse = ctx.client(1, { token: T.nurse });
    const ns = collect(nurse.h.subscribeToAlerts, { hospitalId: H }, 'nurse on node 2');
    const watchers = [0, 2].map((i) => collect(ctx.client(i, { token: T.viewer }).h.subscribeToAlerts, { hospitalId: H }, `viewer on node ${i + 1}`));
    await Promise.all([ns, ...watchers].map((s) => s.waitStarted(10000)));
    const { alert } = await ctx.client(0, { token: T.operator }).h.createAlert.mutate(alertInput(H));
    const [created] = await ns.until((it) => it.some((e) => e.type === 'alert.created' && e.alertId === alert.id), 'created on node 2', 10000);
    // Without the other nodes' presence node 1 would see no nurse and escalate at once.
    assert.deepEqual(escalations(watchers[0].items, alert.id), [], 'node 1 knows the nurse on node 2 is online');
    assert.deepEqual(await nurse.h.confirmDelivery.mutate({ hospitalId: H, eventIds: [created.id] }), { confirmed: 1, ignored: 0 });
    await pause(RECEIPT_MS + 1000);
    for (const s of [ns, ...watchers]) assert.deepEqual(escalations(s.items, alert.id), [], `${s.label}: no failsafe escalation`);
    for (const i of [0, 2]) {
      const got = await ctx.client(i, { token: T.viewer }).h.getAlert.query({ alertId: alert.id });
      assert.equal(got.attendedTier, 1, `node ${i + 1} has the receipt`);
    }
  });

  test('nobody confirms: each failsafe step happens once cluster-wide and the unattended alert is counted once', async () => {
    const H = newHospital('fsonce');
    const T = team(H);
    const before = await unattendedTotal();
    // A nurse on node 2 and a doctor on node 3 (online, never confirming); nobody of head_doctor.
    const subs = [[0, T.viewer], [1, T.nurse], [2, T.doctor]].map(([i, token]) =>
      collect(ctx.client(i, { token }).h.subscribeToAlerts, { hospitalId: H }, `subscriber on node ${i + 1}`));
    await Promise.all(subs.map((s) => s.waitStarted(10000)));
    const { alert } = await ctx.client(0, { token: T.operator }).h.createAlert.mutate(alertInput(H));
    for (const s of subs) await s.until((it) => escalations(it, alert.id).length >= 3, `${s.label}: three failsafe steps`, 10000);
    await pause(1500); // a second node's write of the same step would arrive meanwhile
    const steps = (s) => escalations(s.items, alert.id).map((e) => [e.data.fromTier, e.data.toTier, e.data.reason, !!e.data.unattended]);
    if (subs.some((s) => steps(s).length !== 3)) {
      process.stderr.write(`events: ${JSON.stringify(escalations(subs[0].items, alert.id).map((e) => [e.id, e.data]))}\n`);
      for (const n of ctx.cluster.nodes) {
        process.stderr.write(`--- node ${n.port}\n${n.logs().split('\n').filter((l) => l.includes(H) || l.includes(alert.id)).join('\n')}\n`);
      }
    }
    for (const s of subs) {
      assert.deepEqual(steps(s), [[1, 2, 'no_receipt', false], [2, 3, 'no_receipt', false], [3, 3, 'no_recipient_online', true]], `${s.label}: each step once`);
    }
    assert.deepEqual(escalations(subs[0].items, alert.id).map((e) => e.id), escalations(subs[2].items, alert.id).map((e) => e.id));
    assert.equal(await unattendedTotal(), before + 1, 'counted once across the nodes');
  });
});
