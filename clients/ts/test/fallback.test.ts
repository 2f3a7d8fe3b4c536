/// The client against a real vigild whose WebSocket goes through a TCP proxy the test shuts and
/// reopens: events created while the client polls show up in the polled lists, and after the
/// socket returns the stream resumes with nothing missed or doubled. Also: token renewal and a
/// list of URLs.
import net from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { createVigilClient, type ActiveAlertsOutput, type AlertEvent, type StreamMode } from '../src/core.js';
import { mintToken, newHospital, startVigil, TcpProxy, waitFor, type Vigil } from './helpers.js';

let vigil: Vigil;
beforeAll(async () => {
  vigil = await startVigil();
});
afterAll(async () => {
  await vigil?.stop();
});

function admin(hospitalId: string) {
  return createVigilClient({ url: vigil.httpUrl, token: mintToken({ hospitals: [hospitalId] }), WebSocket });
}

const fastRetry = (attempt: number) => Math.min(100 * (attempt + 1), 500);

describe('fallback and resume', () => {
  it('polls while the WebSocket is down and resumes without a gap or a duplicate', async () => {
    const hospitalId = newHospital('fallback');
    const proxy = new TcpProxy(vigil.port);
    await proxy.open();
    const modes: StreamMode[] = [];
    const client = createVigilClient({
      url: { http: `${vigil.httpUrl}/api/trpc`, ws: `ws://127.0.0.1:${proxy.port}/api/trpc` },
      getToken: () => mintToken({ hospitals: [hospitalId] }),
      WebSocket,
      pollIntervalMs: 300,
      retryDelayMs: fastRetry,
      onModeChange: (m) => modes.push(m),
    });
    const writer = admin(hospitalId);
    const events: AlertEvent[] = [];
    const polls: ActiveAlertsOutput[] = [];
    let started = 0;
    const sub = client.subscribeToAlerts(
      { hospitalId },
      { onData: (e) => events.push(e), onPoll: (p) => polls.push(p), onStarted: () => started++ },
    );
    const create = (room: string) =>
      writer.trpc.healthcare.createAlert.mutate({ hospitalId, roomNumber: room, alertType: 'fire', urgencyLevel: 2 });
    try {
      await waitFor(() => client.mode === 'live' && started === 1, 10000, 'live');
      const a = await create('A-1');
      await waitFor(() => events.length === 1, 5000, 'event A');

      await proxy.shut();
      await waitFor(() => client.mode === 'polling', 10000, 'polling');
      const b = await create('B-1');
      const c = await create('C-1');
      await waitFor(
        () => polls.some((p) => p.alerts.some((x) => x.id === b.alert.id) && p.alerts.some((x) => x.id === c.alert.id)),
        5000,
        'B and C in a polled list',
      );
      expect(events.length).toBe(1);

      await proxy.open();
      await waitFor(() => client.mode === 'live', 10000, 'live again');
      await waitFor(() => events.length === 3, 5000, 'B and C replayed');
      const d = await create('D-1');
      await waitFor(() => events.length === 4, 5000, 'event D');
      await new Promise((r) => setTimeout(r, 300)); // nothing more may arrive
      expect(events.map((e) => (e.type === 'alert.created' ? e.data.id : e.type))).toEqual(
        [a, b, c, d].map((x) => x.alert.id),
      );
      expect(new Set(events.map((e) => e.id)).size).toBe(4);
      expect(sub.lastEventId).toBe(events[3]!.id);
      expect(modes).toContain('polling');
      expect(modes.at(-1)).toBe('live');
    } finally {
      sub.unsubscribe();
      client.close();
      writer.close();
      await proxy.shut();
    }
  });

  it('renews the token after UNAUTHORIZED and reconnects', async () => {
    const hospitalId = newHospital('token');
    let calls = 0;
    const client = createVigilClient({
      url: vigil.httpUrl,
      getToken: () => (++calls === 1 ? 'not-a-token' : mintToken({ hospitals: [hospitalId] })),
      WebSocket,
      retryDelayMs: fastRetry,
    });
    const writer = admin(hospitalId);
    const events: AlertEvent[] = [];
    let started = 0;
    const sub = client.subscribeToAlerts({ hospitalId }, { onData: (e) => events.push(e), onStarted: () => started++ });
    try {
      await waitFor(() => started === 1, 10000, 'started after renewal');
      expect(calls).toBeGreaterThanOrEqual(2);
      await writer.trpc.healthcare.createAlert.mutate({ hospitalId, roomNumber: 'T-1', alertType: 'fire', urgencyLevel: 3 });
      await waitFor(() => events.length === 1, 5000, 'event');
    } finally {
      sub.unsubscribe();
      client.close();
      writer.close();
    }
  });

  it('asks for a fresh token when the server ends an expired one, and keeps the stream', async () => {
    const hospitalId = newHospital('expiry');
    let calls = 0;
    const client = createVigilClient({
      url: vigil.httpUrl,
      getToken: () => mintToken({ hospitals: [hospitalId], expIn: ++calls === 1 ? 2 : 3600 }),
      WebSocket,
      retryDelayMs: fastRetry,
    });
    const writer = admin(hospitalId);
    const events: AlertEvent[] = [];
    const sub = client.subscribeToAlerts({ hospitalId }, { onData: (e) => events.push(e) });
    try {
      await waitFor(() => client.mode === 'live', 10000, 'live');
      await writer.trpc.healthcare.createAlert.mutate({ hospitalId, roomNumber: 'E-1', alertType: 'fire', urgencyLevel: 3 });
      await waitFor(() => calls >= 2, 8000, 'a second getToken after expiry');
      await waitFor(() => client.mode === 'live', 10000, 'live again');
      await writer.trpc.healthcare.createAlert.mutate({ hospitalId, roomNumber: 'E-2', alertType: 'fire', urgencyLevel: 3 });
      await waitFor(() => events.length === 2, 5000, 'both events');
      expect(new Set(events.map((e) => e.id)).size).toBe(2);
    } finally {
      sub.unsubscribe();
      client.close();
      writer.close();
    }
  });

  it('reports a resync when the resume point is unknown, and resumes from the resync id', async () => {
    const hospitalId = newHospital('resync');
    const client = createVigilClient({ url: vigil.httpUrl, token: mintToken({ hospitals: [hospitalId] }), WebSocket });
    const resyncs: AlertEvent[] = [];
    const data: AlertEvent[] = [];
    const sub = client.subscribeToAlerts(
      { hospitalId, lastEventId: 'zzzzzzzz-1' },
      { onResync: (e) => resyncs.push(e), onData: (e) => data.push(e) },
    );
    try {
      await waitFor(() => resyncs.length === 1, 10000, 'a resync');
      expect(resyncs[0]!.data).toEqual({ resync: true, reason: 'unknown_event_id' });
      expect(data).toEqual(resyncs);
      expect(sub.lastEventId).toBe(resyncs[0]!.id);
    } finally {
      sub.unsubscribe();
      client.close();
    }
  });

  it('with a list of URLs, moves to the next server when the live one fails and resumes by lastEventId', async () => {
    // Two proxies to the same vigild stand for two nodes of a cluster (one event history).
    const hospitalId = newHospital('move');
    const nodes = [new TcpProxy(vigil.port), new TcpProxy(vigil.port)];
    for (const n of nodes) await n.open();
    const client = createVigilClient({
      urls: nodes.map((n) => `http://127.0.0.1:${n.port}`),
      getToken: () => mintToken({ hospitals: [hospitalId] }),
      WebSocket,
      retryDelayMs: fastRetry,
      pollIntervalMs: 300,
    });
    const writer = admin(hospitalId);
    const events: AlertEvent[] = [];
    let started = 0;
    const sub = client.subscribeToAlerts({ hospitalId }, { onData: (e) => events.push(e), onStarted: () => started++ });
    const create = (room: string) =>
      writer.trpc.healthcare.createAlert.mutate({ hospitalId, roomNumber: room, alertType: 'fire', urgencyLevel: 2 });
    try {
      await waitFor(() => client.mode === 'live' && started === 1, 10000, 'live on the first server');
      expect(nodes[1]!.accepted).toBe(0);
      const before = [await create('M-1'), await create('M-2')];
      await waitFor(() => events.length === 2, 5000, 'two events');
      const resumePoint = sub.lastEventId;

      await nodes[0]!.shut(); // the first server is gone for good
      const missed = [await create('M-3'), await create('M-4'), await create('M-5')];
      await waitFor(() => started === 2 && client.mode === 'live', 10000, 'live on the second server');
      expect(nodes[1]!.accepted).toBeGreaterThan(0);
      await waitFor(() => events.length === 5, 5000, 'the missed events');
      const after = await create('M-6');
      await waitFor(() => events.length === 6, 5000, 'a live event on the second server');
      await new Promise((r) => setTimeout(r, 300)); // nothing more may arrive
      expect(events.map((e) => (e.type === 'alert.created' ? e.data.id : e.type))).toEqual(
        [...before, ...missed, after].map((x) => x.alert.id),
      );
      expect(new Set(events.map((e) => e.id)).size).toBe(6);
      expect(events[1]!.id).toBe(resumePoint);
      // Queries follow the WebSocket to the live server.
      const m = await client.trpc.healthcare.getMetrics.query({ hospitalId });
      expect(m.activeAlerts).toBe(6);
    } finally {
      sub.unsubscribe();
      client.close();
      writer.close();
      for (const n of nodes) await n.shut();
    }
  });

  it('gives up a handshake nobody answers after handshakeTimeoutMs and goes on to the next URL', async () => {
    // A node that accepts TCP but never answers the upgrade (its process stopped, a stalled proxy).
    const silent = net.createServer((s) => { held.push(s); s.on('error', () => {}); });
    const held: net.Socket[] = [];
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const silentPort = (silent.address() as net.AddressInfo).port;
    const hospitalId = newHospital('stalled');
    const client = createVigilClient({
      urls: [`http://127.0.0.1:${silentPort}`, vigil.httpUrl],
      token: mintToken({ hospitals: [hospitalId] }),
      WebSocket,
      retryDelayMs: fastRetry,
      handshakeTimeoutMs: 500,
    });
    let started = 0;
    const sub = client.subscribeToAlerts({ hospitalId }, { onStarted: () => started++ });
    try {
      await waitFor(() => held.length === 1, 5000, 'the attempt on the silent node');
      await waitFor(() => started === 1 && client.mode === 'live', 10000, 'live on the second URL');
    } finally {
      sub.unsubscribe();
      client.close();
      for (const s of held) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('tries a list of URLs in turn', async () => {
    const hospitalId = newHospital('urls');
    const dead = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const client = createVigilClient({
      urls: [`http://127.0.0.1:${dead}`, vigil.httpUrl],
      token: mintToken({ hospitals: [hospitalId] }),
      WebSocket,
      retryDelayMs: fastRetry,
    });
    let started = 0;
    const sub = client.subscribeToAlerts({ hospitalId }, { onStarted: () => started++ });
    try {
      await waitFor(() => started === 1 && client.mode === 'live', 10000, 'live on the second URL');
      const m = await client.trpc.healthcare.getMetrics.query({ hospitalId });
      expect(m.activeAlerts).toBe(0);
    } finally {
      sub.unsubscribe();
      client.close();
    }
  });
});
