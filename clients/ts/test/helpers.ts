/// Test fixtures: a real vigild on port 0 with a temp database, HS256 tokens, and a TCP proxy
/// that a test can shut and reopen to take the WebSocket away.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const VIGIL_BIN = process.env.VIGIL_BIN || path.resolve(here, '..', '..', '..', 'build', 'vigild');
export const SECRET = 'client-ts-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0';

const b64 = (v: string | Buffer) => Buffer.from(v).toString('base64url');

/// A valid HS256 token (claims as tests/e2e/lib/tokens.mjs mints them).
export function mintToken(opts: { sub?: string; role?: string; hospitals: string[]; expIn?: number; name?: string }): string {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    sub: opts.sub ?? `u-${randomUUID().slice(0, 8)}`,
    role: opts.role ?? 'head_doctor',
    hospitals: opts.hospitals,
    iat: now,
    exp: now + (opts.expIn ?? 3600),
  };
  if (opts.name) payload.name = opts.name;
  const input = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(payload))}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

export const newHospital = (tag = 'h') => `${tag}-${randomUUID().slice(0, 18)}`;

export interface Vigil {
  port: number;
  httpUrl: string;
  wsUrl: string;
  stop(): Promise<void>;
}

/// Starts vigild and resolves once it logged ` event=listening ` with its port.
export async function startVigil(extraArgs: string[] = []): Promise<Vigil> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-client-ts-'));
  const args = [
    '--port=0', '--host=127.0.0.1', `--db=${path.join(dir, 'vigil.db')}`,
    `--auth.jwt-secret=${SECRET}`, '--admin.port=0',
    // These tests raise alerts with nobody of the tier's role online, which the failsafe would
    // escalate at once; a test of the failsafe passes '--escalation.failsafe=on' (later flags win).
    '--escalation.failsafe=off', ...extraArgs,
  ];
  const child: ChildProcess = spawn(VIGIL_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vigild did not start:\n${lines.join('\n')}`)), 15000);
    let buf = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        const padded = ` ${line} `;
        const m = / port=(\d+)/.exec(padded);
        if (padded.includes(' event=listening ') && m && !/admin|console/i.test(line)) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vigild exited (${code}):\n${lines.join('\n')}`));
    });
  });
  return {
    port,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/api/trpc`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 8000).unref();
      }),
  };
}

/// A TCP proxy to `targetPort` on a fixed local port. `shut()` closes the listener and every
/// piped connection (the client sees its socket die and new attempts refused); `open()` listens
/// on the same port again.
export class TcpProxy {
  port = 0;
  /// Connections accepted so far.
  accepted = 0;
  /// While true, a new connection forwards only the client's first chunk (the HTTP upgrade) and
  /// holds what the client sends after it (connectionParams, subscriptions) until `release()`.
  hold = false;
  private held: Array<() => void> = [];
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  constructor(private readonly targetPort: number) {}

  async open(): Promise<void> {
    const server = net.createServer((client) => {
      this.accepted++;
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      upstream.pipe(client);
      if (!this.hold) {
        client.pipe(upstream);
        return;
      }
      client.once('data', (first: Buffer) => {
        upstream.write(first);
        client.pause();
        this.held.push(() => {
          client.pipe(upstream);
          client.resume();
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /// Forwards what `hold` kept back, and stops holding.
  release(): void {
    this.hold = false;
    for (const go of this.held.splice(0)) go();
  }

  async shut(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/// Resolves when `check()` is true (polled every 20 ms), else rejects after `ms`.
export async function waitFor(check: () => boolean, ms = 10000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
