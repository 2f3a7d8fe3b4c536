/// The types-only tRPC 11 router that describes what vigild serves. Its resolvers are never run
/// (vigild is the server); it exists so `AppRouter` carries every procedure's input and output
/// types. Inputs and outputs are the zod schemas of `schemas.ts`, so types and runtime checks
/// come from one source.
import { initTRPC } from '@trpc/server';
import superjson from 'superjson';
import type { z } from 'zod';

import { inputs, jsonOutputs, outputs, type JsonOutputSchemas, type OutputSchemas } from './schemas.js';

const notHere = (): never => {
  throw new Error('@vigil/client: AppRouter is types-only; vigild serves these procedures');
};

/// A subscription resolver that only carries its item type.
function stream<T>() {
  return async function* (): AsyncGenerator<T, void, unknown> {
    notHere();
  };
}

function healthcareProcedures<S extends OutputSchemas | JsonOutputSchemas>(
  t: { procedure: ReturnType<typeof initTRPC.create>['procedure'] },
  o: S,
) {
  const p = t.procedure;
  return {
    // mutations
    createAlert: p.input(inputs.createAlert).output(o.createAlert as S['createAlert']).mutation(notHere),
    acknowledgeAlert: p.input(inputs.acknowledgeAlert).output(o.acknowledgeAlert as S['acknowledgeAlert']).mutation(notHere),
    resolveAlert: p.input(inputs.resolveAlert).output(o.resolveAlert as S['resolveAlert']).mutation(notHere),
    triggerEscalation: p.input(inputs.triggerEscalation).output(o.triggerEscalation as S['triggerEscalation']).mutation(notHere),
    updateAlert: p.input(inputs.updateAlert).output(o.updateAlert as S['updateAlert']).mutation(notHere),
    transferAlert: p.input(inputs.transferAlert).output(o.transferAlert as S['transferAlert']).mutation(notHere),
    batchAcknowledgeAlerts: p
      .input(inputs.batchAcknowledgeAlerts)
      .output(o.batchAcknowledgeAlerts as S['batchAcknowledgeAlerts'])
      .mutation(notHere),
    batchResolveAlerts: p.input(inputs.batchResolveAlerts).output(o.batchResolveAlerts as S['batchResolveAlerts']).mutation(notHere),
    confirmDelivery: p.input(inputs.confirmDelivery).output(o.confirmDelivery as S['confirmDelivery']).mutation(notHere),
    // queries
    getActiveAlerts: p.input(inputs.getActiveAlerts).output(o.getActiveAlerts as S['getActiveAlerts']).query(notHere),
    getAlert: p.input(inputs.getAlert).output(o.getAlert as S['getAlert']).query(notHere),
    getMetrics: p.input(inputs.getMetrics).output(o.getMetrics as S['getMetrics']).query(notHere),
    getEscalationStatus: p.input(inputs.getEscalationStatus).output(o.getEscalationStatus as S['getEscalationStatus']).query(notHere),
    getActiveEscalations: p.input(inputs.getActiveEscalations).output(o.getActiveEscalations as S['getActiveEscalations']).query(notHere),
    getAlertTimeline: p.input(inputs.getAlertTimeline).output(o.getAlertTimeline as S['getAlertTimeline']).query(notHere),
    getAlertHistory: p.input(inputs.getAlertHistory).output(o.getAlertHistory as S['getAlertHistory']).query(notHere),
    getAlertStats: p.input(inputs.getAlertStats).output(o.getAlertStats as S['getAlertStats']).query(notHere),
    // admin only (permission view_audit_log)
    getAuditLog: p.input(inputs.getAuditLog).output(o.getAuditLog as S['getAuditLog']).query(notHere),
    // subscriptions (WebSocket only); alert events are tracked: their `id` is the resume point
    subscribeToAlerts: p.input(inputs.subscribeToAlerts).subscription(stream<z.output<S['alertEvent']>>()),
    subscribeToAlert: p.input(inputs.subscribeToAlert).subscription(stream<z.output<S['alertEvent']>>()),
    subscribeToMetrics: p.input(inputs.subscribeToMetrics).subscription(stream<z.output<S['metrics']>>()),
    subscribeToPresence: p.input(inputs.subscribeToPresence).subscription(stream<z.output<S['presence']>>()),
  };
}

const tSuperjson = initTRPC.create({ transformer: superjson, allowOutsideOfServer: true, isServer: true });
const tJson = initTRPC.create({ allowOutsideOfServer: true, isServer: true });

/// The router as the default (superjson) client sees it: timestamps are `Date`.
export const appRouter = tSuperjson.router({
  healthcare: tSuperjson.router(healthcareProcedures(tSuperjson as never, outputs)),
});
/// The router as a plain-JSON client sees it: timestamps are ISO strings.
export const appRouterJson = tJson.router({
  healthcare: tJson.router(healthcareProcedures(tJson, jsonOutputs)),
});

/// Every procedure vigild serves, with superjson (the default transformer).
export type AppRouter = typeof appRouter;
/// The same procedures for a client without a transformer (`transformer: 'json'`).
export type AppRouterJson = typeof appRouterJson;
