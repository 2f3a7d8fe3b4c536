/// Public value types of @vigil/client, inferred from the zod schemas (one source of truth).
import type { z } from 'zod';

import type * as s from './schemas.js';

type O = s.OutputSchemas;
type J = s.JsonOutputSchemas;

export type AlertType = z.infer<typeof s.alertTypeSchema>;
export type AlertEventType = z.infer<typeof s.alertEventTypeSchema>;
export type AlertStatus = z.infer<typeof s.alertStatusSchema>;
export type Role = z.infer<typeof s.roleSchema>;

/// Outputs with the default transformer (superjson): timestamps are `Date`.
export type Alert = z.output<O['alert']>;
export type AlertWithEscalations = z.output<O['alertWithEscalations']>;
export type EscalationRecord = z.output<O['escalationRecord']>;
/// One record of the audit trail (`getAuditLog`; `time` is an ISO string with either transformer).
export type AuditRecord = z.output<O['auditRecord']>;
export type AlertEvent = z.output<O['alertEvent']>;
export type Metrics = z.output<O['metrics']>;
export type Presence = z.output<O['presence']>;
/// The one event vigild sends when a resume is impossible: refetch lists on it.
export type ResyncEvent = Extract<AlertEvent, { type: 'alert.updated' }> & {
  data: { resync: true; reason: 'unknown_event_id' | 'history_expired' };
};
export type ActiveAlertsOutput = z.output<O['getActiveAlerts']>;

/// Outputs of each procedure (superjson), by name.
export type Outputs = { [K in Exclude<keyof O, 'alert' | 'alertWithEscalations' | 'escalationRecord' | 'auditRecord' | 'alertEvent' | 'metrics' | 'presence'>]: z.output<O[K]> };
/// Outputs of each procedure in plain JSON (timestamps are ISO strings), by name.
export type JsonOutputs = { [K in keyof J]: z.output<J[K]> };
/// Inputs of each procedure, by name (what the caller passes).
export type Inputs = { [K in keyof typeof s.inputs]: z.input<(typeof s.inputs)[K]> };

export type AlertFilter = z.input<typeof s.alertFilterSchema>;

/// How a stream is currently fed: over the WebSocket, by HTTP polling while the WebSocket cannot
/// connect, or waiting for a (re)connection that has not failed yet.
export type StreamMode = 'live' | 'polling' | 'reconnecting';

/// True for the resync event (`alert.updated` with `data.resync`).
export function isResyncEvent(e: AlertEvent): e is ResyncEvent {
  return e.type === 'alert.updated' && (e.data as { resync?: unknown }).resync === true;
}

/// True for the seenBy update that follows delivery receipts (`alert.updated` with `data.seenBy`,
/// at most one a second per alert). It changes no list: only that alert's own queries show it.
export function isSeenByUpdate(e: AlertEvent): boolean {
  return e.type === 'alert.updated' && (e.data as { seenBy?: unknown }).seenBy !== undefined;
}
