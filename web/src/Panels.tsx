/// The connection banner, the five live metrics with trend lines, and who is online by role.
import { ROLE_LABEL, ROLES, type Role } from './auth';
import { Sparkline } from './Sparkline';
import { clock } from './format';

export type BannerState = 'live' | 'reconnecting' | 'polling' | 'resynced';

export function ConnectionBanner({ state, pollSeconds, since, everLive }: { state: BannerState; pollSeconds: number; since: Date | null; everLive: boolean }) {
  const text: Record<BannerState, [string, string]> = {
    live: ['Live', 'updates arrive as they happen.'],
    reconnecting: everLive
      ? ['Reconnecting…', 'the screen may be behind; it catches up when the connection is back.']
      : ['Connecting…', 'opening the live connection.'],
    polling: ['Polling', `live connection unavailable: refreshed over HTTP every ${pollSeconds} s.`],
    resynced: ['Refreshed after a gap', `the live feed had a gap, so the whole board was reloaded${since ? ` at ${clock(since)}` : ''}.`],
  };
  const [head, detail] = text[state];
  return (
    <div className="banner" data-connection={state} role="status" aria-live="polite">
      <span className="dot" aria-hidden="true" />
      <span>{head}</span>
      <span className="detail">— {detail}</span>
    </div>
  );
}

export interface MetricsItem {
  activeAlerts: number;
  criticalAlerts: number;
  staffOnline: number;
  responseRate: number;
  avgResponseTimeSec: number;
}

const METRICS: { key: keyof MetricsItem; label: string; format: (v: number) => string; alarm?: (v: number) => boolean }[] = [
  { key: 'activeAlerts', label: 'Open alerts', format: (v) => String(v) },
  { key: 'criticalAlerts', label: 'Critical, waiting', format: (v) => String(v), alarm: (v) => v > 0 },
  { key: 'staffOnline', label: 'Staff online', format: (v) => String(v) },
  { key: 'responseRate', label: 'Answered (last hour)', format: (v) => `${Math.round(v * 100)} %` },
  { key: 'avgResponseTimeSec', label: 'Mean response', format: (v) => (v < 60 ? `${v} s` : `${Math.floor(v / 60)} min ${v % 60} s`) },
];

export function MetricsPanel({ history }: { history: MetricsItem[] }) {
  const cur = history[history.length - 1];
  return (
    <section className="panel" aria-labelledby="metrics-title">
      <h2 id="metrics-title">Ward figures</h2>
      {!cur ? <p className="empty">Waiting for figures…</p> : (
        <dl className="metrics">
          {METRICS.map((m) => {
            const v = cur[m.key];
            const alarm = m.alarm?.(v) ?? false;
            return (
              <div className="metric" key={m.key} data-metric={m.key} data-alarm={alarm ? 'true' : 'false'}>
                <dt>{m.label}</dt>
                <dd>{m.format(v)}{alarm && <span className="visually-hidden"> (needs attention)</span>}</dd>
                <dd><Sparkline values={history.map((h) => h[m.key])} /></dd>
              </div>
            );
          })}
        </dl>
      )}
    </section>
  );
}

export interface PresenceItem {
  count: number;
  online: { userId: string; name: string | null; role: string; since: Date | string }[];
}

export function PresencePanel({ presence, me }: { presence: PresenceItem | null; me: string }) {
  const groups = ROLES.map((r) => ({ role: r, people: presence?.online.filter((p) => p.role === r) ?? [] })).filter((g) => g.people.length > 0);
  return (
    <section className="panel presence" aria-labelledby="presence-title">
      <h2 id="presence-title">Online <span className="count">{presence ? `${presence.count} ${presence.count === 1 ? 'person' : 'people'}` : ''}</span></h2>
      {!presence ? <p className="empty">Waiting…</p> : groups.map((g) => (
        <div key={g.role} data-presence-role={g.role}>
          <h3>{ROLE_LABEL[g.role as Role]} ({g.people.length})</h3>
          <ul>
            {g.people.map((p) => (
              <li key={p.userId}>{p.name ?? p.userId}{p.userId === me ? ' (you)' : ''} <span className="hint">since {clock(p.since)}</span></li>
            ))}
          </ul>
        </div>
      ))}
    </section>
  );
}
