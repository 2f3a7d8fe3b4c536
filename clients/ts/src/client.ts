/// createVigilClient: a tRPC 11 client for vigild. Queries and mutations go over httpBatchLink,
/// subscriptions over one WebSocket (wsLink) whose connectionParams carry the bearer token.
/// Managed streams (`subscribeToAlerts` & co.) add what the plain client lacks: the resume point
/// is kept across connections and rebuilt clients, duplicates are dropped, a resync is reported,
/// and while the WebSocket cannot connect the client polls HTTP every 5 s instead.
import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  splitLink,
  TRPCClientError,
  wsLink,
  type TRPCClient,
  type TRPCLink,
} from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import superjson from 'superjson';

import { ConnectionMachine, ResumeTracker, realClock, type Clock } from './machine.js';
import { DeliveryConfirmer } from './receipts.js';
import type { AppRouter, AppRouterJson } from './router.js';
import {
  isResyncEvent,
  type ActiveAlertsOutput,
  type AlertEvent,
  type AlertWithEscalations,
  type Inputs,
  type JsonOutputs,
  type Metrics,
  type Presence,
  type StreamMode,
} from './types.js';

export type TransformerName = 'superjson' | 'json';

/// One server: its tRPC HTTP base and its WebSocket URL.
export interface VigilEndpoint {
  /// e.g. `http://host:3001/api/trpc`
  http: string;
  /// e.g. `ws://host:3001/api/trpc`
  ws: string;
}

export type TokenValue = string | null | undefined;

/// The WebSocket constructor to use (`ws` in Node; the global one in browsers).
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

export interface VigilClientOptions<TTransformer extends TransformerName = TransformerName> {
  /// The server: `http(s)://host:port`, `ws(s)://host:port` (with or without `/api/trpc`), a path
  /// such as `/api/trpc` (browser: resolved against the page), or an explicit endpoint.
  url?: string | VigilEndpoint;
  /// Servers tried in turn (the nodes of a cluster): after a failed WebSocket attempt or a
  /// dropped connection the next one is used (HTTP too), and managed streams resume there with
  /// `lastEventId`. Reconnect delays (`retryDelayMs`) apply between attempts.
  urls?: ReadonlyArray<string | VigilEndpoint>;
  /// A fixed token.
  token?: string;
  /// Called for every new connection and HTTP request, and again after close 4001/4003 or an
  /// `UNAUTHORIZED` error (cache inside it if minting is expensive).
  getToken?: () => TokenValue | Promise<TokenValue>;
  /// `superjson` (default, timestamps are `Date`) or `json` (timestamps are ISO strings).
  transformer?: TTransformer;
  /// WebSocket implementation; default `globalThis.WebSocket` (Node 20: pass `ws`).
  WebSocket?: WebSocketConstructor | unknown;
  /// fetch implementation; default `globalThis.fetch`.
  fetch?: typeof fetch;
  /// HTTP polling period while the WebSocket cannot connect (default 5000 ms).
  pollIntervalMs?: number;
  /// Time a (re)connection may take before polling starts anyway (default 4000 ms).
  connectTimeoutMs?: number;
  /// Delay before reconnect attempt n (default 0, 500, 1000, 2000, then 4000 ms).
  retryDelayMs?: (attempt: number) => number;
  /// A WebSocket attempt not open after this long is given up (closed) and counts as failed, so
  /// the next attempt (the next server with `urls`) follows (default 10000 ms). Without it, a
  /// handshake nobody answers (a node whose host is gone, a stalled proxy) holds the client in
  /// polling until the WebSocket implementation gives up, minutes later or never.
  handshakeTimeoutMs?: number;
  /// Timers for the polling machine (tests).
  clock?: Clock;
  /// Called on every change of the connection mode.
  onModeChange?: (mode: StreamMode) => void;
}

/// Item types of each transformer.
export interface Shapes {
  superjson: {
    router: AppRouter;
    event: AlertEvent;
    metrics: Metrics;
    presence: Presence;
    activeAlerts: ActiveAlertsOutput;
    alert: AlertWithEscalations;
  };
  json: {
    router: AppRouterJson;
    event: JsonOutputs['alertEvent'];
    metrics: JsonOutputs['metrics'];
    presence: JsonOutputs['presence'];
    activeAlerts: JsonOutputs['getActiveAlerts'];
    alert: JsonOutputs['alertWithEscalations'];
  };
}

export interface StreamHandlers<TItem, TSnapshot = never> {
  /// `started` arrived (after every (re)subscription).
  onStarted?: () => void;
  /// One item: an alert event (duplicates dropped), or a metrics/presence item. While polling,
  /// metrics streams get their items from `getMetrics` here too.
  onData?: (item: TItem) => void;
  /// A resync event arrived (also passed to onData): refetch lists.
  onResync?: (event: TItem) => void;
  /// While polling: a fresh snapshot (`getActiveAlerts` for a hospital, `getAlert` for one alert).
  onPoll?: (snapshot: TSnapshot) => void;
  /// A failed poll (the stream goes on).
  onPollError?: (error: unknown) => void;
  /// A call error that ends the stream (FORBIDDEN, NOT_FOUND, BAD_REQUEST, ...).
  onError?: (error: TRPCClientError<AnyRouter>) => void;
}

/// A managed stream; `unsubscribe()` stops it.
export interface VigilSubscription {
  unsubscribe(): void;
  /// The id of the last event delivered (the resume point), for alert streams.
  readonly lastEventId: string | undefined;
}

export interface VigilClient<TTransformer extends TransformerName = 'superjson'> {
  /// The typed tRPC client: `client.trpc.healthcare.getMetrics.query({hospitalId})`. Its
  /// subscriptions use the shared WebSocket but are not managed (no polling, not rebuilt).
  readonly trpc: TRPCClient<Shapes[TTransformer]['router']>;
  readonly transformer: TTransformer;
  /// The current connection mode.
  readonly mode: StreamMode;
  /// Listens to mode changes; returns the function that stops listening.
  onModeChange(listener: (mode: StreamMode) => void): () => void;
  subscribeToAlerts(
    input: Inputs['subscribeToAlerts'],
    handlers: StreamHandlers<Shapes[TTransformer]['event'], Shapes[TTransformer]['activeAlerts']>,
  ): VigilSubscription;
  subscribeToAlert(
    input: Inputs['subscribeToAlert'],
    handlers: StreamHandlers<Shapes[TTransformer]['event'], Shapes[TTransformer]['alert']>,
  ): VigilSubscription;
  subscribeToMetrics(
    input: Inputs['subscribeToMetrics'],
    handlers: StreamHandlers<Shapes[TTransformer]['metrics']>,
  ): VigilSubscription;
  subscribeToPresence(
    input: Inputs['subscribeToPresence'],
    handlers: StreamHandlers<Shapes[TTransformer]['presence']>,
  ): VigilSubscription;
  /// Delivery receipt: the alert event `eventId` of `hospitalId` was shown to the person using
  /// this client. Batched, deduplicated and bounded (see `DeliveryConfirmer`); the React hooks call
  /// it for every event they rendered.
  confirmDelivery(hospitalId: string, eventId: string): void;
  /// Drops the WebSocket and connects again with a fresh token; managed streams resume.
  reconnect(): void;
  /// Closes the WebSocket and stops every stream and timer.
  close(): void;
}

/// Turns a URL into an endpoint: `/api/trpc` is appended unless present; http ↔ ws schemes.
export function toEndpoint(url: string | VigilEndpoint): VigilEndpoint {
  if (typeof url !== 'string') return url;
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  const u = new URL(url, base);
  let path = u.pathname.replace(/\/+$/, '');
  if (!path.endsWith('/api/trpc')) path += '/api/trpc';
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  const host = u.host;
  return {
    http: `${secure ? 'https' : 'http'}://${host}${path}`,
    ws: `${secure ? 'wss' : 'ws'}://${host}${path}`,
  };
}

/// The WebSocket class with a bound on the opening handshake: an instance still CONNECTING after
/// `ms` is closed, which fails the attempt (`error`, then `close`) as a refused one would, so
/// @trpc/client's reconnect loop makes the next attempt.
function withHandshakeTimeout(Base: typeof WebSocket, ms: number, clock: Clock): typeof WebSocket {
  const CONNECTING = 0;
  function Timed(url: string | URL, protocols?: string | string[]) {
    const ws = new Base(url, protocols);
    const timer = clock.setTimeout(() => {
      if (ws.readyState === CONNECTING) ws.close();
    }, ms);
    const done = () => clock.clearTimeout(timer);
    ws.addEventListener('open', done);
    ws.addEventListener('close', done);
    return ws;
  }
  // @trpc/client reads the readyState constants from the class.
  Object.assign(Timed, { CONNECTING, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  return Timed as unknown as typeof WebSocket;
}

const defaultRetryDelay = (attempt: number) => (attempt === 0 ? 0 : Math.min(500 * 2 ** (attempt - 1), 4000));

type StreamKind = 'alerts' | 'alert' | 'metrics' | 'presence';
const PATHS: Record<StreamKind, 'subscribeToAlerts' | 'subscribeToAlert' | 'subscribeToMetrics' | 'subscribeToPresence'> = {
  alerts: 'subscribeToAlerts',
  alert: 'subscribeToAlert',
  metrics: 'subscribeToMetrics',
  presence: 'subscribeToPresence',
};

/// Creates a client. With `transformer: 'json'` timestamps are ISO strings and the types follow.
export function createVigilClient(opts: VigilClientOptions<'superjson'>): VigilClient<'superjson'>;
export function createVigilClient(opts: VigilClientOptions<'json'> & { transformer: 'json' }): VigilClient<'json'>;
export function createVigilClient(opts: VigilClientOptions): VigilClient<TransformerName> {
  return new ClientImpl(opts) as unknown as VigilClient<TransformerName>;
}

interface ManagedStream {
  start(): void;
  poll(): void;
  halt(): void;
}

/// Untyped view used inside: the typed surface is VigilClient's.
type AnyProc = {
  subscribe(input: unknown, opts: Record<string, unknown>): { unsubscribe(): void };
  query(input: unknown): Promise<unknown>;
};
type AnyHealthcare = Record<string, AnyProc>;

class ClientImpl {
  readonly transformer: TransformerName;
  readonly trpc: TRPCClient<AnyRouter>;
  private readonly endpoints: VigilEndpoint[];
  private index = 0;
  private readonly machine: ConnectionMachine;
  private readonly listeners = new Set<(mode: StreamMode) => void>();
  private readonly streams = new Set<ManagedStream>();
  private wsClient: ReturnType<typeof createWSClient> | undefined;
  private wsTrpc: TRPCClient<AnyRouter> | undefined;
  private readonly httpTrpc: TRPCClient<AnyRouter>;
  private cachedToken: Promise<TokenValue> | undefined;
  private closed = false;
  private renewing: unknown = undefined;
  private readonly receipts = new DeliveryConfirmer((hospitalId, eventIds) =>
    (this.trpc as unknown as {
      healthcare: { confirmDelivery: { mutate(i: unknown): Promise<unknown> } };
    }).healthcare.confirmDelivery.mutate({ hospitalId, eventIds }),
  );

  constructor(private readonly opts: VigilClientOptions) {
    const list = opts.urls ?? (opts.url !== undefined ? [opts.url] : []);
    if (list.length === 0) throw new Error('createVigilClient: pass url or urls');
    this.endpoints = list.map(toEndpoint);
    this.transformer = opts.transformer ?? 'superjson';
    this.machine = new ConnectionMachine({
      pollIntervalMs: opts.pollIntervalMs,
      connectTimeoutMs: opts.connectTimeoutMs,
      clock: opts.clock,
      startNow: false,
      onModeChange: (mode) => {
        opts.onModeChange?.(mode);
        for (const l of this.listeners) l(mode);
      },
      onPoll: () => {
        for (const s of this.streams) s.poll();
      },
    });
    this.httpTrpc = createTRPCClient<AnyRouter>({ links: [this.httpLink()] });
    const wsForward: TRPCLink<AnyRouter> = (runtime) => (ctx) => this.wsLinkNow()(runtime)(ctx);
    this.trpc = createTRPCClient<AnyRouter>({
      links: [splitLink({ condition: (op) => op.type === 'subscription', true: wsForward, false: this.httpLink() })],
    });
  }

  get mode(): StreamMode {
    return this.machine.mode;
  }

  onModeChange(listener: (mode: StreamMode) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  subscribeToAlerts(input: Inputs['subscribeToAlerts'], handlers: StreamHandlers<unknown, unknown>) {
    return this.stream('alerts', input, handlers);
  }
  subscribeToAlert(input: Inputs['subscribeToAlert'], handlers: StreamHandlers<unknown, unknown>) {
    return this.stream('alert', input, handlers);
  }
  subscribeToMetrics(input: Inputs['subscribeToMetrics'], handlers: StreamHandlers<unknown, unknown>) {
    return this.stream('metrics', input, handlers);
  }
  subscribeToPresence(input: Inputs['subscribeToPresence'], handlers: StreamHandlers<unknown, unknown>) {
    return this.stream('presence', input, handlers);
  }

  confirmDelivery(hospitalId: string, eventId: string): void {
    if (!this.closed) this.receipts.confirm(hospitalId, eventId);
  }

  reconnect(): void {
    if (this.closed) return;
    this.cachedToken = undefined;
    const old = this.wsClient;
    this.wsClient = undefined;
    this.wsTrpc = undefined;
    for (const s of this.streams) s.halt();
    void old?.close();
    if (this.streams.size > 0) {
      this.ensureWs();
      for (const s of this.streams) s.start();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.receipts.close();
    for (const s of this.streams) s.halt();
    this.streams.clear();
    this.machine.dispose();
    if (this.renewing !== undefined) (this.opts.clock ?? globalThis).clearTimeout(this.renewing as never);
    void this.wsClient?.close();
    this.wsClient = undefined;
    this.listeners.clear();
  }

  // ------------------------------------------------------------------------------------------

  private get endpoint(): VigilEndpoint {
    return this.endpoints[this.index % this.endpoints.length]!;
  }

  private token(): Promise<TokenValue> {
    if (!this.cachedToken) {
      const get = this.opts.getToken;
      this.cachedToken = Promise.resolve(get ? get() : this.opts.token).catch(() => undefined);
      // getToken decides caching: ask it again for the next connection or request.
      if (get) {
        const p = this.cachedToken;
        void p.finally(() => {
          if (this.cachedToken === p) this.cachedToken = undefined;
        });
      }
    }
    return this.cachedToken;
  }

  private transformerOption(): { transformer?: typeof superjson } {
    return this.transformer === 'superjson' ? { transformer: superjson } : {};
  }

  /// httpBatchLink of the current endpoint (one link per endpoint, chosen per operation).
  private httpLink(): TRPCLink<AnyRouter> {
    const links = this.endpoints.map((e) =>
      httpBatchLink({
        url: e.http,
        fetch: this.opts.fetch as never,
        headers: async () => {
          const t = await this.token();
          return t ? { authorization: `Bearer ${t}` } : {};
        },
        ...(this.transformerOption() as Record<string, never>),
      }),
    );
    return (runtime) => {
      const bound = links.map((l) => l(runtime));
      return (ctx) => bound[this.index % bound.length]!(ctx);
    };
  }

  private ensureWs(): ReturnType<typeof createWSClient> {
    if (this.wsClient) return this.wsClient;
    const ws = createWSClient({
      url: () => this.endpoint.ws,
      WebSocket: withHandshakeTimeout(
        (this.opts.WebSocket ?? globalThis.WebSocket) as typeof WebSocket,
        this.opts.handshakeTimeoutMs ?? 10000,
        this.opts.clock ?? realClock,
      ),
      connectionParams: async () => {
        const t = await this.token();
        return t ? { authorization: `Bearer ${t}` } : {};
      },
      retryDelayMs: this.opts.retryDelayMs ?? defaultRetryDelay,
      onOpen: () => {
        if (this.wsClient === ws) this.machine.opened();
      },
      onClose: (cause) => {
        if (this.wsClient !== ws) return;
        const { refreshToken } = this.machine.closed(cause?.code);
        if (refreshToken) this.cachedToken = undefined;
        // With several servers (the nodes of a cluster), a failed attempt and a dropped live
        // connection both move on to the next one (HTTP too); the streams resume there with
        // their lastEventId. A close that only asks for a fresh token stays on the server.
        else if (this.endpoints.length > 1) this.index = (this.index + 1) % this.endpoints.length;
      },
    });
    this.wsClient = ws;
    this.machine.begin();
    this.wsTrpc = createTRPCClient<AnyRouter>({
      links: [wsLink({ client: ws, ...(this.transformerOption() as Record<string, never>) })],
    });
    return ws;
  }

  private wsLinkNow(): TRPCLink<AnyRouter> {
    return wsLink({ client: this.ensureWs(), ...(this.transformerOption() as Record<string, never>) });
  }

  /// After UNAUTHORIZED: a new connection with a fresh token, at most once a second.
  private renewSoon(): void {
    if (this.renewing !== undefined || this.closed) return;
    const clock = this.opts.clock ?? { setTimeout: (f: () => void, ms: number) => globalThis.setTimeout(f, ms) };
    this.renewing = clock.setTimeout(() => {
      this.renewing = undefined;
      this.reconnect();
    }, 1000);
  }

  private stream(kind: StreamKind, input: Record<string, unknown>, handlers: StreamHandlers<unknown, unknown>): VigilSubscription {
    if (this.closed) throw new Error('VigilClient is closed');
    const tracked = kind === 'alerts' || kind === 'alert';
    const tracker = new ResumeTracker((input as { lastEventId?: string | null }).lastEventId);
    let sub: { unsubscribe(): void } | undefined;
    let generation = 0;
    const self = this;
    const managed: ManagedStream = {
      start() {
        const gen = ++generation;
        self.ensureWs();
        const hc = (self.wsTrpc as unknown as { healthcare: AnyHealthcare }).healthcare;
        const args: Record<string, unknown> = { ...input };
        if (tracked) {
          if (tracker.lastEventId !== undefined) args.lastEventId = tracker.lastEventId;
          else delete args.lastEventId;
        }
        sub = hc[PATHS[kind]]!.subscribe(args, {
          onStarted: () => {
            if (gen === generation) handlers.onStarted?.();
          },
          onData: (item: unknown) => {
            if (gen !== generation) return;
            if (tracked) {
              const ev = item as AlertEvent;
              const resync = isResyncEvent(ev);
              if (!tracker.accept(ev.id, resync)) return;
              if (resync) handlers.onResync?.(item);
            }
            handlers.onData?.(item);
          },
          onError: (err: unknown) => {
            if (gen !== generation) return;
            const e = err instanceof TRPCClientError ? err : TRPCClientError.from(err as Error);
            if ((e.data as { code?: string } | undefined)?.code === 'UNAUTHORIZED') {
              self.cachedToken = undefined;
              self.renewSoon();
              return;
            }
            self.streams.delete(managed);
            handlers.onError?.(e as TRPCClientError<AnyRouter>);
          },
        });
      },
      poll() {
        const hc = (self.httpTrpc as unknown as { healthcare: AnyHealthcare }).healthcare;
        let call: Promise<unknown> | undefined;
        if (kind === 'alerts') call = hc.getActiveAlerts!.query({ hospitalId: input.hospitalId });
        else if (kind === 'alert') call = hc.getAlert!.query({ alertId: input.alertId });
        else if (kind === 'metrics') call = hc.getMetrics!.query({ hospitalId: input.hospitalId });
        if (!call) return;
        call.then(
          (v) => {
            if (!self.streams.has(managed) || self.machine.mode === 'live') return;
            if (kind === 'metrics') handlers.onData?.(v);
            else handlers.onPoll?.(v);
          },
          (err) => handlers.onPollError?.(err),
        );
      },
      halt() {
        generation++;
        const s = sub;
        sub = undefined;
        s?.unsubscribe();
      },
    };
    this.streams.add(managed);
    managed.start();
    if (this.machine.mode === 'polling') managed.poll();
    return {
      unsubscribe: () => {
        this.streams.delete(managed);
        managed.halt();
      },
      get lastEventId() {
        return tracker.lastEventId;
      },
    };
  }
}
