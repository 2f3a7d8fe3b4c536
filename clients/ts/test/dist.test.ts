/// The built package (dist/, made by `npm run build`) loads in Node 20 as ES modules and talks to
/// a real vigild with `ws` as its WebSocket.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { mintToken, newHospital, startVigil, waitFor, type Vigil } from './helpers.js';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');

let vigil: Vigil;
beforeAll(async () => {
  vigil = await startVigil();
});
afterAll(async () => {
  await vigil?.stop();
});

describe.skipIf(!existsSync(path.join(dist, 'index.js')))('dist', () => {
  it('the built package subscribes and queries from Node', async () => {
    const core = (await import(pathToFileURL(path.join(dist, 'core.js')).href)) as typeof import('../src/core.js');
    const index = (await import(pathToFileURL(path.join(dist, 'index.js')).href)) as typeof import('../src/index.js');
    expect(typeof index.useAlertSubscription).toBe('function');
    expect(typeof index.VigilProvider).toBe('function');
    const hospitalId = newHospital('dist');
    const client = core.createVigilClient({ url: vigil.httpUrl, token: mintToken({ hospitals: [hospitalId] }), WebSocket });
    const items: unknown[] = [];
    const sub = client.subscribeToMetrics({ hospitalId }, { onData: (m) => items.push(m) });
    try {
      await waitFor(() => items.length >= 1, 10000, 'a metrics item');
      core.outputs.metrics.parse(items[0]);
      const stats = await client.trpc.healthcare.getAlertStats.query({ hospitalId });
      expect(stats.active).toBe(0);
    } finally {
      sub.unsubscribe();
      client.close();
    }
  });
});
