// The NATS JetStream backend of VIGIL_E2E_ENGINE=jetstream (lib/server.mjs): one single-node
// nats-server per test process, started on first use (port chosen by nats-server, store directory
// in a temporary directory) and killed when the process exits.
//
// Isolation: vigild's stream subjects are fixed (vigil.events.>), and two streams of one NATS
// account cannot share subjects, so every VigilServer gets an account of its own (a user
// `vigil<N>` in the URL, N counting up in this process): its stream, its epoch and its alert
// index see only its own data, and a restart (SIGTERM or kill -9) of that VigilServer reconnects
// to the same account and so finds the same stream. The accounts are declared in the config
// (nats-server cannot add accounts at run time); ACCOUNTS of them are far more than any test
// file starts servers.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const NATS_BIN = process.env.NATS_SERVER_BIN || 'nats-server';
const READY_TIMEOUT_MS = 20000;
const ACCOUNTS = 128;
const PASSWORD = 'e2e';

let server; // Promise<{port, dir, child, log}>
let nextAccount = 0;

function startNats() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-e2e-nats-'));
  const accounts = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    accounts.push(`  A${i}: { jetstream: enabled, users: [ { user: vigil${i}, password: ${PASSWORD} } ] }`);
  }
  const conf = path.join(dir, 'nats.conf');
  writeFileSync(conf, [
    'server_name: e2e',
    'listen: 127.0.0.1:-1', // nats-server picks a free port and logs it
    `jetstream { store_dir: "${path.join(dir, 'store')}" }`,
    'accounts {',
    ...accounts,
    '}',
    '',
  ].join('\n'));
  // setpriv --pdeathsig: the server also dies with a test process that is killed (a file's
  // timeout), which runs no exit handler.
  const hasSetpriv = spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;
  const [cmd, argv] = hasSetpriv
    ? ['setpriv', ['--pdeathsig', 'KILL', NATS_BIN, '-c', conf]]
    : [NATS_BIN, ['-c', conf]];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  process.on('exit', () => {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
    if (!process.env.VIGIL_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  });
  return new Promise((resolve, reject) => {
    let port;
    const timer = setTimeout(() => {
      reject(new Error(`nats-server not ready in ${READY_TIMEOUT_MS} ms:\n${log.slice(-20).join('\n')}`));
    }, READY_TIMEOUT_MS);
    const onData = (buf) => {
      for (const line of buf.toString().split('\n')) {
        if (!line) continue;
        if (log.length < 2000) log.push(line);
        const m = /Listening for client connections on [^\s]*:(\d+)/.exec(line);
        if (m) port = Number(m[1]);
        if (line.includes('Server is ready') && port) {
          clearTimeout(timer);
          // The server must not keep the test process alive: it is killed when the process exits.
          child.unref();
          child.stdout.unref();
          child.stderr.unref();
          resolve({ port, dir, child, log });
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start ${NATS_BIN}: ${e.message}`)); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (code=${code} signal=${signal}):\n${log.slice(-20).join('\n')}`));
    });
  });
}

/**
 * A fresh NATS account on the shared JetStream server (started on first call): resolves the
 * nats:// URL (with the account's user) to give vigild as cluster.nats-urls.
 */
export async function natsAccount() {
  if (!server) server = startNats();
  const { port } = await server;
  if (nextAccount >= ACCOUNTS) throw new Error(`more than ${ACCOUNTS} jetstream servers in one test process`);
  const i = nextAccount++;
  return `nats://vigil${i}:${PASSWORD}@127.0.0.1:${port}`;
}
