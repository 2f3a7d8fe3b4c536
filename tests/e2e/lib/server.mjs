// Starts and stops a real `vigild` process for end-to-end tests.
//
// The server announces its port on stderr with a logfmt line containing
// ` event=listening ` and ` port=<N>`; start() waits for that line (with a
// timeout) and fails with the collected stderr, so a crash at start-up is
// readable in the test output.

import { spawn } from 'node:child_process';
import {
  chmodSync, closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { natsAccount } from './nats.mjs';
import { SECRET } from './tokens.mjs';
import { TLS, httpBase, tlsArgs, wsBase } from './tls.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Path of the binary under test: env VIGIL_BIN, else <repo>/build/vigild. */
export const VIGIL_BIN =
  process.env.VIGIL_BIN || path.resolve(here, '..', '..', '..', 'build', 'vigild');

/**
 * The storage engine every server of the run uses unless a test says otherwise: env
 * VIGIL_E2E_ENGINE, `sqlite` (default; a temporary database file) or `jetstream` (a cluster node:
 * storage.engine = jetstream on the process's shared single-node nats-server, one NATS account per
 * server, lib/nats.mjs).
 */
export const ENGINE = process.env.VIGIL_E2E_ENGINE || 'sqlite';
if (ENGINE !== 'sqlite' && ENGINE !== 'jetstream') {
  throw new Error(`VIGIL_E2E_ENGINE=${ENGINE}: expected sqlite or jetstream`);
}
/** True when the run's servers are cluster nodes (VIGIL_E2E_ENGINE=jetstream). */
export const JETSTREAM = ENGINE === 'jetstream';

const START_TIMEOUT_MS = Number(process.env.VIGIL_START_TIMEOUT_MS || 15000);
const STOP_TIMEOUT_MS = 10000;

/** Blocks the thread for `ms` (start-up only: waiting for a rebuild of the binary to finish). */
function blockFor(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Copies the binary once it is complete: a linker that is still writing it keeps touching its
 * mtime, so wait (up to 60 s) until it is 2 s old, an ELF file, and unchanged across the copy.
 */
function copyStableBinary(src, dest) {
  const deadline = Date.now() + 60000;
  for (;;) {
    try {
      const before = statSync(src);
      if (Date.now() - before.mtimeMs >= 2000 && before.size > 4) {
        copyFileSync(src, dest);
        const after = statSync(src);
        const head = Buffer.alloc(4);
        const fd = openSync(dest, 'r');
        readSync(fd, head, 0, 4, 0);
        closeSync(fd);
        if (after.mtimeMs === before.mtimeMs && after.size === before.size && statSync(dest).size === before.size
            && head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return;
      }
    } catch (e) {
      if (e.code !== 'ENOENT') throw e; // the linker replaces the file: try again
    }
    if (Date.now() > deadline) { copyFileSync(src, dest); return; }
    blockFor(500);
  }
}

// One private copy of the binary per test process: a rebuild of build/vigild in the middle of a
// run (restart tests spawn it again) then cannot mix two builds or fail with ETXTBSY/EACCES.
let privateBin;
function binary() {
  if (privateBin && existsSync(privateBin)) return privateBin;
  if (!existsSync(VIGIL_BIN)) {
    throw new Error(`vigild binary not found at ${VIGIL_BIN} (build it, or set VIGIL_BIN)`);
  }
  try {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigild-bin-'));
    const copy = path.join(dir, 'vigild');
    copyStableBinary(VIGIL_BIN, copy);
    chmodSync(copy, 0o755);
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    privateBin = copy;
  } catch {
    privateBin = VIGIL_BIN;
  }
  return privateBin;
}

// Every child we spawned, so that a crashed test run never leaves servers behind.
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/** A free TCP port on 127.0.0.1 (listen on 0, read the port, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Parses one logfmt line into an object (values unquoted). */
export function parseLogfmt(line) {
  const out = {};
  const re = /([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  let m;
  while ((m = re.exec(line)) !== null) {
    let v = m[2];
    if (v.startsWith('"')) {
      try { v = JSON.parse(v); } catch { v = v.slice(1, -1); }
    }
    out[m[1]] = v;
  }
  return out;
}

/** True when a logfmt line announces the main (tRPC) listener rather than the admin console. */
function isMainListeningLine(line) {
  const padded = ` ${line} `;
  if (!padded.includes(' event=listening ') || !/ port=\d+/.test(padded)) return false;
  const kv = parseLogfmt(line);
  // The admin console may announce itself with the same event; skip such lines.
  for (const [k, v] of Object.entries(kv)) {
    if (k === 'port' || k === 'event') continue;
    if (/admin|console/i.test(k) || /^(admin|console)$/i.test(String(v))) return false;
  }
  return true;
}

/**
 * A running (or stopped) vigild. Keeps its DB directory and port across
 * restart() so that persistence and client reconnects can be tested.
 */
export class VigilServer {
  /**
   * @param {object} [opts]
   * @param {number} [opts.port] fixed port (0 = let the server choose; restart() then reuses the chosen one)
   * @param {string} [opts.dbDir] directory for vigil.db (a fresh temp dir by default)
   * @param {string|null} [opts.secret] HS256 secret (null: no --auth.jwt-secret flag at all)
   * @param {string|null} [opts.host] --host value (default 127.0.0.1; null: no --host flag)
   * @param {string} [opts.tiers] value for --escalation.tiers
   * @param {'on'|'off'} [opts.failsafe] escalation.failsafe; 'off' unless given: most tests raise
   *   alerts with nobody of the tier's role online, which the failsafe escalates at once (tests of
   *   the failsafe and of receipts pass 'on')
   * @param {string[]} [opts.args] extra --key=value arguments
   * @param {object} [opts.env] extra environment variables
   * @param {number} [opts.fdLimit] start under `ulimit -n <fdLimit>` (soft and hard), via bash + exec
   *   so the child pid is vigild's own
   * @param {boolean} [opts.tls] serve TLS with the run's test certificate (default: VIGIL_E2E_TLS=1;
   *   lib/tls.mjs); false = plain even in TLS mode (then give your own tls.* flags in args, if any)
   * @param {'sqlite'|'jetstream'} [opts.engine] storage engine (default ENGINE, i.e.
   *   VIGIL_E2E_ENGINE); jetstream: the server gets its own NATS account on the shared nats-server
   *   (lib/nats.mjs) on first start and keeps it across restarts; storage.path (dbDir) then only
   *   holds admin.token
   */
  constructor(opts = {}) {
    this.requestedPort = opts.port ?? 0;
    this.ownsDbDir = !opts.dbDir;
    this.dbDir = opts.dbDir || mkdtempSync(path.join(os.tmpdir(), 'vigil-e2e-'));
    this.secret = opts.secret === null ? null : (opts.secret || SECRET);
    this.host = opts.host === null ? null : (opts.host || '127.0.0.1');
    this.tiers = opts.tiers;
    this.failsafe = opts.failsafe ?? 'off';
    this.extraArgs = opts.args || [];
    this.extraEnv = opts.env || {};
    this.fdLimit = opts.fdLimit;
    this.tls = opts.tls ?? TLS;
    this.engine = opts.engine ?? ENGINE;
    this.natsUrl = undefined; // jetstream: the NATS account's URL, taken at the first start
    this.port = undefined;
    this.child = undefined;
    this.stderrLines = [];
    this.exitInfo = undefined;
    this.generation = 0;
  }

  get dbPath() { return path.join(this.dbDir, 'vigil.db'); }
  get httpUrl() { return httpBase(this.port, this.tls); }
  get wsUrl() { return `${wsBase(this.port, this.tls)}/api/trpc`; }
  get trpcUrl() { return `${this.httpUrl}/api/trpc`; }
  /** Pid of the running process (undefined when stopped). */
  get pid() { return this.child?.pid; }

  /** All stderr collected so far (all generations). */
  logs() { return this.stderrLines.join('\n'); }

  /** The last `n` stderr lines, for failure messages. */
  tail(n = 40) { return this.stderrLines.slice(-n).join('\n'); }

  args(port) {
    const a = [`--port=${port}`];
    if (this.host !== null) a.push(`--host=${this.host}`);
    a.push(`--db=${this.dbPath}`);
    if (this.secret !== null) a.push(`--auth.jwt-secret=${this.secret}`);
    a.push('--admin.port=0');
    if (this.tiers) a.push(`--escalation.tiers=${this.tiers}`);
    a.push(`--escalation.failsafe=${this.failsafe}`);
    if (this.engine === 'jetstream') {
      a.push('--storage.engine=jetstream', `--cluster.nats-urls=${this.natsUrl}`, '--cluster.replicas=1');
    }
    return a.concat(tlsArgs(this.tls), this.extraArgs);
  }

  /** Spawns the server and resolves once it announced its port. */
  async start() {
    if (this.child) throw new Error('server already running');
    if (this.engine === 'jetstream' && !this.natsUrl) this.natsUrl = await natsAccount();
    const bin = binary();
    const port = this.port ?? this.requestedPort;
    this.generation += 1;
    const gen = this.generation;
    this.stderrLines.push(`--- e2e: start #${gen}: ${VIGIL_BIN} ${this.args(port).join(' ').replace(this.secret ?? '<secret>', '<secret>')}`);
    // With fdLimit, bash lowers the limit and then execs vigild (same pid, so kill and /proc work).
    const [cmd, argv] = this.fdLimit
      ? ['bash', ['-c', `ulimit -n ${Number(this.fdLimit)} && exec "$0" "$@"`, bin, ...this.args(port)]]
      : [bin, this.args(port)];
    const child = spawn(cmd, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.extraEnv },
    });
    this.child = child;
    this.exitInfo = undefined;
    live.add(child);

    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        live.delete(child);
        this.exitInfo = { code, signal };
        this.stderrLines.push(`--- e2e: process #${gen} exited code=${code} signal=${signal}`);
        if (this.child === child) this.child = undefined;
        resolve({ code, signal });
      });
    });

    let buf = '';
    const listening = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`vigild did not announce "event=listening" within ${START_TIMEOUT_MS} ms; stderr:\n${this.tail()}`));
      }, START_TIMEOUT_MS);
      const onLine = (line) => {
        this.stderrLines.push(line);
        if (isMainListeningLine(line)) {
          clearTimeout(timer);
          resolve(Number(parseLogfmt(line).port));
        }
      };
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk) => {
        for (const l of chunk.split('\n')) if (l) this.stderrLines.push(`[stdout] ${l}`);
      });
      child.on('error', (err) => { clearTimeout(timer); reject(err); });
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        if (buf) { this.stderrLines.push(buf); buf = ''; }
        reject(new Error(`vigild exited during start-up (code=${code} signal=${signal}); stderr:\n${this.tail()}`));
      });
    });
    this.port = await listening;
    if (port !== 0 && this.port !== port) {
      throw new Error(`vigild announced port ${this.port}, expected ${port}`);
    }
    return this;
  }

  /** SIGTERM and wait for the exit; resolves {code, signal}. Kills -9 after a timeout. */
  async stop(timeoutMs = STOP_TIMEOUT_MS) {
    const child = this.child;
    if (!child) return this.exitInfo;
    child.kill('SIGTERM');
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const r = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      child.kill('SIGKILL');
      await this.exited;
      throw new Error(`vigild did not exit within ${timeoutMs} ms of SIGTERM; stderr:\n${this.tail()}`);
    }
    return r;
  }

  /** kill -9: no graceful shutdown at all. */
  async kill9() {
    const child = this.child;
    if (!child) return this.exitInfo;
    child.kill('SIGKILL');
    return this.exited;
  }

  /** Stops (SIGTERM) and starts again on the same port and database. */
  async restart() {
    const info = await this.stop();
    await this.start();
    return info;
  }

  /** Stops the server and removes its temp directory (if we created it). */
  async dispose() {
    try {
      await this.stop();
    } finally {
      if (this.ownsDbDir && !process.env.VIGIL_E2E_KEEP) {
        rmSync(this.dbDir, { recursive: true, force: true });
      }
    }
  }
}

/** Creates and starts a server; see VigilServer for options. */
export async function startServer(opts = {}) {
  const s = new VigilServer(opts);
  await s.start();
  return s;
}
