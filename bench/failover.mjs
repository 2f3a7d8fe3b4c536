// Failover time of a Vigil cluster (docs/benchmarks.md "Cluster failover"): 3 nats-server + 3
// vigild on loopback (tests/cluster/lib/cluster.mjs), N subscribers spread over the 3 nodes and
// H hospitals, each with one event already received. kill -9 of node 1; every subscriber of
// node 1 moves to its next node and resumes with lastEventId (tests/cluster/lib/resume.mjs:
// the first retry at once, then every 100 ms). Right after the kill one event per hospital is
// written on node 2. Measured from the kill:
//   resumed    until the last of node 1's subscribers has its subscription started elsewhere;
//   caught up  until the last of them received its hospital's post-kill event.
// Checked: no subscriber lost or doubled an event (ids increase, the post-kill event is there)
// and none got a resync.
//
//   cd tests/e2e && npm ci; cd ../..
//   VIGIL_BIN=build/vigild node bench/failover.mjs [--clients 3000] [--hospitals 30]
//
// Needs nats-server on PATH and about 2 x clients file descriptors.

import os from 'node:os';
import { parseArgs } from 'node:util';

import { startCluster } from '../tests/cluster/lib/cluster.mjs';
import { ResumingSubscriber } from '../tests/cluster/lib/resume.mjs';
import { team } from '../tests/e2e/lib/fixture.mjs';
import { alertInput, appClient, newHospital } from '../tests/e2e/lib/clients.mjs';

const { values: opt } = parseArgs({
  options: {
    clients: { type: 'string', default: '3000' },
    hospitals: { type: 'string', default: '30' },
    batch: { type: 'string', default: '200' },
  },
});
const N = Number(opt.clients);
const HOSPITALS = Number(opt.hospitals);
const BATCH = Number(opt.batch);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const log = (m) => process.stderr.write(`${new Date().toISOString()} ${m}\n`);

const cluster = await startCluster();
const clients = [];
const writers = [];
try {
  const ports = cluster.nodes.map((n) => n.port);
  const hs = Array.from({ length: HOSPITALS }, () => {
    const id = newHospital('fo');
    return { id, T: team(id) };
  });
  for (let i = 0; i < N; i++) {
    const node = i % 3;
    const h = hs[i % HOSPITALS];
    const order = [node, (node + 1) % 3, (node + 2) % 3].map((k) => ports[k]);
    clients.push({ node, h, s: new ResumingSubscriber({ hospitalId: h.id, token: h.T.viewer, ports: order, label: `c${i}` }) });
  }
  const t0 = Date.now();
  for (let i = 0; i < N; i += BATCH) await Promise.all(clients.slice(i, i + BATCH).map((c) => c.s.connect(60000)));
  log(`${N} subscribers connected in ${Date.now() - t0} ms`);
  // One event per hospital, so that every subscriber has a lastEventId.
  const writer = (h) => appClient({ port: ports[1], token: h.T.nurse });
  const hw = new Map(hs.map((h) => { const c = writer(h); writers.push(c); return [h.id, c]; }));
  await Promise.all(hs.map((h) => hw.get(h.id).h.createAlert.mutate(alertInput(h.id, { roomNumber: 'B1' }))));
  await Promise.all(clients.map((c) => c.s.until((ev) => ev.length >= 1, 'the first event', 60000)));
  log('every subscriber has its first event');
  for (const c of clients) c.s.resumeOnClose();
  const moved = clients.filter((c) => c.node === 0);
  const load = os.loadavg();
  const killedAt = Date.now();
  await cluster.nodes[0].kill9();
  const markers = await Promise.all(hs.map(async (h) => [h.id,
    (await hw.get(h.id).h.createAlert.mutate(alertInput(h.id, { roomNumber: 'A1' }))).alert.id]));
  const marker = new Map(markers);
  await Promise.all(moved.map((c) => c.s.until(() => c.s.resumes >= 1, 'resumed', 120000)
    .catch(() => { if (c.s.resumes < 1) throw new Error(`${c.s.label} did not resume`); })));
  const caught = [];
  await Promise.all(moved.map((c) => c.s.until((ev) => ev.some((e) => e.alertId === marker.get(c.h.id)), 'the post-kill event', 120000)
    .then(() => caught.push(Date.now() - killedAt))));
  await Promise.all(clients.map((c) => c.s.until((ev) => ev.some((e) => e.alertId === marker.get(c.h.id)), 'the post-kill event', 120000)));
  const resumedMs = moved.map((c) => c.s.startedAt[1] - killedAt);
  let bad = 0;
  for (const c of clients) {
    const seqs = c.s.events.map((e) => Number(e.id.slice(e.id.lastIndexOf('-') + 1)));
    const ok = c.s.resyncs.length === 0 && c.s.events.length === 2 && seqs[0] < seqs[1];
    if (!ok) bad += 1;
  }
  const report = {
    date: new Date().toISOString(),
    clients: N, hospitals: HOSPITALS, moved: moved.length,
    loadavg_before_kill: load.map((x) => x.toFixed(2)),
    // When each socket of node 1 closed (the client saw the loss), from the kill.
    closed_ms: (() => { const x = moved.map((c) => c.s.closedAt[0] - killedAt); return { p50: pct(x, 50), max: Math.max(...x) }; })(),
    resumed_ms: { p50: pct(resumedMs, 50), p99: pct(resumedMs, 99), max: Math.max(...resumedMs) },
    caught_up_ms: { p50: pct(caught, 50), p99: pct(caught, 99), max: Math.max(...caught) },
    retries: moved.reduce((n, c) => n + c.s.closedAt.length - 1, 0),
    subscribers_wrong: bad,
  };
  console.log(JSON.stringify(report, null, 2));
  if (bad > 0) process.exitCode = 1;
} finally {
  for (const c of clients) c.s.close();
  await Promise.allSettled(writers.map((w) => w.close?.()));
  await cluster.dispose();
}
