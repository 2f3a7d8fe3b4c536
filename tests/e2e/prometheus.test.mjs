// /metrics after a scripted load (operations issue): the counters and gauges must equal what the
// script did. Each test file has its own server, so absolute values are known.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, newHospital } from './lib/clients.mjs';
import { metrics } from './lib/load.mjs';

describe('/metrics after a scripted load', () => {
  const ctx = useServer();

  test('connections, subscriptions, events, deliveries, rejections, auth failures, storage, latency', async () => {
    const H = newHospital();
    const T = team(H);
    const a = await ctx.raw({ token: T.viewer, label: 'sub-a' });
    const b = await ctx.raw({ token: T.viewer, label: 'sub-b' });
    await a.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });
    await b.subscribe(1, 'healthcare.subscribeToAlerts', { hospitalId: H });
    const pub = await ctx.raw({ token: T.nurse, label: 'publisher' });
    const ids = [];
    for (let i = 0; i < 5; i++) {
      const r = await pub.call(10 + i, 'mutation', 'healthcare.createAlert', alertInput(H));
      assert.ok(r.result, JSON.stringify(r));
      ids.push(r.result.data.alert.id);
    }
    const ack = await pub.call(20, 'mutation', 'healthcare.acknowledgeAlert', { alertId: ids[0] });
    assert.ok(ack.result, JSON.stringify(ack));
    await a.dataN(1, 6);
    await b.dataN(1, 6);
    // Rejections: one bad input, one unauthenticated socket call.
    const bad = await pub.call(30, 'mutation', 'healthcare.createAlert', { hospitalId: H });
    assert.equal(bad.error.data.code, 'BAD_REQUEST');
    const anon = await ctx.raw({ token: null, label: 'anon' });
    const denied = await anon.call(1, 'query', 'healthcare.getMetrics', { hospitalId: H });
    assert.equal(denied.error.data.code, 'UNAUTHORIZED');

    const m = await metrics(ctx.port);
    const get = (name) => {
      assert.ok(m.has(name), `/metrics has no sample ${name}`);
      return m.get(name);
    };
    assert.equal(get('vigil_connections'), 4, 'a, b, publisher, anon');
    assert.equal(get('vigil_connections_opened_total'), 4);
    assert.equal(get('vigil_subscriptions'), 2);
    assert.equal(get('vigil_events_published_total'), 6, '5 created + 1 acknowledged');
    assert.equal(get('vigil_events_delivered_total'), 12, '6 events to 2 subscribers');
    assert.equal(get('vigil_storage_commit_items_total'), 6);
    assert.ok(get('vigil_storage_commits_total') >= 1 && get('vigil_storage_commits_total') <= 6);
    assert.equal(get('vigil_storage_commit_failures_total'), 0);
    assert.equal(get('vigil_rejected_requests_total{code="BAD_REQUEST"}'), 1);
    assert.equal(get('vigil_rejected_requests_total{code="UNAUTHORIZED"}'), 1);
    assert.equal(get('vigil_auth_failures_total{reason="missing"}'), 1);
    assert.equal(get('vigil_publish_to_write_seconds_count'), 12, 'one latency sample per delivered frame');
    assert.equal(get('vigil_publish_to_write_seconds_bucket{le="+Inf"}'), 12);
    assert.equal(get('vigil_slow_consumer_closes_total'), 0);
  });
});
