// @vitest-environment jsdom
/// The React hooks in jsdom against a real vigild: the seed's `useAlertSubscription({ hospitalId,
/// onEvent })` sees live events, falls back to polling when the WebSocket goes away (the active
/// alerts list still updates), and resumes with nothing missed or doubled.
import { act, cleanup, render, screen, waitFor as rtlWaitFor } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import {
  createVigilClient,
  useAcknowledgeAlert,
  useActiveAlerts,
  useAlertSubscription,
  useEscalateAlert,
  useMetricsSubscription,
  usePresence,
  useResolveAlert,
  VigilProvider,
  type AlertEvent,
  type VigilClient,
} from '../src/index.js';
import { mintToken, newHospital, startVigil, TcpProxy, type Vigil } from './helpers.js';

let vigil: Vigil;
beforeAll(async () => {
  vigil = await startVigil();
});
afterAll(async () => {
  await vigil?.stop();
});
afterEach(() => cleanup());

const waitFor = (fn: () => void, timeout = 10000) => rtlWaitFor(fn, { timeout, interval: 25 });

/// The seed's usage, with delivery receipts off: their seenBy updates are events of their own
/// (the receipts test below has them on).
function Feed({ hospitalId, seen, confirm = false }: { hospitalId: string; seen: AlertEvent[]; confirm?: boolean }) {
  const { events, isConnected, mode, lastEventId, isSubscribed } = useAlertSubscription({
    hospitalId,
    onEvent: (e) => seen.push(e),
    confirmDelivery: confirm,
  });
  const alerts = useActiveAlerts({ hospitalId }, { confirmDelivery: confirm });
  return (
    <div>
      <span data-testid="mode">{mode}</span>
      <span data-testid="connected">{String(isConnected)}</span>
      <span data-testid="count">{events.length}</span>
      <span data-testid="subscribed">{String(isSubscribed)}</span>
      <span data-testid="last">{lastEventId ?? ''}</span>
      <span data-testid="active">{alerts.data ? alerts.data.alerts.map((a) => a.roomNumber).sort().join(',') : 'loading'}</span>
    </div>
  );
}

/// A client whose WebSocket goes through `proxy` (HTTP straight to vigild), polling every 300 ms,
/// and a second client that writes; with `render(feed)` the seed's feed is shown through the first.
function proxiedClients(proxy: TcpProxy, hospitalId: string, extra: { fetch?: typeof fetch } = {}) {
  const client = createVigilClient({
    url: { http: `${vigil.httpUrl}/api/trpc`, ws: `ws://127.0.0.1:${proxy.port}/api/trpc` },
    getToken: () => mintToken({ hospitals: [hospitalId] }),
    WebSocket,
    ...extra,
    pollIntervalMs: 300,
    retryDelayMs: (n) => Math.min(100 * (n + 1), 500),
  });
  const writer = createVigilClient({ url: vigil.httpUrl, token: mintToken({ hospitals: [hospitalId] }), WebSocket });
  const seen: AlertEvent[] = [];
  const renderFeed = () =>
    render(
      <VigilProvider client={client}>
        <Feed hospitalId={hospitalId} seen={seen} />
      </VigilProvider>,
    );
  return { client, writer, seen, renderFeed };
}

describe('hooks', () => {
  it('live events, polling fallback and resume through useAlertSubscription', async () => {
    const hospitalId = newHospital('hooks');
    const proxy = new TcpProxy(vigil.port);
    await proxy.open();
    const { client, writer, seen, renderFeed } = proxiedClients(proxy, hospitalId);
    const create = (room: string) =>
      writer.trpc.healthcare.createAlert.mutate({ hospitalId, roomNumber: room, alertType: 'code_blue', urgencyLevel: 1 });
    try {
      renderFeed();
      await waitFor(() => expect(screen.getByTestId('mode').textContent).toBe('live'));
      await waitFor(() => expect(screen.getByTestId('active').textContent).toBe(''));
      await waitFor(() => expect(screen.getByTestId('subscribed').textContent).toBe('true'));
      await create('R-1');
      await waitFor(() => expect(screen.getByTestId('count').textContent).toBe('1'));
      await waitFor(() => expect(screen.getByTestId('active').textContent).toBe('R-1'));

      await act(async () => proxy.shut());
      await waitFor(() => expect(screen.getByTestId('mode').textContent).toBe('polling'));
      expect(screen.getByTestId('connected').textContent).toBe('false');
      await create('R-2');
      await create('R-3');
      // while polling the list still follows the server
      await waitFor(() => expect(screen.getByTestId('active').textContent).toBe('R-1,R-2,R-3'));
      expect(screen.getByTestId('count').textContent).toBe('1');

      await act(async () => proxy.open());
      await waitFor(() => expect(screen.getByTestId('mode').textContent).toBe('live'));
      await waitFor(() => expect(screen.getByTestId('count').textContent).toBe('3'));
      await create('R-4');
      await waitFor(() => expect(screen.getByTestId('count').textContent).toBe('4'));
      await waitFor(() => expect(screen.getByTestId('active').textContent).toBe('R-1,R-2,R-3,R-4'));
      const rooms = seen.map((e) => (e.type === 'alert.created' ? e.data.roomNumber : e.type));
      expect(rooms).toEqual(['R-1', 'R-2', 'R-3', 'R-4']);
      expect(new Set(seen.map((e) => e.id)).size).toBe(4);
      expect(screen.getByTestId('last').textContent).toBe(seen[3]!.id);
    } finally {
      cleanup();
      client.close();
      writer.close();
      await proxy.shut();
    }
  });

  it('a stream without a resume point refreshes its lists once subscribed again: an alert raised between socket-up and the subscription is shown', async () => {
    const hospitalId = newHospital('resub');
    const proxy = new TcpProxy(vigil.port);
    await proxy.open();
    let inFlight = 0;
    const counted: typeof fetch = async (...args) => {
      inFlight++;
      try {
        return await fetch(...args);
      } finally {
        inFlight--;
      }
    };
    const { client, writer, seen, renderFeed } = proxiedClients(proxy, hospitalId, { fetch: counted });
    try {
      renderFeed();
      await waitFor(() => expect(screen.getByTestId('subscribed').textContent).toBe('true'));
      await waitFor(() => expect(screen.getByTestId('active').textContent).toBe(''));

      await act(async () => proxy.shut());
      await waitFor(() => expect(screen.getByTestId('mode').textContent).toBe('polling'));
      // The next socket opens, but the server gets the subscription only on release().
      proxy.hold = true;
      await act(async () => proxy.open());
      await waitFor(() => expect(screen.getByTestId('mode').textContent).toBe('live'));
      await waitFor(() => expect(inFlight).toBe(0));
      // Raised while the socket is up and the subscription is not yet registered: no event will
      // bring it, and no poll runs while live.
      await writer.trpc.healthcare.createAlert.mutate({ hospitalId, roomNumber: 'G-1', alertType: 'fire', urgencyLevel: 2 });
      proxy.release();
      await waitFor(() => expect(screen.getByTestId('subscribed').textContent).toBe('true'));
      await waitFor(() => expect(screen.getByTestId('active').textContent).toBe('G-1'), 5000);
      expect(seen).toEqual([]);
    } finally {
      cleanup();
      client.close();
      writer.close();
      await proxy.shut();
    }
  });

  it('metrics, presence and the mutation hooks', async () => {
    const hospitalId = newHospital('hooks2');
    const token = mintToken({ hospitals: [hospitalId], name: 'Dr Hook', sub: 'u-hook' });
    const client: VigilClient = createVigilClient({ url: vigil.httpUrl, token, WebSocket });
    const created = await client.trpc.healthcare.createAlert.mutate({
      hospitalId, roomNumber: 'M-1', alertType: 'fire', urgencyLevel: 2,
    });
    const alertId = created.alert.id;
    let actions: { ack(): Promise<unknown>; escalate(): Promise<unknown>; resolve(): Promise<unknown> } | undefined;
    function Panel() {
      const { metrics } = useMetricsSubscription({ hospitalId });
      const { presence } = usePresence({ hospitalId });
      const ack = useAcknowledgeAlert();
      const esc = useEscalateAlert();
      const res = useResolveAlert();
      const single = useAlertSubscription({ hospitalId, alertId, confirmDelivery: false });
      actions = {
        ack: () => ack.mutateAsync({ alertId }),
        escalate: () => esc.mutateAsync({ alertId, reason: 'No answer' }),
        resolve: () => res.mutateAsync({ alertId, resolution: 'Fire is out now' }),
      };
      return (
        <div>
          <span data-testid="active">{metrics ? metrics.activeAlerts : '-'}</span>
          <span data-testid="online">{presence ? presence.online.map((u) => u.name).join(',') : '-'}</span>
          <span data-testid="types">{single.events.map((e) => e.type).join(',')}</span>
          <span data-testid="subscribed">{String(single.isSubscribed)}</span>
        </div>
      );
    }
    try {
      render(
        <VigilProvider client={client}>
          <Panel />
        </VigilProvider>,
      );
      await waitFor(() => expect(screen.getByTestId('active').textContent).toBe('1'));
      await waitFor(() => expect(screen.getByTestId('online').textContent).toBe('Dr Hook'));
      await waitFor(() => expect(screen.getByTestId('subscribed').textContent).toBe('true'));
      await act(async () => {
        await actions!.escalate();
        await actions!.ack();
        await actions!.resolve();
      });
      await waitFor(() =>
        expect(screen.getByTestId('types').textContent).toBe('alert.escalated,alert.acknowledged,alert.resolved'),
      );
      await waitFor(() => expect(screen.getByTestId('active').textContent).toBe('0'));
    } finally {
      cleanup();
      client.close();
    }
  });

  it('rendered events are confirmed once each (delivery receipts)', async () => {
    const hospitalId = newHospital('hooks3');
    const sub = 'u-nurse-hooks';
    const client = createVigilClient({
      url: vigil.httpUrl, token: mintToken({ hospitals: [hospitalId], role: 'nurse', sub }), WebSocket,
    });
    const writer = createVigilClient({ url: vigil.httpUrl, token: mintToken({ hospitals: [hospitalId] }), WebSocket });
    const seen: AlertEvent[] = [];
    try {
      render(
        <VigilProvider client={client}>
          <Feed hospitalId={hospitalId} seen={seen} confirm />
        </VigilProvider>,
      );
      await waitFor(() => expect(screen.getByTestId('subscribed').textContent).toBe('true'));
      const { alert } = await writer.trpc.healthcare.createAlert.mutate({
        hospitalId, roomNumber: 'C-1', alertType: 'code_blue', urgencyLevel: 1,
      });
      let got: Awaited<ReturnType<typeof writer.trpc.healthcare.getAlert.query>> | undefined;
      await waitFor(async () => {
        got = await writer.trpc.healthcare.getAlert.query({ alertId: alert.id });
        expect(got.receipts.map((r) => [r.userId, r.role])).toEqual([[sub, 'nurse']]);
      });
      expect(got!.receipts[0]!.eventId).toBe(seen[0]!.id);
      expect(got!.seenBy).toEqual({ nurse: 1 });
      expect(got!.attendedTier).toBe(1);
      // The seenBy update is rendered too; confirming it again adds nothing.
      await waitFor(() => expect(seen.some((e) => e.type === 'alert.updated')).toBe(true));
      await new Promise((r) => setTimeout(r, 600));
      const again = await writer.trpc.healthcare.getAlert.query({ alertId: alert.id });
      expect(again.receipts).toEqual(got!.receipts);
      expect(seen.filter((e) => e.type === 'alert.updated')).toHaveLength(1);
    } finally {
      cleanup();
      client.close();
      writer.close();
    }
  });
});
