/// Figures an operator checks, read from GET /metrics (Prometheus text, no token needed) every few
/// seconds; rates are computed between two scrapes.
import { useEffect, useRef, useState } from 'react';

import { parsePrometheus, sumOf, type Sample } from './prom';
import { Sparkline } from './Sparkline';
import { duration } from './format';

const SCRAPE_MS = 3000;
const HISTORY = 40;

interface Scrape { at: number; samples: Sample[] }

interface Figure { key: string; label: string; value: string; hint: string; alarm?: boolean; trend?: number[] }

function rate(prev: Scrape | undefined, cur: Scrape, name: string): number | null {
  if (!prev) return null;
  const a = sumOf(prev.samples, name);
  const b = sumOf(cur.samples, name);
  const dt = (cur.at - prev.at) / 1000;
  if (a === null || b === null || dt <= 0) return null;
  return Math.max(0, (b - a) / dt);
}

export function OperatorView() {
  const [scrapes, setScrapes] = useState<Scrape[]>([]);
  const [error, setError] = useState<string | null>(null);
  const alive = useRef(true);

  useEffect(() => {
    alive.current = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const scrape = async () => {
      try {
        const res = await fetch('/metrics', { cache: 'no-store' });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const samples = parsePrometheus(await res.text());
        if (!alive.current) return;
        setError(null);
        setScrapes((s) => [...s.slice(-(HISTORY - 1)), { at: Date.now(), samples }]);
      } catch (e) {
        if (alive.current) setError(`Cannot read /metrics: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (alive.current) timer = setTimeout(scrape, SCRAPE_MS);
    };
    void scrape();
    return () => { alive.current = false; clearTimeout(timer); };
  }, []);

  const cur = scrapes[scrapes.length - 1];
  const prev = scrapes[scrapes.length - 2];
  const eventRates = scrapes.slice(1).map((s, i) => rate(scrapes[i], s, 'vigil_events_published_total') ?? 0);
  const connTrend = scrapes.map((s) => sumOf(s.samples, 'vigil_connections') ?? 0);
  const num = (n: number | null, digits = 0) => (n === null ? '—' : n.toLocaleString(undefined, { maximumFractionDigits: digits }));

  const figures: Figure[] = cur ? [
    { key: 'connections', label: 'WebSocket connections', value: num(sumOf(cur.samples, 'vigil_connections')), hint: 'open now', trend: connTrend },
    { key: 'events', label: 'Events per second', value: num(rate(prev, cur, 'vigil_events_published_total'), 1), hint: 'alert events committed', trend: eventRates },
    { key: 'delivered', label: 'Deliveries per second', value: num(rate(prev, cur, 'vigil_events_delivered_total'), 1), hint: 'event frames queued to subscribers' },
    { key: 'slow', label: 'Slow-consumer closes', value: num(sumOf(cur.samples, 'vigil_slow_consumer_closes_total')), hint: 'since start (4008)', alarm: (rate(prev, cur, 'vigil_slow_consumer_closes_total') ?? 0) > 0 },
    { key: 'escalations', label: 'Escalations fired', value: num(sumOf(cur.samples, 'vigil_escalations_fired_total')), hint: 'by timers, since start' },
    { key: 'subscriptions', label: 'Live subscriptions', value: num(sumOf(cur.samples, 'vigil_subscriptions')), hint: 'all connections' },
    { key: 'commit-failures', label: 'Storage commit failures', value: num(sumOf(cur.samples, 'vigil_storage_commit_failures_total')), hint: 'any increase needs attention', alarm: (sumOf(cur.samples, 'vigil_storage_commit_failures_total') ?? 0) > 0 },
    { key: 'auth-invalid', label: 'Invalid tokens', value: num(sumOf(cur.samples, 'vigil_auth_failures_total', { reason: 'invalid' })), hint: 'calls refused, since start' },
    { key: 'accept-pauses', label: 'Accept pauses', value: num(sumOf(cur.samples, 'vigil_accept_pauses_total')), hint: 'descriptor limit reached', alarm: (sumOf(cur.samples, 'vigil_accept_pauses_total') ?? 0) > 0 },
    { key: 'uptime', label: 'Uptime', value: (() => { const u = sumOf(cur.samples, 'vigil_uptime_seconds'); return u === null ? '—' : duration(u * 1000); })(), hint: 'since the last start' },
  ] : [];

  return (
    <main>
      <section className="panel" aria-labelledby="ops-title">
        <h2 id="ops-title">Server <span className="count">from /metrics, every {SCRAPE_MS / 1000} s</span></h2>
        {error && <p className="error" role="alert">{error}</p>}
        {!cur && !error && <p className="empty">Reading /metrics…</p>}
        <dl className="ops">
          {figures.map((f) => (
            <div className="metric" key={f.key} data-figure={f.key} data-alarm={f.alarm ? 'true' : 'false'}>
              <dt>{f.label}</dt>
              <dd>{f.value}{f.alarm && <span className="visually-hidden"> (needs attention)</span>}</dd>
              <dd className="hint">{f.hint}{f.alarm ? ' — needs attention' : ''}</dd>
              {f.trend && <dd><Sparkline values={f.trend} /></dd>}
            </div>
          ))}
        </dl>
      </section>
    </main>
  );
}
