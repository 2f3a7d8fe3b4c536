/// Contract test: drives a real vigild through every procedure with both transformers and parses
/// every reply and every streamed item with the package's output schemas (strict objects), so the
/// published types cannot drift from what the server sends.
import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { z } from 'zod';

import { createVigilClient, isResyncEvent, jsonOutputs, outputs, type VigilClient } from '../src/core.js';
import { mintToken, newHospital, startVigil, waitFor, type Vigil } from './helpers.js';

let vigil: Vigil;
beforeAll(async () => {
  vigil = await startVigil();
});
afterAll(async () => {
  await vigil?.stop();
});

const TRANSFORMERS = ['superjson', 'json'] as const;

describe.each(TRANSFORMERS)('contract (%s)', (transformer) => {
  it('every reply and event parses with the output schemas', async () => {
    const schemas = (transformer === 'superjson' ? outputs : jsonOutputs) as typeof outputs;
    const hospitalId = newHospital('contract');
    const token = mintToken({ hospitals: [hospitalId], name: 'Dr Contract' });
    const client = createVigilClient({
      url: vigil.httpUrl,
      token,
      transformer: transformer as 'superjson',
      WebSocket,
    }) as VigilClient<'superjson'>;
    const checked: string[] = [];
    const check = <S extends z.ZodTypeAny>(name: string, schema: S, value: unknown): z.output<S> => {
      const r = schema.safeParse(value);
      if (!r.success) throw new Error(`${name}: ${JSON.stringify(r.error.issues)}\n${JSON.stringify(value)}`);
      checked.push(name);
      return r.data;
    };
    try {
      const hc = client.trpc.healthcare;
      const events: unknown[] = [];
      const alertEvents: unknown[] = [];
      const metrics: unknown[] = [];
      const presence: unknown[] = [];
      const resync: unknown[] = [];
      const started = { n: 0 };
      const onStarted = () => started.n++;
      const subs = [
        client.subscribeToAlerts({ hospitalId }, { onData: (e) => events.push(e), onStarted }),
        client.subscribeToMetrics({ hospitalId, interval: 1000 }, { onData: (m) => metrics.push(m), onStarted }),
        client.subscribeToPresence({ hospitalId }, { onData: (p) => presence.push(p), onStarted }),
        client.subscribeToAlerts({ hospitalId, lastEventId: 'zzzzzzzz-1' }, { onData: (e) => resync.push(e), onStarted }),
      ];
      await waitFor(() => started.n === 4, 10000, 'four subscriptions started');

      const mk = (room: string, urgencyLevel: number, extra: Record<string, unknown> = {}) =>
        hc.createAlert.mutate({ hospitalId, roomNumber: room, alertType: 'cardiac_arrest', urgencyLevel, ...extra });
      const a1 = check('createAlert', schemas.createAlert, await mk('icu-1', 1, {
        description: 'desc', targetDepartment: 'icu', patientId: 'p-1', idempotencyKey: randomUUID(),
      })).alert;
      const a2 = check('createAlert', schemas.createAlert, await mk('b-2', 3)).alert;
      const a3 = check('createAlert', schemas.createAlert, await mk('b-3', 4)).alert;
      const a4 = check('createAlert', schemas.createAlert, await mk('b-4', 2)).alert;

      subs.push(client.subscribeToAlert({ alertId: a1.id }, { onData: (e) => alertEvents.push(e), onStarted }));
      await waitFor(() => started.n === 5, 10000, 'subscribeToAlert started');

      check('triggerEscalation', schemas.triggerEscalation, await hc.triggerEscalation.mutate({ alertId: a1.id, reason: 'No response' }));
      check('updateAlert', schemas.updateAlert, await hc.updateAlert.mutate({ alertId: a1.id, description: 'changed', urgencyLevel: 2 }));
      check('acknowledgeAlert', schemas.acknowledgeAlert, await hc.acknowledgeAlert.mutate({
        alertId: a1.id, notes: 'on my way', urgencyAssessment: 'increase', responseAction: 'delegating',
        delegateTo: 'u-nurse', estimatedResponseTime: 2.5,
      }));
      check('transferAlert', schemas.transferAlert, await hc.transferAlert.mutate({ alertId: a1.id, toUserId: 'u-doc-2', reason: 'handover' }));
      check('resolveAlert', schemas.resolveAlert, await hc.resolveAlert.mutate({ alertId: a1.id, resolution: 'Patient stable now' }));
      check('batchAcknowledgeAlerts', schemas.batchAcknowledgeAlerts,
        await hc.batchAcknowledgeAlerts.mutate({ alertIds: [a2.id, a3.id, randomUUID()], notes: 'covering' }));
      check('batchResolveAlerts', schemas.batchResolveAlerts,
        await hc.batchResolveAlerts.mutate({ alertIds: [a2.id, a3.id], resolution: 'All settled here' }));

      check('getActiveAlerts', schemas.getActiveAlerts, await hc.getActiveAlerts.query({ hospitalId, status: 'all', limit: 2 }));
      check('getAlert', schemas.getAlert, await hc.getAlert.query({ alertId: a1.id }));
      check('getMetrics', schemas.getMetrics, await hc.getMetrics.query({ hospitalId }));
      check('getEscalationStatus', schemas.getEscalationStatus, await hc.getEscalationStatus.query({ alertId: a4.id }));
      check('getEscalationStatus', schemas.getEscalationStatus, await hc.getEscalationStatus.query({ alertId: a1.id }));
      check('getActiveEscalations', schemas.getActiveEscalations, await hc.getActiveEscalations.query({ hospitalId }));
      const timeline = check('getAlertTimeline', schemas.getAlertTimeline, await hc.getAlertTimeline.query({ alertId: a1.id }));
      expect(timeline.timeline.map((e) => e.type)).toEqual([
        'alert.created', 'alert.escalated', 'alert.updated', 'alert.acknowledged', 'alert.updated', 'alert.resolved',
      ]);
      const since = new Date(Date.now() - 60000);
      check('getAlertHistory', schemas.getAlertHistory, await hc.getAlertHistory.query({
        hospitalId, startDate: transformer === 'superjson' ? since : since.toISOString(), limit: 10,
      }));
      check('getAlertStats', schemas.getAlertStats, await hc.getAlertStats.query({ hospitalId }));
      // getAuditLog is admin only: a second client with an admin token; two pages.
      const auditor = createVigilClient({
        url: vigil.httpUrl, token: mintToken({ hospitals: [hospitalId], role: 'admin' }),
        transformer: transformer as 'superjson', WebSocket,
      }) as VigilClient<'superjson'>;
      try {
        const page1 = check('getAuditLog', schemas.getAuditLog, await auditor.trpc.healthcare.getAuditLog.query({ hospitalId, limit: 3 }));
        expect(page1.records.length).toBe(3);
        expect(page1.nextCursor).toBe(page1.records[2]!.seq);
        const page2 = check('getAuditLog', schemas.getAuditLog,
          await auditor.trpc.healthcare.getAuditLog.query({ hospitalId, cursor: page1.nextCursor!, limit: 500 }));
        expect(page2.records[0]!.seq).toBeLessThan(page1.nextCursor!);
        expect(page2.nextCursor).toBeNull();
        const all = [...page1.records, ...page2.records];
        expect(all.filter((r) => r.action === 'createAlert' && r.outcome === 'ok').length).toBe(4);
        expect(all.every((r) => r.hospitalId === hospitalId)).toBe(true);
      } finally {
        auditor.close();
      }

      // 4 created, escalated, updated, acknowledged, transfer, resolved, 2 acknowledged, 2 resolved
      await waitFor(() => events.length === 13, 10000, `13 events (have ${events.length})`);
      await waitFor(() => alertEvents.length === 5, 10000, 'the alert stream');
      // A receipt for the resolved alert's creation: stored, no seenBy event (it is resolved).
      const firstId = (events[0] as { id: string }).id;
      check('confirmDelivery', schemas.confirmDelivery,
        await hc.confirmDelivery.mutate({ hospitalId, eventIds: [firstId] }));
      check('getAlert', schemas.getAlert, await hc.getAlert.query({ alertId: a1.id }));
      await waitFor(() => metrics.length >= 2 && presence.length >= 1 && resync.length >= 1, 10000, 'metrics, presence, resync');
      for (const e of events) check('subscribeToAlerts', schemas.alertEvent, e);
      for (const e of alertEvents) check('subscribeToAlert', schemas.alertEvent, e);
      for (const m of metrics) check('subscribeToMetrics', schemas.metrics, m);
      for (const p of presence) check('subscribeToPresence', schemas.presence, p);
      const first = check('resync', schemas.alertEvent, resync[0]);
      expect(isResyncEvent(first)).toBe(true);
      if (transformer === 'superjson') expect(a1.createdAt).toBeInstanceOf(Date);
      else expect(typeof a1.createdAt).toBe('string');
      for (const s of subs) s.unsubscribe();
      expect(new Set(checked).size).toBe(23);
    } finally {
      client.close();
    }
  });
});
