// The README's "Trying it" block, run as written (with the built binaries in place of
// `scripts/run` and a free port in place of 3001): the quick start must keep working, wait for
// the server instead of racing it, and walk an alert through create, acknowledge and resolve.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { VIGIL_BIN, freePort } from './lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const VIGILCTL_BIN = process.env.VIGILCTL_BIN || path.resolve(here, '..', '..', 'build', 'vigilctl');

/** The first ```sh block after the "## Trying it" heading of README.md. */
function quickStart() {
  const readme = readFileSync(path.resolve(here, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Trying it'));
  const m = section.match(/```sh\n([\s\S]*?)```/);
  assert.ok(m, 'README.md has a ```sh block under "## Trying it"');
  return m[1];
}

test('README quick start: waits for /health, then create, acknowledge and resolve succeed', async () => {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-readme-'));
  try {
    let script = quickStart();
    assert.match(script, /scripts\/run &/, 'the quick start starts the server with scripts/run');
    script = script
      .replace(/scripts\/run &/, `"$VIGIL_BIN" --port=${port} --admin.port=0 >"$WORK/vigild.log" 2>&1 &`)
      .replaceAll('localhost:3001', `localhost:${port}`)
      .replaceAll('build/vigilctl', '"$VIGILCTL_BIN"');
    script = `set -eu\ntrap 'kill %1 2>/dev/null || true' EXIT\n${script}\necho "ALERT=$ALERT"\n`;
    const run = spawnSync('bash', ['-c', script], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60000,
      env: { ...process.env, VIGIL_BIN, VIGILCTL_BIN, WORK: dir, VIGIL_DB: path.join(dir, 'vigil.db') },
    });
    const out = run.stdout;
    assert.equal(run.status, 0, `quick start exited ${run.status}\nstdout:\n${out}\nstderr:\n${run.stderr}`);
    const lines = out.split('\n').filter((l) => l.startsWith('{'));
    assert.equal(lines.length, 2, `two replies (acknowledge, resolve):\n${out}`);
    const [ack, resolved] = lines.map((l) => JSON.parse(l).result?.data);
    const alertId = out.match(/^ALERT=(.+)$/m)?.[1];
    assert.match(alertId ?? '', /^[0-9a-f-]{36}$/, `an alert id was captured:\n${out}`);
    assert.equal(ack?.alert?.status, 'acknowledged', out);
    assert.equal(ack.alert.id, alertId);
    assert.equal(resolved?.alert?.status, 'resolved', out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
