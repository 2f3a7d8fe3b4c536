// Runs the suite (`npm test`) or some files (`node lib/run.mjs a.test.mjs …`), one file at a time,
// after making the run's test certificates (lib/tls.mjs): a CA and a server certificate for
// 127.0.0.1/localhost in a temporary directory, removed at the end. The test processes find them
// through VIGIL_E2E_TLS_DIR and trust the CA through NODE_EXTRA_CA_CERTS (fetch, ws, tls) and
// VIGIL_CA_FILE (vigilctl). Node reads NODE_EXTRA_CA_CERTS only when a process starts, so it is
// set here, before the test runner starts (the runner does not pass on variables set later by an
// --import module). Arguments starting with `--` go to `node --test` (they replace the default
// --test-timeout); the others are the files (default: every *.test.mjs).

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { issueCert, makeCa } from './tls.mjs';

const suite = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const options = args.filter((a) => a.startsWith('--'));
let files = args.filter((a) => !a.startsWith('--'));
if (files.length === 0) files = readdirSync(suite).filter((f) => f.endsWith('.test.mjs')).sort();
if (!options.some((o) => o.startsWith('--test-timeout'))) options.push('--test-timeout=120000');

let dir;
if (!process.env.VIGIL_E2E_TLS_DIR) {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-e2e-tls-'));
  makeCa(dir);
  issueCert(dir, 'server');
}
const tlsDir = process.env.VIGIL_E2E_TLS_DIR || dir;
const env = {
  ...process.env,
  VIGIL_E2E_TLS_DIR: tlsDir,
  NODE_EXTRA_CA_CERTS: path.join(tlsDir, 'ca.pem'),
  VIGIL_CA_FILE: path.join(tlsDir, 'ca.pem'),
};
const child = spawn(process.execPath, ['--test', '--test-concurrency=1', ...options, ...files],
  { cwd: suite, env, stdio: 'inherit' });
const cleanup = () => { if (dir) rmSync(dir, { recursive: true, force: true }); };
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  cleanup();
  process.exitCode = code ?? (signal ? 1 : 0);
});
