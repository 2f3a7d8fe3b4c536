// Per-file server fixture: one vigild per test file, fresh hospital ids per test, and every
// client/socket a test opens is closed after it.

import assert from 'node:assert/strict';
import { after, afterEach, before } from 'node:test';
import { randomUUID } from 'node:crypto';

import { startServer } from './server.mjs';

/** VIGIL_E2E_ENGINE=jetstream: every server is a cluster node (lib/server.mjs, lib/nats.mjs). */
export { ENGINE, JETSTREAM } from './server.mjs';
import { appClient, wsOnlyClient, RawWs, http } from './clients.mjs';
import { mintToken } from './tokens.mjs';

/** Roles of docs/api.md "Authentication". */
export const ROLES = ['admin', 'head_doctor', 'doctor', 'nurse', 'operator', 'viewer'];

/**
 * One token per role for the given hospitals, with distinct `sub`s:
 * {admin, head_doctor, doctor, nurse, operator, viewer, subs: {role: sub}}.
 */
export function team(hospitals, over = {}) {
  const tag = randomUUID().slice(0, 6);
  const t = { subs: {} };
  for (const role of ROLES) {
    const sub = `u-${role}-${tag}`;
    t.subs[role] = sub;
    t[role] = mintToken({ sub, name: `${role} ${tag}`, role, hospitals: [].concat(hospitals), ...over });
  }
  return t;
}

/**
 * Registers before/after hooks that start one server for the file and clean up clients after
 * each test. Returns a context whose fields are filled in `before`.
 */
export function useServer(opts = {}) {
  const ctx = {
    server: undefined,
    get port() { return ctx.server.port; },
    open: [],
    /** App-shaped client (closed after the test). */
    client(o = {}) {
      const c = appClient({ port: ctx.port, ...o });
      ctx.open.push(c);
      return c;
    },
    /** Client that sends everything over one WebSocket (closed after the test). */
    wsClient(o = {}) {
      const c = wsOnlyClient({ port: ctx.port, ...o });
      ctx.open.push(c);
      return c;
    },
    /** Raw WebSocket (closed after the test). */
    async raw(o = {}) {
      const r = await RawWs.open(ctx.port, o);
      ctx.open.push(r);
      return r;
    },
    http(pathAndQuery, o) { return http(ctx.port, pathAndQuery, o); },
  };

  before(async () => {
    ctx.server = await startServer(opts);
  });

  afterEach(async () => {
    const open = ctx.open.splice(0);
    await Promise.all(open.map((c) => Promise.resolve(c.close?.()).catch(() => null)));
    if (ctx.server && !ctx.server.child && ctx.server.exitInfo && !ctx.expectDown) {
      assert.fail(`vigild is not running any more (${JSON.stringify(ctx.server.exitInfo)}); stderr tail:\n${ctx.server.tail()}`);
    }
  });

  after(async () => {
    if (!ctx.server) return;
    const info = await ctx.server.dispose().catch((e) => ({ error: e.message }));
    if (info && (info.code !== 0 || info.error)) {
      process.stderr.write(`warning: vigild shutdown: ${JSON.stringify(info)}\n${ctx.server.tail(20)}\n`);
    }
  });

  return ctx;
}
