/// The signed-in dashboard: one @vigil/client per session, its React hooks for the data, and the
/// board, figures, presence and operator view on top.
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import {
  VigilProvider,
  createVigilClient,
  useAcknowledgeAlert,
  useAlertSubscription,
  useConnectionMode,
  useCreateAlert,
  useEscalateAlert,
  useMetricsSubscription,
  usePresence,
  useResolveAlert,
  useVigilClient,
  useVigilQuery,
  vigilKeys,
  type Alert,
  type AlertEvent,
  type VigilClient,
} from '@vigil/client';

import { can, ROLE_LABEL, storedToken, type Session } from './auth';
import { Board, errorText, type BoardActions, type BoardAlert } from './Board';
import { ALERT_TYPE_LABEL, URGENCY_LABEL, clock } from './format';
import { OperatorView } from './OperatorView';
import { ConnectionBanner, MetricsPanel, PresencePanel, type BannerState, type MetricsItem } from './Panels';
import { beep, enableSound } from './sound';

/** HTTP polling period while the WebSocket is unavailable. */
export const POLL_MS = 2000;
/** Pages of 100 read per status: the board shows up to this many hundred open alerts of each. */
const MAX_PAGES = 10;
/** How long "refreshed after a gap" stays up after a resync. */
const RESYNC_NOTICE_MS = 30000;

interface Props {
  session: Session;
  onHospital: (hospital: string) => void;
  onSignOut: () => void;
}

export function Dashboard(props: Props) {
  const [client, setClient] = useState<VigilClient | null>(null);
  useEffect(() => {
    const c = createVigilClient({
      url: '/api/trpc',
      getToken: () => storedToken(),
      pollIntervalMs: POLL_MS,
      connectTimeoutMs: 3000,
    });
    setClient(c);
    return () => c.close();
  }, [props.session.token]);
  if (!client) return null;
  return (
    <VigilProvider client={client}>
      <Signed {...props} />
    </VigilProvider>
  );
}

const openAlertsKey = (hospitalId: string) => vigilKeys.procedure('getActiveAlerts', { hospitalId, status: 'open' });

/** Applies an event to the cached board at once; the refetch the client starts on every event
 *  then replaces it with the server's view (this only removes the wait for that round trip). */
export function applyEvent(list: Alert[] | undefined, ev: AlertEvent): Alert[] | undefined {
  if (!list) return list;
  const d = ev.data as Record<string, unknown>;
  if (ev.type === 'alert.created') {
    return list.some((a) => a.id === ev.alertId) ? list : [...list, ev.data as Alert];
  }
  if (ev.type === 'alert.resolved') return list.filter((a) => a.id !== ev.alertId);
  // A seenBy update (delivery receipts) changes nothing the board shows: keep the list as it is.
  if (ev.type === 'alert.updated' && d.seenBy !== undefined) return list;
  return list.map((a) => {
    if (a.id !== ev.alertId) return a;
    switch (ev.type) {
      case 'alert.acknowledged':
        return { ...a, status: 'acknowledged', acknowledgedBy: d.acknowledgedBy as string, acknowledgedAt: d.acknowledgedAt as Date,
          nextEscalationAt: null, urgencyLevel: (d.urgencyLevel as number) ?? a.urgencyLevel };
      case 'alert.escalated':
        return { ...a, currentEscalationTier: d.toTier as number, escalationLevel: d.toTier as number };
      case 'alert.updated':
        if (d.resync) return a;
        return { ...a, ...(typeof d.urgencyLevel === 'number' ? { urgencyLevel: d.urgencyLevel } : {}),
          ...(typeof d.description === 'string' ? { description: d.description } : {}),
          ...(typeof d.acknowledgedBy === 'string' ? { acknowledgedBy: d.acknowledgedBy } : {}) };
      default:
        return a;
    }
  });
}

/** Every unresolved alert of the hospital (active and acknowledged, paged through), kept under a
 *  vigil query key with the hospital id so the client's subscription refreshes it on each event,
 *  on resync and on every poll. */
function useOpenAlerts(hospitalId: string) {
  const client = useVigilClient();
  return useQuery({
    queryKey: openAlertsKey(hospitalId),
    queryFn: async () => {
      const all: Alert[] = [];
      for (const status of ['active', 'acknowledged'] as const) {
        let cursor: string | undefined;
        for (let page = 0; page < MAX_PAGES; page++) {
          const r = await client.trpc.healthcare.getActiveAlerts.query({
            hospitalId, status, sortBy: 'urgencyLevel', sortOrder: 'asc', limit: 100, ...(cursor ? { cursor } : {}),
          });
          all.push(...r.alerts);
          if (!r.pagination.hasMore || !r.pagination.nextCursor) break;
          cursor = r.pagination.nextCursor;
        }
      }
      return all;
    },
    placeholderData: (prev) => prev,
  });
}

function Signed({ session, onHospital, onSignOut }: Props) {
  const { claims, hospital } = session;
  const [view, setView] = useState<'board' | 'server'>(claims.role === 'operator' ? 'server' : 'board');
  const [sound, setSound] = useState(false);
  const soundRef = useRef(sound);
  soundRef.current = sound;

  // Connection state for the banner; a resync shows "refreshed after a gap" for a while.
  const mode = useConnectionMode();
  const [resyncAt, setResyncAt] = useState<Date | null>(null);
  const queryClient = useQueryClient();
  useAlertSubscription({
    hospitalId: hospital,
    maxEvents: 1,
    // Delivery receipts only while the alert board is what this screen shows.
    confirmDelivery: view === 'board',
    onResync: () => setResyncAt(new Date()),
    onEvent: (ev) => queryClient.setQueryData<Alert[]>(openAlertsKey(hospital), (old) => applyEvent(old, ev)),
  });
  useEffect(() => {
    if (!resyncAt) return;
    const t = setTimeout(() => setResyncAt(null), RESYNC_NOTICE_MS);
    return () => clearTimeout(t);
  }, [resyncAt]);
  const banner: BannerState = mode === 'live' && resyncAt ? 'resynced' : mode;
  const everLive = useRef(false);
  if (mode === 'live') everLive.current = true;

  const alerts = useOpenAlerts(hospital);

  // Figures: live metrics with a short history for the trend lines, presence.
  const [history, setHistory] = useState<MetricsItem[]>([]);
  useMetricsSubscription({ hospitalId: hospital, onData: (m) => setHistory((h) => [...h.slice(-29), m]) });
  const { presence } = usePresence({ hospitalId: hospital });

  const ack = useAcknowledgeAlert();
  const resolve = useResolveAlert();
  const escalate = useEscalateAlert();
  const actions: BoardActions = useMemo(() => ({
    acknowledge: (alertId) => ack.mutateAsync({ alertId }),
    resolve: (alertId, resolution) => resolve.mutateAsync({ alertId, resolution }),
    escalate: (alertId) => escalate.mutateAsync({ alertId, reason: 'Escalated from the ward dashboard' }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }), [ack.mutateAsync, resolve.mutateAsync, escalate.mutateAsync]);

  const renderTimeline = useCallback((alertId: string) => <Timeline alertId={alertId} />, []);
  const onUrgent = useCallback(() => { if (soundRef.current) beep(); }, []);

  // The tab title counts waiting alerts, so a background tab still shows that something waits.
  const waiting = alerts.data?.filter((a) => a.status === 'active').length ?? 0;
  useEffect(() => {
    document.title = `${waiting > 0 ? `(${waiting}) ` : ''}Vigil · ${hospital}`;
  }, [waiting, hospital]);

  return (
    <>
      <a className="skip-link" href="#content">Skip to content</a>
      <header className="top">
        <h1>Vigil</h1>
        <label>
          <span className="visually-hidden">Hospital</span>
          <select value={hospital} onChange={(e) => onHospital(e.target.value)} aria-label="Hospital">
            {claims.hospitals.map((h) => <option key={h} value={h}>{h}</option>)}
          </select>
        </label>
        <nav className="tabs" aria-label="Views">
          <button type="button" aria-current={view === 'board' ? 'page' : undefined} onClick={() => setView('board')}>Alerts</button>
          <button type="button" aria-current={view === 'server' ? 'page' : undefined} onClick={() => setView('server')}>Server</button>
        </nav>
        <span className="spacer" />
        <span className="who" data-role={claims.role}>{claims.name ?? claims.sub} · {ROLE_LABEL[claims.role]}</span>
        <button type="button" aria-pressed={sound} onClick={() => { if (!sound && !enableSound()) return; setSound(!sound); }}>
          Sound {sound ? 'on' : 'off'}
        </button>
        <button type="button" onClick={onSignOut}>Sign out</button>
      </header>
      <ConnectionBanner state={banner} pollSeconds={POLL_MS / 1000} since={resyncAt} everLive={everLive.current} />
      <div id="content">
        {view === 'server' ? <OperatorView /> : (
          <main className="board-layout">
            <div style={{ display: 'grid', gap: '1rem', alignContent: 'start', minWidth: 0 }}>
              <Board
                alerts={(alerts.data ?? []) as BoardAlert[]}
                role={claims.role}
                loading={alerts.isPending}
                error={alerts.error ? `Cannot load alerts: ${errorText(alerts.error)}` : null}
                actions={actions}
                renderTimeline={renderTimeline}
                onUrgent={onUrgent}
              />
              {can(claims.role, 'create') && <RaiseAlert hospitalId={hospital} />}
            </div>
            <div className="side">
              <MetricsPanel history={history} />
              <PresencePanel presence={presence ?? null} me={claims.sub} />
            </div>
          </main>
        )}
      </div>
    </>
  );
}

const EVENT_TEXT: Record<string, string> = {
  'alert.created': 'Raised',
  'alert.escalated': 'Escalated',
  'alert.updated': 'Updated',
  'alert.acknowledged': 'Acknowledged',
  'alert.resolved': 'Resolved',
};

/** "2 nurses, 1 doctor" from a seenBy summary. */
export function seenByText(seenBy: Record<string, number>): string {
  const parts = Object.entries(seenBy).map(([role, n]) => `${n} ${ROLE_LABEL[role as keyof typeof ROLE_LABEL] ?? role}`);
  return parts.length ? parts.join(', ') : 'nobody yet';
}

function describe(type: string, data: Record<string, unknown>): string {
  const by = (k: string) => (typeof data[k] === 'string' ? ` by ${data[k] as string}` : '');
  switch (type) {
    case 'alert.created': return `${EVENT_TEXT[type]}${by('createdBy')}`;
    case 'alert.escalated':
      if (data.unattended) return `Unattended at tier ${String(data.toTier)} (${String(data.toRole)}): whole hospital called${data.reason ? `: ${String(data.reason)}` : ''}`;
      return `Escalated from tier ${String(data.fromTier)} to tier ${String(data.toTier)} (${String(data.toRole)})${by('escalatedBy')}${data.reason ? `: ${String(data.reason)}` : ''}`;
    case 'alert.acknowledged': return `Acknowledged${by('acknowledgedBy')}${data.notes ? `: ${String(data.notes)}` : ''}`;
    case 'alert.resolved': return `Resolved${by('resolvedBy')}${data.resolution ? `: ${String(data.resolution)}` : ''}`;
    case 'alert.updated':
      if (data.transferredFrom) return `Transferred to ${String(data.acknowledgedBy)}${by('updatedBy')}`;
      if (data.seenBy) return `Seen by ${seenByText(data.seenBy as Record<string, number>)}`;
      return `Updated${by('updatedBy')}${data.urgencyLevel ? `: urgency ${String(data.urgencyLevel)}` : ''}`;
    default: return type;
  }
}

function Timeline({ alertId }: { alertId: string }) {
  const q = useVigilQuery('getAlertTimeline', { alertId });
  return (
    <div className="timeline" data-timeline={alertId}>
      <h4 style={{ margin: '0 0 .3rem' }}>Timeline</h4>
      {q.isPending && <p className="hint">Loading…</p>}
      {q.error && <p className="error" role="alert">Cannot load the timeline: {errorText(q.error)}</p>}
      {q.data && (
        <>
          <ol>
            {q.data.timeline.map((e: AlertEvent) => (
              <li key={e.id}><time>{clock(e.timestamp)}</time>{describe(e.type, e.data as Record<string, unknown>)}</li>
            ))}
          </ol>
          <p className="hint" data-seen-by={alertId} style={{ margin: '.3rem 0 0' }}>
            Seen by: {seenByText(q.data.alert.seenBy)}
          </p>
          <p className="hint" style={{ margin: '.3rem 0 0' }}>
            Response time: {q.data.responseTime === null ? 'not yet acknowledged' : `${q.data.responseTime} s`}
          </p>
        </>
      )}
    </div>
  );
}

/** A small form to raise an alert (every role but viewer may). */
function RaiseAlert({ hospitalId }: { hospitalId: string }) {
  const create = useCreateAlert();
  const [room, setRoom] = useState('');
  const [type, setType] = useState('medical_emergency');
  const [urgency, setUrgency] = useState(2);
  const [note, setNote] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setMessage(null);
    try {
      const r = await create.mutateAsync({
        hospitalId, roomNumber: room.trim(), alertType: type as Alert['alertType'], urgencyLevel: urgency,
        ...(note.trim() ? { description: note.trim() } : {}),
      });
      setMessage({ ok: true, text: `Alert raised for room ${r.alert.roomNumber}.` });
      setRoom('');
      setNote('');
    } catch (err) {
      setMessage({ ok: false, text: `Refused: ${errorText(err)}` });
    }
  }

  return (
    <section className="panel" aria-labelledby="raise-title">
      <details className="raise-box">
        <summary><h2 id="raise-title" style={{ display: 'inline', fontSize: '1.05rem' }}>Raise an alert</h2></summary>
        <form className="raise" onSubmit={submit}>
          <label>Room<input name="room" value={room} onChange={(e) => setRoom(e.target.value)} required maxLength={10} autoComplete="off" /></label>
          <label>Type
            <select name="type" value={type} onChange={(e) => setType(e.target.value)}>
              {Object.entries(ALERT_TYPE_LABEL).map(([k, v]) => <option key={k} value={k}>{v}</option>)}
            </select>
          </label>
          <label>Urgency
            <select name="urgency" value={urgency} onChange={(e) => setUrgency(Number(e.target.value))}>
              {[1, 2, 3, 4, 5].map((u) => <option key={u} value={u}>{u} · {URGENCY_LABEL[u]}</option>)}
            </select>
          </label>
          <label>Note<input name="note" value={note} onChange={(e) => setNote(e.target.value)} maxLength={500} autoComplete="off" /></label>
          <button type="submit" className="btn primary" disabled={create.isPending}>{create.isPending ? 'Raising…' : 'Raise alert'}</button>
        </form>
        {message && <p className={message.ok ? 'hint' : 'error'} role={message.ok ? 'status' : 'alert'}>{message.text}</p>}
      </details>
    </section>
  );
}
