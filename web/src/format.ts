/// Text for times and alert attributes (urgency is always spelled out, never colour alone).

export const URGENCY_LABEL: Record<number, string> = {
  1: 'Critical',
  2: 'High',
  3: 'Medium',
  4: 'Low',
  5: 'Minimal',
};

export const ALERT_TYPE_LABEL: Record<string, string> = {
  cardiac_arrest: 'Cardiac arrest',
  code_blue: 'Code blue',
  fire: 'Fire',
  security: 'Security',
  medical_emergency: 'Medical emergency',
};

export function toMs(t: Date | string | null | undefined): number | null {
  if (t === null || t === undefined) return null;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isNaN(ms) ? null : ms;
}

/** "45 s", "3 min", "2 h 5 min", "3 d". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60 ? `${String(s % 60).padStart(2, '0')} s` : ''}`.trim();
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** mm:ss countdown, or "due" when it has passed. */
export function countdown(ms: number): string {
  if (ms <= 0) return 'due now';
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

export function clock(t: Date | string | null | undefined): string {
  const ms = toMs(t);
  if (ms === null) return '—';
  return new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
