// Helpers for the `vigilctl` e2e files: run the real binary (env VIGILCTL_BIN, default
// /work/main/build/vigilctl) with its stdout split into lines, make alerts over HTTP, one server
// per describe block.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';

import { startServer } from './server.mjs';
import { wsBase } from './tls.mjs';
import { mintToken } from './tokens.mjs';

export const VIGILCTL_BIN = process.env.VIGILCTL_BIN || '/work/main/build/vigilctl';
export const WAIT_MS = Number(process.env.VIGIL_E2E_WAIT_MS || 10000);
export const EVENT_ID = /^[a-z0-9]{8}-\d+$/;

// ---- helpers ------------------------------------------------------------------------------------

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
});

/** A running vigilctl: stdout split into lines, stderr collected, waits with timeouts. */
export class Ctl {
  constructor(args, env = {}) {
    if (!existsSync(VIGILCTL_BIN)) throw new Error(`vigilctl not found at ${VIGILCTL_BIN} (build it, or set VIGILCTL_BIN)`);
    this.args = args;
    this.lines = [];
    this.stderr = '';
    this.listeners = new Set();
    this.child = spawn(VIGILCTL_BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    let buf = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
      this.notify();
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk) => { this.stderr += chunk; this.notify(); });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        live.delete(this.child);
        if (buf) { this.lines.push(buf); buf = ''; }
        this.exitInfo = { code, signal };
        this.notify();
        resolve(this.exitInfo);
      });
    });
  }

  notify() { for (const f of [...this.listeners]) f(); }

  describe() {
    return `vigilctl ${this.args.join(' ')}\nstdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`;
  }

  /** Resolves once pred() holds; rejects on timeout, or when the process exits without it. */
  until(pred, what, ms = WAIT_MS) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pred()) { done(); resolve(); } else if (this.exitInfo) {
          done();
          reject(new Error(`vigilctl exited (${JSON.stringify(this.exitInfo)}) before ${what}\n${this.describe()}`));
        }
      };
      const timer = setTimeout(() => { done(); reject(new Error(`timeout waiting for ${what}\n${this.describe()}`)); }, ms);
      // Output wakes the check at once; the poll covers conditions on files (the checkpoint).
      const poll = setInterval(check, 20);
      const done = () => { clearTimeout(timer); clearInterval(poll); this.listeners.delete(check); };
      this.listeners.add(check);
      check();
    });
  }

  subscribed(n = 1) {
    return this.until(() => (this.stderr.match(/subscribed to /g) || []).length >= n, `subscription #${n}`);
  }

  /** Waits for the exit; kills the process and fails after `ms`. */
  async exit(ms = WAIT_MS * 2) {
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
    const r = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
      throw new Error(`vigilctl did not exit within ${ms} ms\n${this.describe()}`);
    }
    return { ...r, lines: this.lines, stderr: this.stderr };
  }
}

/** Runs vigilctl to completion. */
export function ctl(args, env) { return new Ctl(args, env).exit(); }

export const events = (lines) => lines.map((l) => JSON.parse(l));
export const ids = (lines) => events(lines).map((e) => e.id);
export const seq = (id) => Number(id.split('-')[1]);
export const epochOf = (id) => id.split('-')[0];

export function assertIncreasing(list, what) {
  for (let i = 1; i < list.length; i++) {
    assert.ok(seq(list[i]) > seq(list[i - 1]), `${what}: ${list[i - 1]} then ${list[i]}`);
  }
}

/** POSTs a mutation; returns its data. */
export async function mutate(server, token, name, input) {
  const res = await fetch(`${server.trpcUrl}/healthcare.${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(input),
  });
  const body = await res.json();
  assert.equal(res.status, 200, `${name}: ${JSON.stringify(body)}`);
  return body.result.data;
}

export async function createAlert(server, token, hospitalId, i) {
  const { alert } = await mutate(server, token, 'createAlert', {
    hospitalId, roomNumber: `R${i}`, alertType: 'medical_emergency', urgencyLevel: 2, description: `e2e ${i}`,
  });
  return alert;
}

export async function createAlerts(server, token, hospitalId, n, from = 1) {
  const out = [];
  for (let i = from; i < from + n; i++) out.push(await createAlert(server, token, hospitalId, i));
  return out;
}

export const newHospital = () => `h-${randomUUID()}`;

export function tempDir() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigilctl-e2e-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One server for a describe block, plus a head_doctor token for the given hospitals. */
export function useServer(opts = {}) {
  const ctx = {};
  before(async () => { ctx.server = await startServer(opts); });
  after(async () => { await ctx.server?.dispose(); });
  ctx.token = (hospitals, role = 'head_doctor') => mintToken({ role, hospitals: [].concat(hospitals) });
  ctx.url = () => wsBase(ctx.server.port);
  return ctx;
}
