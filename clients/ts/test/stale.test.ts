/// Which queries an event makes stale (`staleAfter`, used by useAlertSubscription): every vigil
/// query of the hospital for an alert event, only the alert's own queries for a seenBy update.
import type { Query } from '@tanstack/react-query';
import { describe, expect, it } from 'vitest';

import { isSeenByUpdate, staleAfter, vigilKeys, type AlertEvent } from '../src/index.js';

const query = (key: readonly unknown[]) => ({ queryKey: key }) as unknown as Query;
const list = query(vigilKeys.procedure('getActiveAlerts', { hospitalId: 'h1', status: 'open' }));
const metrics = query(vigilKeys.procedure('getMetrics', { hospitalId: 'h1' }));
const otherHospital = query(vigilKeys.procedure('getActiveAlerts', { hospitalId: 'h2' }));
const own = query(vigilKeys.procedure('getAlert', { alertId: 'a1' }));
const timeline = query(vigilKeys.procedure('getAlertTimeline', { alertId: 'a1' }));
const someoneElse = query(vigilKeys.procedure('getAlert', { alertId: 'a2' }));
const notVigil = query(['other', 'getAlert', { alertId: 'a1' }]);

const event = (type: string, data: Record<string, unknown>) =>
  ({ id: 'e-1', type, alertId: 'a1', hospitalId: 'h1', timestamp: new Date(), data }) as unknown as AlertEvent;
const seenBy = event('alert.updated', { seenBy: { nurse: 1 }, updatedBy: 'system', updatedAt: new Date() });
const acknowledged = event('alert.acknowledged', { acknowledgedBy: 'u-doc' });
const edited = event('alert.updated', { description: 'new text', updatedBy: 'u-nurse', updatedAt: new Date() });

const stale = (ev: AlertEvent) =>
  [list, metrics, otherHospital, own, timeline, someoneElse, notVigil].map((q) => staleAfter(ev, q, 'h1', undefined));

describe('staleAfter', () => {
  it('an alert event makes every vigil query of the hospital and every alert query stale', () => {
    expect(stale(acknowledged)).toEqual([true, true, false, true, true, true, false]);
    expect(stale(edited)).toEqual([true, true, false, true, true, true, false]);
  });

  it('a seenBy update refreshes only that alert\'s queries, no list of the hospital', () => {
    expect(isSeenByUpdate(seenBy)).toBe(true);
    expect(isSeenByUpdate(edited)).toBe(false);
    expect(stale(seenBy)).toEqual([false, false, false, true, true, false, false]);
  });
});
