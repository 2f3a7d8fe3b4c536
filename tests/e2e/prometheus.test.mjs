// /metrics after a scripted load (operations issue): the counters and gauges must equal what the
// script did. Each test file has its own server, so absolute values are known.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, newHospital } from './lib/clients.mjs';
import { metrics } from './lib/load.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The raw text of /metrics. */
async function metricsText(ctx) {
  const r = await ctx.http('/metrics');
  assert.equal(r.status, 200);
  return r.text;
}

/** Metric families of an exposition: name -> type, from the `# TYPE` lines. */
function families(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/** The metric names in the first column of the /metrics table of docs/operations.md. */
function documentedMetrics() {
  const doc = readFileSync(path.join(repo, 'docs', 'operations.md'), 'utf8');
  const start = doc.indexOf('\n## /metrics');
  assert.ok(start >= 0, 'docs/operations.md has a "## /metrics" section');
  const end = doc.indexOf('\n## ', start + 1);
  const names = new Set();
  for (const line of doc.slice(start, end < 0 ? undefined : end).split('\n')) {
    if (!line.startsWith('| `')) continue;
    const first = line.split('|')[1];
    for (const m of first.matchAll(/`((?:vigil|process)_[a-z_]+)(?:\{[^`]*\})?`/g)) names.add(m[1]);
  }
  return names;
}

/** Every vigil_/process_ name a PromQL text refers to. */
function referencedMetrics(promql) {
  return new Set([...promql.matchAll(/\b((?:vigil|process)_[a-z_]+)\b/g)].map((m) => m[1]));
}

/** The sample names a family exposes (histograms: _bucket, _sum, _count). */
function sampleNames(fams) {
  const out = new Set();
  for (const [name, type] of fams) {
    out.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) out.add(name + suffix);
  }
  return out;
}

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
    assert.equal(get('vigil_connections_closed_total{reason="slow_consumer"}'), 0);
    assert.ok(!m.has('vigil_slow_consumer_closes_total'), 'the duplicate counter is gone');
    // The commit-latency histogram counts every group commit.
    assert.equal(get('vigil_storage_commit_seconds_count'), get('vigil_storage_commits_total'));
    assert.equal(get('vigil_storage_commit_seconds_bucket{le="+Inf"}'), get('vigil_storage_commits_total'));
  });
});

describe('/metrics for operators: standard process metrics, build info, histograms, docs', () => {
  const ctx = useServer();

  test('process_* metrics are present and sane', async () => {
    const m = await metrics(ctx.port);
    const now = Date.now() / 1000;
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_virtual_memory_bytes',
      'process_open_fds', 'process_max_fds', 'process_start_time_seconds']) {
      assert.ok(m.has(name), `/metrics has ${name}`);
      assert.ok(Number.isFinite(m.get(name)) && m.get(name) >= 0, `${name} = ${m.get(name)}`);
    }
    assert.ok(m.get('process_resident_memory_bytes') > 1 << 20, 'RSS above 1 MiB');
    assert.ok(m.get('process_virtual_memory_bytes') >= m.get('process_resident_memory_bytes'));
    assert.ok(m.get('process_open_fds') >= 4, 'at least stdio and the listener');
    assert.ok(m.get('process_open_fds') < m.get('process_max_fds'));
    const start = m.get('process_start_time_seconds');
    assert.ok(start <= now + 1 && start > now - 120, `start time ${start} is within the test run (now ${now})`);
    // Agrees with vigild's own uptime (whole seconds, plus the time of the scrape).
    assert.ok(Math.abs(now - start - m.get('vigil_uptime_seconds')) <= 3);
    const cpu1 = m.get('process_cpu_seconds_total');
    const cpu2 = (await metrics(ctx.port)).get('process_cpu_seconds_total');
    assert.ok(cpu2 >= cpu1, 'CPU time only grows');
  });

  test('vigil_build_info names the version', async () => {
    const m = await metrics(ctx.port);
    const health = await ctx.http('/health');
    const version = JSON.parse(health.text).version;
    assert.equal(m.get(`vigil_build_info{version="${version}"}`), 1);
  });

  test('histogram buckets are cumulative, end with +Inf = _count, and bounds increase', async () => {
    const text = await metricsText(ctx);
    const fams = families(text);
    const histograms = [...fams].filter(([, t]) => t === 'histogram').map(([n]) => n);
    assert.deepEqual(histograms.sort(), ['vigil_publish_to_write_seconds', 'vigil_storage_commit_seconds']);
    for (const h of histograms) {
      const buckets = [...text.matchAll(new RegExp(`^${h}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))]
        .map((x) => [x[1] === '+Inf' ? Infinity : Number(x[1]), Number(x[2])]);
      assert.ok(buckets.length >= 2, h);
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(buckets[i][0] > buckets[i - 1][0], `${h}: bounds increase`);
        assert.ok(buckets[i][1] >= buckets[i - 1][1], `${h}: counts are cumulative`);
      }
      assert.equal(buckets.at(-1)[0], Infinity, `${h}: the last bucket is +Inf`);
      const count = Number(new RegExp(`^${h}_count (\\S+)$`, 'm').exec(text)[1]);
      assert.equal(buckets.at(-1)[1], count, `${h}: +Inf = _count`);
      assert.ok(Number(new RegExp(`^${h}_sum (\\S+)$`, 'm').exec(text)[1]) >= 0);
    }
  });

  test('every metric in docs/operations.md is exposed, and every exposed metric is documented', async () => {
    const exposed = new Set(families(await metricsText(ctx)).keys());
    const documented = documentedMetrics();
    const undocumented = [...exposed].filter((n) => !documented.has(n));
    const missing = [...documented].filter((n) => !exposed.has(n));
    assert.deepEqual(undocumented, [], 'exposed but not in the /metrics table of docs/operations.md');
    assert.deepEqual(missing, [], 'documented but not exposed');
  });

  test('alert rules and the Grafana dashboard only use metrics that exist', async () => {
    const samples = sampleNames(families(await metricsText(ctx)));
    const rules = readFileSync(path.join(repo, 'config', 'prometheus-rules.yml'), 'utf8');
    const exprs = [...rules.matchAll(/^\s*expr:\s*(.+)$/gm)].map((x) => x[1]);
    assert.ok(exprs.length >= 5, 'at least five alert rules');
    for (const alert of ['VigildDown', 'VigildNotReady', 'VigilSlowConsumerClosesRising', 'VigilCommitLatencyHigh',
      'VigilEscalationsFailing']) assert.match(rules, new RegExp(`alert: ${alert}\\b`));
    const dashboard = JSON.parse(readFileSync(path.join(repo, 'config', 'grafana-dashboard.json'), 'utf8'));
    const targets = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    assert.ok(targets.length >= 8, 'the dashboard has panels with queries');
    for (const expr of [...exprs, ...targets]) {
      for (const name of referencedMetrics(expr)) assert.ok(samples.has(name), `${name} (in ${expr}) is not exposed`);
    }
  });

  test('promtool accepts the rules and the exposition (skipped when promtool is not installed)', async (t) => {
    if (spawnSync('promtool', ['--version']).error) {
      t.skip('promtool not installed');
      return;
    }
    const rules = spawnSync('promtool', ['check', 'rules', path.join(repo, 'config', 'prometheus-rules.yml')], { encoding: 'utf8' });
    assert.equal(rules.status, 0, rules.stdout + rules.stderr);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-promtool-'));
    try {
      const file = path.join(dir, 'metrics.txt');
      writeFileSync(file, await metricsText(ctx));
      const lint = spawnSync('sh', ['-c', `promtool check metrics < ${file}`], { encoding: 'utf8' });
      assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
