/// zod schemas that mirror vigild's validation (domain/procedures.cpp) and outputs
/// (domain/alert.cpp, domain/queries.cpp). docs/api.md is the prose form of the same rules.
///
/// Inputs are the same for both transformers. Outputs depend on the transformer only in how a
/// timestamp arrives: a `Date` under superjson, an ISO-8601 string with milliseconds in plain JSON.
/// `makeOutputSchemas` builds both families from one description so they cannot differ otherwise.
/// Output objects are `.strict()`: the contract test fails on a key the server adds or drops.
import { z } from 'zod';

// ----------------------------------------------------------------------------------------------
// enums

export const ALERT_TYPES = ['cardiac_arrest', 'code_blue', 'fire', 'security', 'medical_emergency'] as const;
export const ALERT_EVENT_TYPES = [
  'alert.created', 'alert.escalated', 'alert.updated', 'alert.acknowledged', 'alert.resolved',
] as const;
export const ALERT_STATUSES = ['active', 'acknowledged', 'resolved'] as const;
export const ROLES = ['admin', 'head_doctor', 'doctor', 'nurse', 'operator', 'viewer'] as const;
export const URGENCY_ASSESSMENTS = ['maintain', 'increase', 'decrease'] as const;
export const RESPONSE_ACTIONS = ['responding', 'delayed', 'delegating', 'monitoring'] as const;
export const STATUS_FILTERS = ['active', 'acknowledged', 'resolved', 'all'] as const;
export const SORT_FIELDS = ['createdAt', 'urgencyLevel', 'acknowledgedAt'] as const;
export const SORT_ORDERS = ['asc', 'desc'] as const;
export const RESYNC_REASONS = ['unknown_event_id', 'history_expired'] as const;

export const alertTypeSchema = z.enum(ALERT_TYPES);
export const alertEventTypeSchema = z.enum(ALERT_EVENT_TYPES);
export const alertStatusSchema = z.enum(ALERT_STATUSES);
export const roleSchema = z.enum(ROLES);

// ----------------------------------------------------------------------------------------------
// input building blocks (bounds as in build_schema() of domain/procedures.cpp)

const HOSPITAL_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
const ROOM_NUMBER = /^[A-Z0-9]{1,4}(-[A-Z0-9]{1,3})?$/;

export const hospitalIdSchema = z.string().regex(HOSPITAL_ID, 'Invalid hospital id');
export const uuidSchema = z.string().uuid();
/// 1..10 characters, upper-cased by the server, then the room pattern.
export const roomNumberSchema = z
  .string()
  .min(1)
  .max(10)
  .transform((s) => s.toUpperCase())
  .pipe(z.string().regex(ROOM_NUMBER, 'Invalid room number format'));
const urgencyLevel = z.number().int().min(1).max(5);
const offset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/// A timestamp input: a Date (superjson) or an ISO-8601 string with `Z` or an offset.
export const timestampInputSchema = z.union([z.date(), z.string().datetime({ offset: true })]);
/// The server treats an optional field sent as null as absent, hence `nullish`.
const opt = <T extends z.ZodTypeAny>(s: T) => s.nullish();
const lastEventId = opt(z.string().max(200));

export const createAlertInput = z.object({
  hospitalId: hospitalIdSchema,
  roomNumber: roomNumberSchema,
  alertType: alertTypeSchema,
  urgencyLevel,
  description: opt(z.string().max(500)),
  targetDepartment: opt(z.string().min(1).max(64)),
  patientId: opt(z.string().min(1).max(64)),
  idempotencyKey: opt(z.string().min(1).max(100)),
});

export const acknowledgeAlertInput = z
  .object({
    alertId: uuidSchema,
    notes: opt(z.string().min(1).max(500)),
    urgencyAssessment: opt(z.enum(URGENCY_ASSESSMENTS)),
    responseAction: opt(z.enum(RESPONSE_ACTIONS)),
    estimatedResponseTime: opt(z.number().min(1).max(999)),
    delegateTo: opt(z.string().min(1).max(100)),
  })
  .superRefine((v, ctx) => {
    if (v.responseAction === 'delegating' && (v.delegateTo === undefined || v.delegateTo === null)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['delegateTo'],
        message: 'delegateTo is required when responseAction is delegating',
      });
    }
  });

export const resolveAlertInput = z.object({ alertId: uuidSchema, resolution: z.string().min(10).max(1000) });
export const triggerEscalationInput = z.object({ alertId: uuidSchema, reason: opt(z.string().max(500)) });
export const updateAlertInput = z
  .object({ alertId: uuidSchema, description: opt(z.string().max(500)), urgencyLevel: opt(urgencyLevel) })
  .superRefine((v, ctx) => {
    if ((v.description === undefined || v.description === null) && (v.urgencyLevel === undefined || v.urgencyLevel === null)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'At least one of description, urgencyLevel is required' });
    }
  });
export const transferAlertInput = z.object({
  alertId: uuidSchema,
  toUserId: z.string().min(1).max(100),
  reason: z.string().min(1).max(500),
});
const alertIds = z.array(uuidSchema).min(1).max(50);
export const batchAcknowledgeAlertsInput = z.object({ alertIds, notes: opt(z.string().min(1).max(500)) });
export const batchResolveAlertsInput = z.object({ alertIds, resolution: z.string().min(10).max(1000) });

export const getActiveAlertsInput = z.object({
  hospitalId: hospitalIdSchema,
  status: opt(z.enum(STATUS_FILTERS)),
  urgencyLevel: opt(urgencyLevel),
  alertType: opt(alertTypeSchema),
  sortBy: opt(z.enum(SORT_FIELDS)),
  sortOrder: opt(z.enum(SORT_ORDERS)),
  limit: opt(z.number().int().min(1).max(100)),
  offset: opt(offset),
  cursor: opt(z.string()),
});
export const alertIdInput = z.object({ alertId: uuidSchema });
export const hospitalIdInput = z.object({ hospitalId: hospitalIdSchema });
export const getAlertHistoryInput = z.object({
  hospitalId: hospitalIdSchema,
  startDate: opt(timestampInputSchema),
  endDate: opt(timestampInputSchema),
  limit: opt(z.number().int().min(1).max(100)),
  offset: opt(offset),
});
export const alertFilterSchema = z.object({
  types: opt(z.array(alertEventTypeSchema).min(1)),
  maxUrgencyLevel: opt(urgencyLevel),
  alertTypes: opt(z.array(alertTypeSchema).min(1)),
});
export const subscribeToAlertsInput = z.object({
  hospitalId: hospitalIdSchema,
  lastEventId,
  filter: opt(alertFilterSchema),
});
export const subscribeToAlertInput = z.object({ alertId: uuidSchema, lastEventId });
export const subscribeToMetricsInput = z.object({
  hospitalId: hospitalIdSchema,
  interval: opt(z.number().int().min(1000).max(60000)),
});
export const subscribeToPresenceInput = hospitalIdInput;
/// `<epoch>-<seq>` (domain/event_id.hpp): 8 characters [a-z0-9], a dash, 1..19 digits.
export const EVENT_ID = /^[a-z0-9]{8}-[0-9]{1,19}$/;
export const getAuditLogInput = z.object({
  hospitalId: hospitalIdSchema,
  cursor: opt(z.number().int().min(1)),
  limit: opt(z.number().int().min(1).max(500)),
});
export const confirmDeliveryInput = z.object({
  hospitalId: hospitalIdSchema,
  eventIds: z.array(z.string().regex(EVENT_ID, 'Invalid event id')).min(1).max(100),
});

// ----------------------------------------------------------------------------------------------
// outputs

/// ISO-8601 UTC with milliseconds, the only timestamp form vigild writes.
export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const dateTimestamp = z.date();
export const stringTimestamp = z.string().regex(ISO_MS, 'Expected an ISO-8601 UTC timestamp with milliseconds');

/// Builds every output schema with `ts` as the timestamp schema.
export function makeOutputSchemas<TS extends z.ZodTypeAny>(ts: TS) {
  const int = z.number().int();
  const alert = z
    .object({
      id: uuidSchema,
      hospitalId: z.string(),
      roomNumber: z.string(),
      alertType: alertTypeSchema,
      urgencyLevel: int.min(1).max(5),
      description: z.string().nullable(),
      status: alertStatusSchema,
      escalationLevel: int,
      currentEscalationTier: int,
      nextEscalationAt: ts.nullable(),
      targetDepartment: z.string().nullable(),
      patientId: z.string().nullable(),
      createdBy: z.string(),
      createdAt: ts,
      updatedAt: ts,
      acknowledgedBy: z.string().nullable(),
      acknowledgedAt: ts.nullable(),
      acknowledgementNotes: z.string().nullable(),
      resolvedBy: z.string().nullable(),
      resolvedAt: ts.nullable(),
      resolution: z.string().nullable(),
    })
    .strict();
  const escalationRecord = z
    .object({
      fromTier: int,
      toTier: int,
      toRole: z.string(),
      escalatedAt: ts,
      escalatedBy: z.string(),
      reason: z.string().nullable(),
      /// Only on the failsafe's last-tier call (fromTier == toTier).
      unattended: z.literal(true).optional(),
    })
    .strict();
  const receipt = z
    .object({ userId: z.string(), role: roleSchema, seenAt: ts, eventId: z.string() })
    .strict();
  /// Users with a receipt, per role (roles without one are left out).
  const seenBy = z.record(roleSchema, int);
  const alertWithEscalations = alert
    .extend({
      escalations: z.array(escalationRecord),
      receipts: z.array(receipt),
      seenBy,
      attendedTier: int,
    })
    .strict();

  const eventBase = { id: z.string(), alertId: z.string(), hospitalId: z.string(), timestamp: ts };
  const updateData = z
    .object({
      description: z.string().optional(),
      urgencyLevel: int.min(1).max(5).optional(),
      updatedBy: z.string(),
      updatedAt: ts,
    })
    .strict();
  const transferData = z
    .object({
      acknowledgedBy: z.string(),
      transferredFrom: z.string().nullable(),
      reason: z.string().nullable(),
      updatedBy: z.string(),
      updatedAt: ts,
    })
    .strict();
  const seenByData = z.object({ seenBy, updatedBy: z.string(), updatedAt: ts }).strict();
  const resyncData = z.object({ resync: z.literal(true), reason: z.enum(RESYNC_REASONS) }).strict();
  const acknowledgedData = z
    .object({
      acknowledgedBy: z.string(),
      acknowledgedAt: ts,
      notes: z.string().nullable(),
      urgencyAssessment: z.enum(URGENCY_ASSESSMENTS),
      responseAction: z.enum(RESPONSE_ACTIONS).nullable(),
      estimatedResponseTime: z.number().nullable(),
      delegateTo: z.string().nullable(),
      urgencyLevel: int.min(1).max(5),
    })
    .strict();
  const resolvedData = z
    .object({ resolvedBy: z.string(), resolution: z.string(), resolvedAt: ts })
    .strict();

  const createdEvent = z.object({ ...eventBase, type: z.literal('alert.created'), data: alert }).strict();
  const escalatedEvent = z.object({ ...eventBase, type: z.literal('alert.escalated'), data: escalationRecord }).strict();
  const updatedEvent = z
    .object({ ...eventBase, type: z.literal('alert.updated'), data: z.union([resyncData, transferData, seenByData, updateData]) })
    .strict();
  const acknowledgedEvent = z
    .object({ ...eventBase, type: z.literal('alert.acknowledged'), data: acknowledgedData })
    .strict();
  const resolvedEvent = z.object({ ...eventBase, type: z.literal('alert.resolved'), data: resolvedData }).strict();
  const alertEvent = z.discriminatedUnion('type', [
    createdEvent, escalatedEvent, updatedEvent, acknowledgedEvent, resolvedEvent,
  ]);

  const metrics = z
    .object({
      activeAlerts: int,
      criticalAlerts: int,
      staffOnline: int,
      responseRate: z.number().min(0).max(1),
      avgResponseTime: int,
      avgResponseTimeSec: int,
      timestamp: ts,
    })
    .strict();
  const presence = z
    .object({
      hospitalId: z.string(),
      count: int,
      online: z.array(
        z.object({ userId: z.string(), name: z.string().nullable(), role: roleSchema, since: ts }).strict(),
      ),
      timestamp: ts,
    })
    .strict();

  const success = z.literal(true);
  const batchError = z.object({ alertId: z.string(), error: z.string() }).strict();
  const escalationItem = z
    .object({
      id: uuidSchema,
      roomNumber: z.string(),
      alertType: alertTypeSchema,
      urgencyLevel: int,
      currentEscalationTier: int,
      nextEscalationAt: ts.nullable(),
      createdAt: ts,
      timeUntilEscalation: z.number().nullable(),
      isOverdue: z.boolean(),
    })
    .strict();

  // `time` is an ISO string with either transformer (vigild marks only alert timestamps as Date).
  const auditRecord = z
    .object({
      seq: int,
      time: z.string().regex(ISO_MS),
      userId: z.string().nullable(),
      role: z.string().nullable(),
      hospitalId: z.string().nullable(),
      alertId: z.string().nullable(),
      action: z.string(),
      outcome: z.string(),
      connectionId: int,
      remoteAddress: z.string().nullable(),
      prevHash: z.string(),
      hash: z.string(),
    })
    .strict();

  return {
    alert,
    escalationRecord,
    auditRecord,
    alertWithEscalations,
    alertEvent,
    metrics,
    presence,
    createAlert: z.object({ success, alert }).strict(),
    acknowledgeAlert: z.object({ success, responseTimeSeconds: int, alert }).strict(),
    resolveAlert: z.object({ success, alert }).strict(),
    triggerEscalation: z
      .object({ success, alertId: z.string(), fromTier: int, toTier: int, alert })
      .strict(),
    updateAlert: z.object({ success, alert }).strict(),
    transferAlert: z.object({ success, transferredTo: z.string(), alert }).strict(),
    batchAcknowledgeAlerts: z
      .object({ success: z.boolean(), acknowledged: z.array(z.string()), errors: z.array(batchError) })
      .strict(),
    batchResolveAlerts: z
      .object({ success: z.boolean(), resolved: z.array(z.string()), errors: z.array(batchError) })
      .strict(),
    confirmDelivery: z.object({ confirmed: int, ignored: int }).strict(),
    getActiveAlerts: z
      .object({
        alerts: z.array(alert),
        total: int,
        pagination: z
          .object({ total: int, limit: int, offset: int, hasMore: z.boolean(), nextCursor: z.string().nullable() })
          .strict(),
      })
      .strict(),
    getAlert: alertWithEscalations,
    getMetrics: metrics,
    getEscalationStatus: z
      .object({
        alertId: z.string(),
        currentTier: int,
        maxTier: int,
        currentTierConfig: z
          .object({ role: z.string(), timeoutMinutes: z.number().nullable(), nextRole: z.string().nullable() })
          .strict()
          .nullable(),
        timeUntilNextEscalation: z.number().nullable(),
        escalationHistory: z.array(escalationRecord),
        canEscalate: z.boolean(),
      })
      .strict(),
    getActiveEscalations: z
      .object({ totalActive: int, byTier: z.record(z.string(), z.array(escalationItem)), overdue: int })
      .strict(),
    getAlertTimeline: z
      .object({
        alert: alertWithEscalations,
        timeline: z.array(alertEvent),
        responseTime: int.nullable(),
        resolutionTime: int.nullable(),
      })
      .strict(),
    getAlertHistory: z.object({ alerts: z.array(alert), total: int }).strict(),
    getAlertStats: z
      .object({ active: int, acknowledged: int, resolved24h: int, escalated: int, avgResponseTime: int })
      .strict(),
    getAuditLog: z.object({ records: z.array(auditRecord), nextCursor: int.nullable() }).strict(),
  };
}

/// Outputs as the superjson transformer delivers them (timestamps are `Date`).
export const outputs = makeOutputSchemas(dateTimestamp);
/// Outputs as plain JSON delivers them (timestamps are ISO strings).
export const jsonOutputs = makeOutputSchemas(stringTimestamp);

/// Every procedure's input schema, by name.
export const inputs = {
  createAlert: createAlertInput,
  acknowledgeAlert: acknowledgeAlertInput,
  resolveAlert: resolveAlertInput,
  triggerEscalation: triggerEscalationInput,
  updateAlert: updateAlertInput,
  transferAlert: transferAlertInput,
  batchAcknowledgeAlerts: batchAcknowledgeAlertsInput,
  batchResolveAlerts: batchResolveAlertsInput,
  confirmDelivery: confirmDeliveryInput,
  getActiveAlerts: getActiveAlertsInput,
  getAlert: alertIdInput,
  getMetrics: hospitalIdInput,
  getEscalationStatus: alertIdInput,
  getActiveEscalations: hospitalIdInput,
  getAlertTimeline: alertIdInput,
  getAlertHistory: getAlertHistoryInput,
  getAlertStats: hospitalIdInput,
  getAuditLog: getAuditLogInput,
  subscribeToAlerts: subscribeToAlertsInput,
  subscribeToAlert: subscribeToAlertInput,
  subscribeToMetrics: subscribeToMetricsInput,
  subscribeToPresence: subscribeToPresenceInput,
} as const;

export type OutputSchemas = typeof outputs;
export type JsonOutputSchemas = typeof jsonOutputs;
