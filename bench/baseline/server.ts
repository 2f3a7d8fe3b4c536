// The comparison server for `vigilctl bench`: the original app's design done right on tRPC's
// own WebSocket adapter. One process, everything in memory:
//
//   * @trpc/server 11 with `applyWSSHandler` (ws adapter) and the standalone HTTP handler on one
//     port, the same procedure names and inputs as vigild for the four procedures the benchmark
//     uses (createAlert, acknowledgeAlert, getActiveAlerts, subscribeToAlerts);
//   * the same HS256 JWT claims (sub, role, hospitals, exp), verified with node:crypto, read from
//     connectionParams (token / authorization) or the Authorization header;
//   * one EventEmitter per hospital, a 100-event in-memory history per hospital for lastEventId
//     resume (one resync event when the history no longer reaches back), events yielded with
//     tracked(id, event) so stock tRPC clients resume by themselves;
//   * a slow-consumer guard the adapter lacks: a socket whose send buffer passes 1 MiB is closed
//     with 4008, like vigild's outbound budget.
//
// What it deliberately does not do (vigild does): no durable storage, no escalation timers, no
// rate limits, no superjson. It is therefore doing strictly less work per event than vigild.
//
// Start:  tsx server.ts --port=0        (Node)     bun run server.ts --port=0   (Bun)
// Env/flags: --port (default 3001, 0 = any free port), --host (127.0.0.1),
//            --secret or AUTH_JWT_SECRET (default dev-secret-change-me).
// Logs ` event=listening port=<N>` on stderr once it accepts connections (vigild's wording).

import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { EventEmitter, on } from 'node:events';
import http from 'node:http';
import { initTRPC, tracked, TRPCError } from '@trpc/server';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';

// ---- configuration ----------------------------------------------------------------------------

function flag(name: string): string | undefined {
  const prefix = `--${name}=`;
  const hit = process.argv.find((a) => a.startsWith(prefix));
  return hit?.slice(prefix.length);
}

const port = Number(flag('port') ?? process.env.WEBSOCKET_PORT ?? 3001);
const host = flag('host') ?? '127.0.0.1';
const secret = flag('secret') ?? process.env.AUTH_JWT_SECRET ?? 'dev-secret-change-me';
const historySize = 100;
const outboundBudget = 1024 * 1024; // bytes waiting in a socket's send buffer before 4008

// ---- auth (HS256 JWT, docs/api.md "Authentication") -------------------------------------------

const roles = ['admin', 'head_doctor', 'doctor', 'nurse', 'operator', 'viewer'] as const;
type Role = (typeof roles)[number];
interface User {
  sub: string;
  role: Role;
  hospitals: string[];
  exp: number;
}

function verifyToken(token: string): User | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    if (header.alg !== 'HS256') return null;
    const expected = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
    const given = Buffer.from(parts[2], 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.sub !== 'string' || claims.sub === '') return null;
    if (!roles.includes(claims.role)) return null;
    if (!Array.isArray(claims.hospitals) || !claims.hospitals.every((h: unknown) => typeof h === 'string')) return null;
    if (typeof claims.exp !== 'number' || claims.exp <= now) return null;
    return { sub: claims.sub, role: claims.role, hospitals: claims.hospitals, exp: claims.exp };
  } catch {
    return null;
  }
}

function bearer(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const m = /^bearer\s+(.+)$/i.exec(value.trim());
  return m ? m[1] : null;
}

interface Context {
  user: User | null;
  socket: WebSocket | null; // the WebSocket of a WS call, for the slow-consumer guard
}

// ---- alerts, events, history -------------------------------------------------------------------

const alertTypes = ['cardiac_arrest', 'code_blue', 'fire', 'security', 'medical_emergency'] as const;

interface Alert {
  id: string;
  hospitalId: string;
  roomNumber: string;
  alertType: (typeof alertTypes)[number];
  urgencyLevel: number;
  description: string | null;
  status: 'active' | 'acknowledged' | 'resolved';
  escalationLevel: number;
  currentEscalationTier: number;
  nextEscalationAt: string | null;
  targetDepartment: string | null;
  patientId: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
  acknowledgementNotes: string | null;
  resolvedBy: string | null;
  resolvedAt: string | null;
  resolution: string | null;
}

interface AlertEvent {
  id: string;
  type: string;
  alertId: string;
  hospitalId: string;
  timestamp: string;
  data: unknown;
}

interface Hospital {
  alerts: Map<string, Alert>;
  history: AlertEvent[]; // the last `historySize` events, oldest first
  historySeq: number[]; // the seq of each history entry
  evictedUpTo: number; // the seq of the newest event that fell out of the history (0: none)
  emitter: EventEmitter;
}

// Event ids look like vigild's: <epoch>-<seq>, seq global and increasing.
const epoch = randomBytes(4).toString('hex');
let nextSeq = 1;
const hospitals = new Map<string, Hospital>();
const alertHospital = new Map<string, string>();

function hospital(id: string): Hospital {
  let h = hospitals.get(id);
  if (!h) {
    const emitter = new EventEmitter();
    emitter.setMaxListeners(0); // thousands of subscribers per hospital are expected
    h = { alerts: new Map(), history: [], historySeq: [], evictedUpTo: 0, emitter };
    hospitals.set(id, h);
  }
  return h;
}

function publish(h: Hospital, type: string, alert: Alert, data: unknown, at: string): AlertEvent {
  const seq = nextSeq++;
  const event: AlertEvent = { id: `${epoch}-${seq}`, type, alertId: alert.id, hospitalId: alert.hospitalId, timestamp: at, data };
  h.history.push(event);
  h.historySeq.push(seq);
  if (h.history.length > historySize) {
    h.history.shift();
    h.evictedUpTo = h.historySeq.shift() ?? 0;
  }
  h.emitter.emit('event', event);
  return event;
}

function parseSeq(eventId: string): number | null {
  const dash = eventId.lastIndexOf('-');
  if (dash < 0 || eventId.slice(0, dash) !== epoch) return null;
  const seq = Number(eventId.slice(dash + 1));
  return Number.isSafeInteger(seq) && seq >= 0 && seq < nextSeq ? seq : null;
}

// ---- tRPC ----------------------------------------------------------------------------------------

const t = initTRPC.context<Context>().create();

const authed = t.procedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Authentication required' });
  if (ctx.user.exp <= Math.floor(Date.now() / 1000)) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Token expired' });
  return next({ ctx: { ...ctx, user: ctx.user } });
});

function requireHospital(user: User, hospitalId: string, message = 'Access denied to this hospital'): void {
  if (!user.hospitals.includes(hospitalId)) throw new TRPCError({ code: 'FORBIDDEN', message });
}

function requireRole(user: User, allowed: readonly Role[], permission: string): void {
  if (!allowed.includes(user.role)) throw new TRPCError({ code: 'FORBIDDEN', message: `Access denied. Required permission: ${permission}` });
}

const hospitalId = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/);

const createAlertInput = z.object({
  hospitalId,
  roomNumber: z.string().regex(/^[A-Za-z0-9]{1,4}(-[A-Za-z0-9]{1,3})?$/),
  alertType: z.enum(alertTypes),
  urgencyLevel: z.number().int().min(1).max(5),
  description: z.string().max(500).optional(),
  targetDepartment: z.string().min(1).max(64).optional(),
  patientId: z.string().min(1).max(64).optional(),
  idempotencyKey: z.string().min(1).max(100).optional(),
});

const healthcare = t.router({
  createAlert: authed.input(createAlertInput).mutation(({ ctx, input }) => {
    requireRole(ctx.user, ['operator', 'nurse', 'doctor', 'head_doctor', 'admin'], 'create_alerts');
    requireHospital(ctx.user, input.hospitalId, 'Invalid hospital ID. You can only create alerts for your assigned hospital.');
    const h = hospital(input.hospitalId);
    const now = new Date();
    const at = now.toISOString();
    const alert: Alert = {
      id: randomUUID(),
      hospitalId: input.hospitalId,
      roomNumber: input.roomNumber.toUpperCase(),
      alertType: input.alertType,
      urgencyLevel: input.urgencyLevel,
      description: input.description ?? null,
      status: 'active',
      escalationLevel: 1,
      currentEscalationTier: 1,
      nextEscalationAt: new Date(now.getTime() + 120_000).toISOString(),
      targetDepartment: input.targetDepartment ?? null,
      patientId: input.patientId ?? null,
      createdBy: ctx.user.sub,
      createdAt: at,
      updatedAt: at,
      acknowledgedBy: null,
      acknowledgedAt: null,
      acknowledgementNotes: null,
      resolvedBy: null,
      resolvedAt: null,
      resolution: null,
    };
    h.alerts.set(alert.id, alert);
    alertHospital.set(alert.id, alert.hospitalId);
    publish(h, 'alert.created', alert, alert, at);
    return { success: true, alert };
  }),

  acknowledgeAlert: authed
    .input(
      z.object({
        alertId: z.string().uuid(),
        notes: z.string().min(1).max(500).optional(),
        urgencyAssessment: z.enum(['maintain', 'increase', 'decrease']).optional(),
        responseAction: z.enum(['responding', 'delayed', 'delegating', 'monitoring']).optional(),
        estimatedResponseTime: z.number().min(1).max(999).optional(),
        delegateTo: z.string().min(1).max(100).optional(),
      }),
    )
    .mutation(({ ctx, input }) => {
      requireRole(ctx.user, ['doctor', 'nurse', 'head_doctor', 'admin'], 'acknowledge_alerts');
      const hid = alertHospital.get(input.alertId.toLowerCase());
      const alert = hid ? hospital(hid).alerts.get(input.alertId.toLowerCase()) : undefined;
      if (!hid || !alert) throw new TRPCError({ code: 'NOT_FOUND', message: 'Alert not found' });
      requireHospital(ctx.user, hid);
      if (alert.status !== 'active') throw new TRPCError({ code: 'CONFLICT', message: 'Alert is not active' });
      const at = new Date().toISOString();
      const assessment = input.urgencyAssessment ?? 'maintain';
      if (assessment === 'increase') alert.urgencyLevel = Math.max(1, alert.urgencyLevel - 1);
      if (assessment === 'decrease') alert.urgencyLevel = Math.min(5, alert.urgencyLevel + 1);
      Object.assign(alert, {
        status: 'acknowledged',
        acknowledgedBy: ctx.user.sub,
        acknowledgedAt: at,
        acknowledgementNotes: input.notes ?? null,
        nextEscalationAt: null,
        updatedAt: at,
      });
      publish(hospital(hid), 'alert.acknowledged', alert, {
        acknowledgedBy: ctx.user.sub,
        acknowledgedAt: at,
        notes: input.notes ?? null,
        urgencyAssessment: assessment,
        responseAction: input.responseAction ?? null,
        estimatedResponseTime: input.estimatedResponseTime ?? null,
        delegateTo: input.delegateTo ?? null,
        urgencyLevel: alert.urgencyLevel,
      }, at);
      const responseTimeSeconds = Math.floor((Date.parse(at) - Date.parse(alert.createdAt)) / 1000);
      return { success: true, responseTimeSeconds, alert };
    }),

  getActiveAlerts: authed
    .input(z.object({ hospitalId, limit: z.number().int().min(1).max(100).optional(), offset: z.number().int().min(0).optional() }))
    .query(({ ctx, input }) => {
      requireHospital(ctx.user, input.hospitalId);
      const limit = input.limit ?? 20;
      const offset = input.offset ?? 0;
      const all = [...hospital(input.hospitalId).alerts.values()]
        .filter((a) => a.status === 'active')
        .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
      const page = all.slice(offset, offset + limit);
      const hasMore = offset + limit < all.length;
      return {
        alerts: page,
        total: all.length,
        pagination: { total: all.length, limit, offset, hasMore, nextCursor: hasMore ? String(offset + limit) : null },
      };
    }),

  // The listener is registered when the procedure is called (before `started` is sent), not
  // when the generator first runs, so no event committed after `started` can be missed.
  subscribeToAlerts: authed
    .input(z.object({ hospitalId, lastEventId: z.string().max(200).nullish() }))
    .subscription(({ ctx, input, signal }) => {
      requireHospital(ctx.user, input.hospitalId);
      const h = hospital(input.hospitalId);
      const live = on(h.emitter, 'event', { signal }) as AsyncIterableIterator<[AlertEvent]>;
      const socket = ctx.socket;
      // The history snapshot and the listener are taken in the same synchronous step, so the
      // replay and the live events neither overlap nor leave a gap.
      const replay: AlertEvent[] = [];
      if (input.lastEventId != null) {
        const after = parseSeq(input.lastEventId);
        if (after === null || after < h.evictedUpTo) {
          const newest = h.history.length > 0 ? h.history[h.history.length - 1].id : `${epoch}-${nextSeq - 1}`;
          replay.push({
            id: newest, type: 'alert.updated', alertId: '*', hospitalId: input.hospitalId, timestamp: new Date().toISOString(),
            data: { resync: true, reason: after === null ? 'unknown_event_id' : 'history_expired' },
          });
        } else {
          for (let i = 0; i < h.history.length; i++) if (h.historySeq[i] > after) replay.push(h.history[i]);
        }
      }
      return (async function* () {
        for (const event of replay) yield tracked(event.id, event);
        for await (const [event] of live) {
          if (socket && socket.bufferedAmount > outboundBudget) {
            socket.close(4008, 'slow consumer');
            setTimeout(() => socket.terminate(), 1000).unref();
            return;
          }
          yield tracked(event.id, event);
        }
      })();
    }),
});

const appRouter = t.router({ healthcare });
export type AppRouter = typeof appRouter;

// ---- transports ----------------------------------------------------------------------------------

const httpHandler = createHTTPHandler({
  router: appRouter,
  basePath: '/api/trpc/',
  createContext: ({ req }) => ({ user: verifyFrom(bearer(req.headers.authorization)), socket: null }),
});

function verifyFrom(token: string | null): User | null {
  return token ? verifyToken(token) : null;
}

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
    return;
  }
  httpHandler(req, res);
});

const wss = new WebSocketServer({ server });
applyWSSHandler<typeof appRouter>({
  wss,
  router: appRouter,
  keepAlive: { enabled: true, pingMs: 30_000, pongWaitMs: 5_000 },
  createContext: ({ req, res, info }) => {
    const params = info.connectionParams ?? {};
    const token = (typeof params.token === 'string' ? params.token : null) ?? bearer(params.authorization) ?? bearer(req.headers.authorization);
    return { user: verifyFrom(token), socket: res as unknown as WebSocket };
  },
});

server.listen(port, host, () => {
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? 'bun' : 'node';
  process.stderr.write(`level=info event=listening runtime=${runtime} host=${host} port=${actual}\n`);
});

function shutdown(): void {
  wss.close();
  server.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
