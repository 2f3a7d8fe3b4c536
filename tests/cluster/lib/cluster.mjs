// A local Vigil cluster for the cluster tests: 3 nats-server (JetStream, one cluster with routes
// on loopback, temporary store directories) and 3 vigild with storage.engine = jetstream, every
// port chosen free. Any process can be killed with SIGKILL and started again.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';

import { VigilServer, freePort } from '../../e2e/lib/server.mjs';
import { appClient } from '../../e2e/lib/clients.mjs';

const NATS_BIN = process.env.NATS_SERVER_BIN || 'nats-server';
const READY_TIMEOUT_MS = 20000;

/** One nats-server of the cluster. */
export class NatsNode {
  constructor(dir, name, port, routePort, routes, monitorPort) {
    Object.assign(this, { dir, name, port, routePort, routes, monitorPort });
    this.child = undefined;
    this.log = [];
  }

  get url() { return `nats://127.0.0.1:${this.port}`; }

  /** Resolves once `pattern` appeared in this server's log (at most `ms`). */
  waitLog(pattern, ms = READY_TIMEOUT_MS) {
    if (this.log.some((l) => l.includes(pattern))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const poll = setInterval(() => {
        if (this.log.some((l) => l.includes(pattern))) { clearTimeout(timer); clearInterval(poll); resolve(); }
      }, 100);
      const timer = setTimeout(() => { clearInterval(poll); reject(new Error(`${this.name}: no "${pattern}" in ${ms} ms`)); }, ms);
      poll.unref();
      timer.unref();
    });
  }

  async start() {
    const conf = path.join(this.dir, `${this.name}.conf`);
    writeFileSync(conf, [
      `server_name: ${this.name}`,
      `listen: 127.0.0.1:${this.port}`,
      `jetstream { store_dir: "${path.join(this.dir, this.name)}" }`,
      `cluster { name: vigil, listen: 127.0.0.1:${this.routePort}, routes: [${this.routes.join(',')}] }`,
      ...(this.monitorPort ? [`http: 127.0.0.1:${this.monitorPort}`] : []),
    ].join('\n'));
    const child = spawn(NATS_BIN, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.on('exit', () => { if (this.child === child) this.child = undefined; });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} not ready:\n${this.log.slice(-20).join('\n')}`)),
        READY_TIMEOUT_MS);
      const onData = (buf) => {
        for (const line of buf.toString().split('\n')) {
          if (line) this.log.push(line);
          if (line.includes('Server is ready')) { clearTimeout(timer); resolve(); }
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      this.onData = onData;
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${this.name} exited ${code}:\n${this.log.slice(-20).join('\n')}`)); });
    });
  }

  /** This server's /jsz (monitoring port) with stream details; undefined when it does not answer. */
  async jsz() {
    try {
      const r = await fetch(`http://127.0.0.1:${this.monitorPort}/jsz?streams=true`, { signal: AbortSignal.timeout(2000) });
      return await r.json();
    } catch {
      return undefined;
    }
  }

  get running() { return this.child !== undefined; }

  kill9() {
    const c = this.child;
    this.child = undefined;
    if (!c) return Promise.resolve();
    return new Promise((resolve) => { c.on('exit', resolve); c.kill('SIGKILL'); });
  }

  stop() {
    const c = this.child;
    this.child = undefined;
    if (!c) return Promise.resolve();
    return new Promise((resolve) => { c.on('exit', resolve); c.kill('SIGTERM'); });
  }
}

/**
 * Starts the 3 NATS servers on free ports. A port found free can be taken by another socket
 * before the server binds it (it is in the ephemeral range): then all three start again on
 * new ports, at most 5 times.
 */
async function startNats(dir) {
  for (let attempt = 1; ; attempt++) {
    const ports = [];
    for (let i = 0; i < 9; i++) ports.push(await freePort());
    const routes = [3, 4, 5].map((i) => `nats://127.0.0.1:${ports[i]}`);
    const nats = [0, 1, 2].map((i) => new NatsNode(dir, `n${i + 1}`, ports[i], ports[i + 3], routes, ports[i + 6]));
    const started = await Promise.allSettled(nats.map((n) => n.start()));
    const failed = started.find((r) => r.status === 'rejected');
    if (!failed) return nats;
    await Promise.all(nats.map((n) => n.stop()));
    if (attempt >= 5 || !/address already in use/.test(String(failed.reason?.message))) throw failed.reason;
  }
}

/** Starts 3 NATS servers and 3 vigild; `opts.tiers`, `opts.failsafe` and `opts.args` go to every vigild. */
export async function startCluster(opts = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-cluster-'));
  const nats = await startNats(dir);
  // vigild creates the stream at start: wait until the JetStream cluster has its meta leader.
  await Promise.any(nats.map((n) => n.waitLog('JetStream cluster new metadata leader', 60000)));
  const urls = nats.map((n) => n.url).join(',');
  const stream = `VIGIL_${Math.random().toString(36).slice(2, 10)}`;
  const nodes = [0, 1, 2].map(() => new VigilServer({
    tiers: opts.tiers,
    failsafe: opts.failsafe,
    args: ['--storage.engine=jetstream', '--log-level=debug', `--cluster.nats-urls=${urls}`, '--cluster.replicas=3',
      `--cluster.stream=${stream}`, ...(opts.args || [])],
  }));
  // The first node creates the stream; the others find it.
  await nodes[0].start();
  await Promise.all(nodes.slice(1).map((n) => n.start()));
  return {
    dir, nats, nodes, stream,
    /** The NATS server leading the stream (asked of any running server), undefined if none. */
    async streamLeader() {
      for (const n of nats.filter((x) => x.running)) {
        const j = await n.jsz();
        for (const acc of j?.account_details ?? []) {
          for (const sd of acc.stream_detail ?? []) {
            if (sd.name === stream && sd.cluster?.leader) return nats.find((x) => x.name === sd.cluster.leader);
          }
        }
      }
      return undefined;
    },
    async dispose() {
      await Promise.all(nodes.map((n) => n.dispose().catch(() => null)));
      await Promise.all(nats.map((n) => n.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Registers before/after hooks for one cluster per test file; clients opened via ctx.client are closed at the end. */
export function useCluster(opts = {}) {
  const ctx = {
    cluster: undefined,
    open: [],
    node(i) { return ctx.cluster.nodes[i]; },
    client(i, o = {}) {
      const c = appClient({ port: ctx.cluster.nodes[i].port, ...o });
      ctx.open.push(c);
      return c;
    },
  };
  before(async () => { ctx.cluster = await startCluster(opts); });
  after(async () => {
    await Promise.all(ctx.open.splice(0).map((c) => Promise.resolve(c.close?.()).catch(() => null)));
    if (ctx.cluster) await ctx.cluster.dispose();
  });
  return ctx;
}
