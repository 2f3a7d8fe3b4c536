/// The alert board: the hospital's unresolved alerts, most urgent first. Presentational: data and
/// actions come in as props (see Dashboard.tsx), so the board renders the same for the live app,
/// the tests and the benchmark.
import { memo, useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';

import { can, type Role } from './auth';
import { ALERT_TYPE_LABEL, URGENCY_LABEL, clock, countdown, duration, toMs } from './format';

type Time = Date | string | null;

/** The Alert fields the board reads (superjson Dates or JSON strings both work). */
export interface BoardAlert {
  id: string;
  roomNumber: string;
  alertType: string;
  urgencyLevel: number;
  description: string | null;
  status: 'active' | 'acknowledged' | 'resolved';
  currentEscalationTier: number;
  nextEscalationAt: Time;
  createdAt: Time;
  acknowledgedBy: string | null;
  acknowledgedAt: Time;
  targetDepartment: string | null;
}

export interface BoardActions {
  acknowledge(alertId: string): Promise<unknown>;
  resolve(alertId: string, resolution: string): Promise<unknown>;
  escalate(alertId: string): Promise<unknown>;
}

/** Active before acknowledged, then urgency (1 first), then the longest waiting first. */
export function byUrgency(a: BoardAlert, b: BoardAlert): number {
  if (a.status !== b.status) return a.status === 'active' ? -1 : 1;
  if (a.urgencyLevel !== b.urgencyLevel) return a.urgencyLevel - b.urgencyLevel;
  const ta = toMs(a.createdAt) ?? 0;
  const tb = toMs(b.createdAt) ?? 0;
  return ta !== tb ? ta - tb : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The message of a refused call, as the server wrote it. */
export function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'message' in e && typeof (e as { message: unknown }).message === 'string') {
    return (e as { message: string }).message;
  }
  return String(e);
}

/** One second ticks for ages and countdowns (one timer for the whole board). */
export function useNow(periodMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(t);
  }, [periodMs]);
  return now;
}

interface RowProps {
  alert: BoardAlert;
  role: Role;
  now: number;
  fresh: boolean;
  expanded: boolean;
  onToggle: (id: string) => void;
  actions: BoardActions;
  renderTimeline: (alertId: string) => ReactNode;
}

const AlertRow = memo(function AlertRow({ alert, role, now, fresh, expanded, onToggle, actions, renderTimeline }: RowProps) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [resolving, setResolving] = useState(false);
  const [resolution, setResolution] = useState('');
  const ids = { title: useId(), timeline: useId(), resolution: useId() };

  const created = toMs(alert.createdAt) ?? now;
  const next = toMs(alert.nextEscalationAt);
  const remaining = next === null ? null : next - now;
  const urgency = URGENCY_LABEL[alert.urgencyLevel] ?? `Level ${alert.urgencyLevel}`;
  const type = ALERT_TYPE_LABEL[alert.alertType] ?? alert.alertType;

  async function run(name: string, fn: () => Promise<unknown>) {
    setBusy(name);
    setError(null);
    try {
      await fn();
      if (name === 'resolve') { setResolving(false); setResolution(''); }
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
    }
  }

  function submitResolve(e: FormEvent) {
    e.preventDefault();
    void run('resolve', () => actions.resolve(alert.id, resolution.trim()));
  }

  const mayAck = alert.status === 'active' && can(role, 'acknowledge');
  const mayResolve = alert.status === 'acknowledged' && can(role, 'resolve');
  const mayEscalate = alert.status === 'active' && next !== null && can(role, 'escalate');

  return (
    <li
      className={`alert${fresh ? ' fresh' : ''}`}
      data-alert-id={alert.id}
      data-status={alert.status}
      data-urgency={alert.urgencyLevel}
      aria-labelledby={ids.title}
    >
      <div className="alert-main">
        <span className="urgency" data-urgency={alert.urgencyLevel}>{alert.urgencyLevel} · {urgency}</span>
        <h3 style={{ margin: 0, fontSize: 'inherit' }}>
          <button
            type="button"
            className="alert-title"
            id={ids.title}
            aria-expanded={expanded}
            aria-controls={ids.timeline}
            onClick={() => onToggle(alert.id)}
          >
            <span className="room">Room {alert.roomNumber}</span>
            <span className="type">{type}</span>
            <span className="status-tag" data-status={alert.status}>
              {alert.status === 'active' ? 'Waiting' : `Acknowledged${alert.acknowledgedBy ? ` by ${alert.acknowledgedBy}` : ''}`}
            </span>
            <span className="visually-hidden">, urgency {urgency}</span>
            <span className="chev" aria-hidden="true">{expanded ? '▲ timeline' : '▼ timeline'}</span>
          </button>
        </h3>
        <div className="actions">
          {mayAck && (
            <button type="button" className="primary" disabled={busy !== null} onClick={() => void run('ack', () => actions.acknowledge(alert.id))}>
              {busy === 'ack' ? 'Acknowledging…' : 'Acknowledge'}
            </button>
          )}
          {mayResolve && !resolving && (
            <button type="button" className="primary" disabled={busy !== null} onClick={() => setResolving(true)}>Resolve…</button>
          )}
          {mayEscalate && (
            <button type="button" disabled={busy !== null} onClick={() => void run('escalate', () => actions.escalate(alert.id))}>
              {busy === 'escalate' ? 'Escalating…' : 'Escalate'}
            </button>
          )}
        </div>
        <dl className="facts">
          <div><dt>Age</dt><dd>{duration(now - created)}</dd></div>
          <div><dt>Tier</dt><dd>{alert.currentEscalationTier}</dd></div>
          <div>
            <dt>Next escalation</dt>
            <dd className={remaining !== null && remaining < 30000 ? 'soon' : undefined} data-countdown>
              {remaining === null ? (alert.status === 'active' ? 'last tier' : 'stopped') : `in ${countdown(remaining)} (tier ${alert.currentEscalationTier + 1})`}
            </dd>
          </div>
          {alert.targetDepartment && <div><dt>Department</dt><dd>{alert.targetDepartment}</dd></div>}
          {alert.description && <div><dt>Note</dt><dd>{alert.description}</dd></div>}
        </dl>
      </div>
      {resolving && (
        <form className="resolve-form" onSubmit={submitResolve}>
          <label htmlFor={ids.resolution}>
            Resolution (at least 10 characters)
            <textarea id={ids.resolution} value={resolution} onChange={(e) => setResolution(e.target.value)} autoFocus />
          </label>
          <button type="submit" className="btn primary" disabled={busy !== null}>{busy === 'resolve' ? 'Resolving…' : 'Confirm resolve'}</button>
          <button type="button" className="btn" onClick={() => { setResolving(false); setError(null); }}>Cancel</button>
        </form>
      )}
      {error && <p className="error" role="alert">Refused: {error}</p>}
      <div id={ids.timeline} hidden={!expanded}>
        {expanded && renderTimeline(alert.id)}
      </div>
    </li>
  );
});

export interface BoardProps {
  alerts: BoardAlert[];
  role: Role;
  loading: boolean;
  error: string | null;
  actions: BoardActions;
  renderTimeline: (alertId: string) => ReactNode;
  /** Called once for each new alert of urgency 1–2 that arrives after the first load. */
  onUrgent?: (alert: BoardAlert) => void;
}

const FRESH_MS = 10000;

export function Board({ alerts, role, loading, error, actions, renderTimeline, onUrgent }: BoardProps) {
  const now = useNow();
  const [expanded, setExpanded] = useState<string | null>(null);
  const seen = useRef<Set<string> | null>(null);
  const [fresh, setFresh] = useState<Map<string, number>>(new Map());
  const [announcement, setAnnouncement] = useState('');

  // New urgent alerts: mark them for a while and announce them (screen readers, sound).
  useEffect(() => {
    if (loading) return;
    if (seen.current === null) {
      seen.current = new Set(alerts.map((a) => a.id));
      return;
    }
    const arrived = alerts.filter((a) => !seen.current!.has(a.id));
    for (const a of arrived) seen.current.add(a.id);
    const urgent = arrived.filter((a) => a.status === 'active' && a.urgencyLevel <= 2);
    if (urgent.length === 0) return;
    const until = Date.now() + FRESH_MS;
    setFresh((m) => { const n = new Map(m); for (const a of urgent) n.set(a.id, until); return n; });
    setAnnouncement(urgent.map((a) => `New ${URGENCY_LABEL[a.urgencyLevel]?.toLowerCase()} alert: room ${a.roomNumber}, ${ALERT_TYPE_LABEL[a.alertType] ?? a.alertType}`).join('. '));
    for (const a of urgent) onUrgent?.(a);
  }, [alerts, loading, onUrgent]);

  useEffect(() => {
    if (fresh.size === 0) return;
    const t = setTimeout(() => {
      const at = Date.now();
      setFresh((m) => new Map([...m].filter(([, until]) => until > at)));
    }, 1000);
    return () => clearTimeout(t);
  }, [fresh, now]);

  const sorted = [...alerts].filter((a) => a.status !== 'resolved').sort(byUrgency);
  const waiting = sorted.filter((a) => a.status === 'active').length;
  const toggle = (id: string) => setExpanded((e) => (e === id ? null : id));

  return (
    <section className="panel" aria-labelledby="board-title">
      <h2 id="board-title">
        Alerts <span className="count" data-testid="alert-count">{waiting} waiting, {sorted.length - waiting} acknowledged</span>
      </h2>
      <div className="visually-hidden" role="status" aria-live="assertive">{announcement}</div>
      {error && <p className="error" role="alert">{error}</p>}
      {loading && alerts.length === 0 ? (
        <p className="empty">Loading alerts…</p>
      ) : sorted.length === 0 ? (
        <p className="empty">No open alerts. New alerts appear here at once.</p>
      ) : (
        <ul className="alerts">
          {sorted.map((a) => (
            <AlertRow
              key={a.id}
              alert={a}
              role={role}
              now={now}
              fresh={fresh.has(a.id)}
              expanded={expanded === a.id}
              onToggle={toggle}
              actions={actions}
              renderTimeline={renderTimeline}
            />
          ))}
        </ul>
      )}
      <p className="hint" style={{ marginBottom: 0 }}>Last checked {clock(new Date(now))}</p>
    </section>
  );
}
