/// React bindings on TanStack Query v5: a provider, subscription hooks that keep queries fresh
/// (invalidate on events, refetch everything on resync, HTTP polling data while the WebSocket is
/// down), query hooks and mutation hooks. The hooks assume the default (superjson) client.
import {
  QueryClient,
  QueryClientProvider,
  useMutation,
  useQuery,
  useQueryClient,
  type Query,
  type UseMutationResult,
  type UseQueryResult,
} from '@tanstack/react-query';
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';

import type { VigilClient } from './client.js';
import {
  isResyncEvent,
  isSeenByUpdate,
  type ActiveAlertsOutput,
  type AlertEvent,
  type AlertFilter,
  type Inputs,
  type Metrics,
  type Outputs,
  type Presence,
  type StreamMode,
} from './types.js';

const VigilContext = createContext<VigilClient<'superjson'> | null>(null);

export interface VigilProviderProps {
  client: VigilClient<'superjson'>;
  /// Defaults to a QueryClient made once for this provider.
  queryClient?: QueryClient;
  children?: ReactNode;
}

/// Provides the vigil client and a TanStack QueryClient to the hooks below.
export function VigilProvider({ client, queryClient, children }: VigilProviderProps) {
  const [own] = useState(() => queryClient ?? new QueryClient());
  return (
    <QueryClientProvider client={queryClient ?? own}>
      <VigilContext.Provider value={client}>{children}</VigilContext.Provider>
    </QueryClientProvider>
  );
}

/// The client given to VigilProvider.
export function useVigilClient(): VigilClient<'superjson'> {
  const c = useContext(VigilContext);
  if (!c) throw new Error('useVigilClient: wrap the tree in <VigilProvider client={...}>');
  return c;
}

/// Query keys: `['vigil', procedure, input]`.
export const vigilKeys = {
  all: ['vigil'] as const,
  procedure: <P extends keyof Outputs>(p: P, input: unknown) => ['vigil', p, input] as const,
};

/// True for vigil queries about this hospital or alert.
export function concerns(query: Query, hospitalId: string | undefined, alertId: string | undefined): boolean {
  const k = query.queryKey;
  if (k[0] !== 'vigil') return false;
  const input = (k[2] ?? {}) as { hospitalId?: string; alertId?: string };
  if (hospitalId !== undefined && input.hospitalId === hospitalId) return true;
  if (input.alertId !== undefined && (alertId === undefined || input.alertId === alertId)) return true;
  return false;
}

/// The vigil queries an event makes stale: those of its hospital (or subscribed alert), except that a
/// seenBy update refreshes only its own alert's queries. Receipts arrive from every board that shows
/// an alert; refetching every list of the hospital on every board for each of them made the boards
/// busy exactly when staff act on a new alert.
export function staleAfter(ev: AlertEvent, query: Query, hospitalId: string | undefined, alertId: string | undefined): boolean {
  if (isSeenByUpdate(ev)) return concerns(query, undefined, ev.alertId);
  return concerns(query, hospitalId, alertId);
}

/// The client's connection mode, re-rendered on change.
export function useConnectionMode(): StreamMode {
  const client = useVigilClient();
  const [mode, setMode] = useState<StreamMode>(client.mode);
  useEffect(() => {
    setMode(client.mode);
    return client.onModeChange(setMode);
  }, [client]);
  return mode;
}

export interface UseAlertSubscriptionOptions {
  hospitalId: string;
  /// Follow one alert (subscribeToAlert) instead of the whole hospital.
  alertId?: string;
  filter?: AlertFilter;
  /// Every new event (duplicates from a resume are never passed), resync events included.
  onEvent?: (event: AlertEvent) => void;
  /// A resync arrived: lists were refetched.
  onResync?: (event: AlertEvent) => void;
  /// Start from this event id (resume).
  lastEventId?: string;
  /// Keep at most this many events in `events` (default 100, newest last).
  maxEvents?: number;
  enabled?: boolean;
  /// Confirm delivery (confirmDelivery) of every event once it has been rendered (default true).
  /// Turn it off for screens nobody looks at (a wall display that is off, a background tab).
  confirmDelivery?: boolean;
}

export interface AlertSubscriptionState {
  events: AlertEvent[];
  isConnected: boolean;
  mode: StreamMode;
  lastEventId: string | undefined;
  /// The server acknowledged the current subscription (`started`); false again while it resubscribes.
  isSubscribed: boolean;
}

/// Subscribes to a hospital's (or one alert's) events. Each event invalidates the vigil queries of
/// that hospital/alert; a resync and each (re)subscription (`started`) refetch them; while
/// polling, each poll refreshes `useActiveAlerts` data. The stream resumes from the last delivered
/// id after any reconnect.
export function useAlertSubscription(opts: UseAlertSubscriptionOptions): AlertSubscriptionState {
  const client = useVigilClient();
  const queryClient = useQueryClient();
  const mode = useConnectionMode();
  const [events, setEvents] = useState<AlertEvent[]>([]);
  const [lastEventId, setLastEventId] = useState<string | undefined>(opts.lastEventId);
  const [isSubscribed, setSubscribed] = useState(false);
  const latest = useRef(opts);
  latest.current = opts;
  const { hospitalId, alertId, enabled = true } = opts;
  const filterKey = JSON.stringify(opts.filter ?? null);

  useEffect(() => {
    if (!enabled) return;
    const max = latest.current.maxEvents ?? 100;
    const matches = (q: Query) => concerns(q, hospitalId, alertId);
    const handlers = {
      // Each (re)subscription refreshes the lists once the server has registered it: from then
      // on events reach this stream, and anything before is in the refetch. (Refreshing when the
      // socket opened left a window for a stream without a resume point: an alert raised between
      // socket-up and the subscription came neither as an event nor in the refetch.)
      onStarted: () => {
        setSubscribed(true);
        void queryClient.invalidateQueries({ predicate: matches });
      },
      onData: (ev: AlertEvent) => {
        setLastEventId(ev.id);
        setEvents((prev) => [...prev, ev].slice(-max));
        if (!isResyncEvent(ev)) void queryClient.invalidateQueries({ predicate: (q) => staleAfter(ev, q, hospitalId, alertId) });
        latest.current.onEvent?.(ev);
      },
      onResync: (ev: AlertEvent) => {
        void queryClient.refetchQueries({ predicate: matches });
        latest.current.onResync?.(ev);
      },
      onPoll: () => {
        void queryClient.invalidateQueries({ predicate: matches });
      },
    };
    const filter = JSON.parse(filterKey) as AlertFilter | null;
    const start = latest.current.lastEventId;
    const sub = alertId
      ? client.subscribeToAlert({ alertId, lastEventId: start }, handlers)
      : client.subscribeToAlerts({ hospitalId, lastEventId: start, ...(filter ? { filter } : {}) }, handlers);
    return () => {
      sub.unsubscribe();
      setSubscribed(false);
    };
  }, [client, queryClient, hospitalId, alertId, filterKey, enabled]);

  useEffect(() => {
    if (mode !== 'live') setSubscribed(false);
  }, [mode]);

  // Delivery receipts: after a render that showed new events (effects run after the commit), one
  // batched, deduplicated confirmDelivery. Resync events are not alert events.
  const confirm = opts.confirmDelivery ?? true;
  useEffect(() => {
    if (!confirm || !enabled) return;
    for (const ev of events) if (!isResyncEvent(ev)) client.confirmDelivery(hospitalId, ev.id);
  }, [events, confirm, enabled, client, hospitalId]);

  return { events, isConnected: mode === 'live', mode, lastEventId, isSubscribed };
}

export interface StreamState<T> {
  data: T | undefined;
  isConnected: boolean;
  mode: StreamMode;
}

/// Live metrics of a hospital; while polling, `getMetrics` every 5 s.
export function useMetricsSubscription(opts: {
  hospitalId: string;
  interval?: number;
  onData?: (m: Metrics) => void;
  enabled?: boolean;
}): StreamState<Metrics> & { metrics: Metrics | undefined } {
  const client = useVigilClient();
  const mode = useConnectionMode();
  const [data, setData] = useState<Metrics | undefined>(undefined);
  const latest = useRef(opts);
  latest.current = opts;
  const { hospitalId, interval, enabled = true } = opts;
  useEffect(() => {
    if (!enabled) return;
    const sub = client.subscribeToMetrics(
      { hospitalId, ...(interval !== undefined ? { interval } : {}) },
      {
        onData: (m) => {
          setData(m);
          latest.current.onData?.(m);
        },
      },
    );
    return () => sub.unsubscribe();
  }, [client, hospitalId, interval, enabled]);
  return { data, metrics: data, isConnected: mode === 'live', mode };
}

/// Who is online for a hospital (WebSocket only: keeps the last item while polling).
export function usePresence(opts: { hospitalId: string; enabled?: boolean }): StreamState<Presence> & {
  presence: Presence | undefined;
} {
  const client = useVigilClient();
  const mode = useConnectionMode();
  const [data, setData] = useState<Presence | undefined>(undefined);
  const { hospitalId, enabled = true } = opts;
  useEffect(() => {
    if (!enabled) return;
    const sub = client.subscribeToPresence({ hospitalId }, { onData: setData });
    return () => sub.unsubscribe();
  }, [client, hospitalId, enabled]);
  return { data, presence: data, isConnected: mode === 'live', mode };
}

/// A vigil query as a TanStack query (key `['vigil', procedure, input]`).
export function useVigilQuery<P extends Exclude<keyof Outputs, `batch${string}` | 'createAlert' | 'acknowledgeAlert' | 'resolveAlert' | 'triggerEscalation' | 'updateAlert' | 'transferAlert'>>(
  procedure: P,
  input: P extends keyof Inputs ? Inputs[P] : never,
  options: { enabled?: boolean; refetchInterval?: number | false } = {},
): UseQueryResult<Outputs[P]> {
  const client = useVigilClient();
  return useQuery<Outputs[P]>({
    queryKey: vigilKeys.procedure(procedure, input),
    queryFn: () =>
      (client.trpc.healthcare[procedure] as unknown as { query(i: unknown): Promise<Outputs[P]> }).query(input),
    ...options,
  }) as UseQueryResult<Outputs[P]>;
}

/// The active alerts of a hospital, kept fresh by its event stream (invalidated on each event,
/// refetched on resync, refetched every poll while the WebSocket is down).
export function useActiveAlerts(
  input: Inputs['getActiveAlerts'],
  options: { enabled?: boolean; live?: boolean; confirmDelivery?: boolean } = {},
): UseQueryResult<ActiveAlertsOutput> & { mode: StreamMode } {
  const { live = true, enabled = true, confirmDelivery = true } = options;
  const sub = useAlertSubscription({
    hospitalId: input.hospitalId, enabled: enabled && live, maxEvents: 1, confirmDelivery,
  });
  const q = useVigilQuery('getActiveAlerts', input, { enabled });
  return Object.assign(q, { mode: sub.mode });
}

function useVigilMutation<P extends 'acknowledgeAlert' | 'resolveAlert' | 'triggerEscalation' | 'createAlert' | 'updateAlert' | 'transferAlert'>(
  procedure: P,
): UseMutationResult<Outputs[P], Error, Inputs[P]> {
  const client = useVigilClient();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: Inputs[P]) =>
      (client.trpc.healthcare[procedure] as unknown as { mutate(i: unknown): Promise<Outputs[P]> }).mutate(input),
    onSuccess: (out) => {
      const alert = (out as { alert?: { hospitalId: string; id: string } }).alert;
      void queryClient.invalidateQueries({ predicate: (q) => concerns(q, alert?.hospitalId, alert?.id) });
    },
  });
}

export const useAcknowledgeAlert = () => useVigilMutation('acknowledgeAlert');
export const useResolveAlert = () => useVigilMutation('resolveAlert');
export const useEscalateAlert = () => useVigilMutation('triggerEscalation');
export const useCreateAlert = () => useVigilMutation('createAlert');
export const useUpdateAlert = () => useVigilMutation('updateAlert');
export const useTransferAlert = () => useVigilMutation('transferAlert');
