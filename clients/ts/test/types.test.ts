/// Type tests: compiled by `tsc --noEmit` (strict). A wrong type is a compile error; vitest runs
/// the file too (the assertions are no-ops at run time).
import { createTRPCClient, httpBatchLink, splitLink, wsLink, createWSClient } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import superjson from 'superjson';
import { describe, expectTypeOf, it } from 'vitest';

import {
  createVigilClient,
  useAlertSubscription,
  type Alert,
  type AlertEvent,
  type AppRouter,
  type AppRouterJson,
  type Inputs,
  type Metrics,
  type Outputs,
  type StreamMode,
} from '../src/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(_ok?: T) => undefined;

type In = inferRouterInputs<AppRouter>['healthcare'];
type Out = inferRouterOutputs<AppRouter>['healthcare'];
type OutJson = inferRouterOutputs<AppRouterJson>['healthcare'];

describe('types', () => {
  it('inputs mirror the server', () => {
    assertType<Equal<In['createAlert']['alertType'], 'cardiac_arrest' | 'code_blue' | 'fire' | 'security' | 'medical_emergency'>>();
    assertType<Equal<In['createAlert']['urgencyLevel'], number>>();
    assertType<Equal<In['createAlert']['description'], string | null | undefined>>();
    assertType<Equal<In['acknowledgeAlert']['urgencyAssessment'], 'maintain' | 'increase' | 'decrease' | null | undefined>>();
    assertType<Equal<In['getActiveAlerts']['sortBy'], 'createdAt' | 'urgencyLevel' | 'acknowledgedAt' | null | undefined>>();
    assertType<Equal<In['getAlertHistory']['startDate'], Date | string | null | undefined>>();
    assertType<Equal<In['batchResolveAlerts']['alertIds'], string[]>>();
    assertType<Equal<In['subscribeToAlerts']['lastEventId'], string | null | undefined>>();
    expectTypeOf<In['subscribeToAlerts']['filter']>().toEqualTypeOf<
      | {
          types?: ('alert.created' | 'alert.escalated' | 'alert.updated' | 'alert.acknowledged' | 'alert.resolved')[] | null | undefined;
          maxUrgencyLevel?: number | null | undefined;
          alertTypes?: ('cardiac_arrest' | 'code_blue' | 'fire' | 'security' | 'medical_emergency')[] | null | undefined;
        }
      | null
      | undefined
    >();
    assertType<Equal<Inputs['resolveAlert'], In['resolveAlert']>>();
  });

  it('outputs: Date under superjson, string in plain JSON', () => {
    assertType<Equal<Out['getAlert']['createdAt'], Date>>();
    assertType<Equal<Out['getAlert']['acknowledgedAt'], Date | null>>();
    assertType<Equal<OutJson['getAlert']['createdAt'], string>>();
    assertType<Equal<Out['getActiveAlerts']['pagination']['nextCursor'], string | null>>();
    assertType<Equal<Out['createAlert']['success'], true>>();
    assertType<Equal<Out['batchAcknowledgeAlerts']['errors'], { alertId: string; error: string }[]>>();
    assertType<Equal<Out['getMetrics'], Metrics>>();
    assertType<Equal<Out['getActiveAlerts']['alerts'][number], Alert>>();
    assertType<Equal<Outputs['getEscalationStatus'], Out['getEscalationStatus']>>();
    assertType<Equal<In['getAuditLog']['cursor'], number | null | undefined>>();
    assertType<Equal<Out['getAuditLog']['records'][number]['time'], string>>();
    assertType<Equal<Out['getAuditLog']['nextCursor'], number | null>>();
    assertType<Equal<OutJson['getAuditLog'], Out['getAuditLog']>>();
    assertType<Equal<Alert['status'], 'active' | 'acknowledged' | 'resolved'>>();
  });

  it('events are a union narrowed by type', () => {
    const narrow = (e: AlertEvent) => {
      if (e.type === 'alert.created') expectTypeOf(e.data).toEqualTypeOf<Alert>();
      if (e.type === 'alert.escalated') expectTypeOf(e.data.toTier).toEqualTypeOf<number>();
      if (e.type === 'alert.resolved') expectTypeOf(e.data.resolvedAt).toEqualTypeOf<Date>();
    };
    void narrow;
  });

  it('an app written against AppRouter with the plain tRPC client type-checks', () => {
    const app = () => {
      const wsClient = createWSClient({ url: 'ws://localhost:3001/api/trpc', connectionParams: { token: 't' } });
      const trpc = createTRPCClient<AppRouter>({
        links: [
          splitLink({
            condition: (op) => op.type === 'subscription',
            true: wsLink({ client: wsClient, transformer: superjson }),
            false: httpBatchLink({ url: 'http://localhost:3001/api/trpc', transformer: superjson }),
          }),
        ],
      });
      const sub = trpc.healthcare.subscribeToAlerts.subscribe(
        { hospitalId: 'icu-west', filter: { types: ['alert.created'] } },
        { onData: (e) => expectTypeOf(e).toEqualTypeOf<AlertEvent>() },
      );
      sub.unsubscribe();
      const p = trpc.healthcare.acknowledgeAlert.mutate({ alertId: 'x', responseAction: 'responding' });
      expectTypeOf(p).resolves.toHaveProperty('responseTimeSeconds');
      // @ts-expect-error: not a known alert type
      void trpc.healthcare.createAlert.mutate({ hospitalId: 'h', roomNumber: '1', alertType: 'flood', urgencyLevel: 1 });
      // @ts-expect-error: hospitalId is required
      void trpc.healthcare.getMetrics.query({});
    };
    void app;
  });

  it('the vigil client and hooks', () => {
    const f = () => {
      const c = createVigilClient({ url: 'http://localhost:3001', getToken: async () => 'jwt' });
      expectTypeOf(c.trpc.healthcare.getAlert.query).returns.resolves.toHaveProperty('escalations');
      const j = createVigilClient({ url: 'http://localhost:3001', transformer: 'json' });
      expectTypeOf(j.trpc.healthcare.getMetrics.query).returns.resolves.toHaveProperty('timestamp').toEqualTypeOf<string>();
      // the seed's call
      const s = useAlertSubscription({ hospitalId: 'icu-west', onEvent: (e) => expectTypeOf(e).toEqualTypeOf<AlertEvent>() });
      expectTypeOf(s.mode).toEqualTypeOf<StreamMode>();
      expectTypeOf(s.events).toEqualTypeOf<AlertEvent[]>();
      expectTypeOf(s.lastEventId).toEqualTypeOf<string | undefined>();
      expectTypeOf(s.isConnected).toEqualTypeOf<boolean>();
    };
    void f;
  });
});
