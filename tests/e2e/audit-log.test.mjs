// The info-level log lets an operator audit who connected from where, which authentications
// failed and why, and who acknowledged, escalated, transferred and resolved which alert, without
// ever containing a token or an alert's free text.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useServer, team } from './lib/fixture.mjs';
import { alertInput, newHospital, withTimeout } from './lib/clients.mjs';
import { parseLogfmt } from './lib/server.mjs';
import { badSignatureToken, expiredToken } from './lib/tokens.mjs';

describe('audit log (log.level info)', () => {
  const ctx = useServer({ args: ['--log.level=info'] });

  /** The parsed log lines of `event` (all of them so far). */
  const events = (event) => ctx.server.stderrLines
    .filter((l) => l.includes(` event=${event} `) || l.endsWith(` event=${event}`))
    .map(parseLogfmt);

  /** Resolves with the first line of `event` matching `pred`, as soon as vigild writes it. */
  const waitLog = (event, pred, what) => withTimeout(new Promise((resolve) => {
    const check = () => {
      const hit = events(event).find(pred);
      if (hit) {
        ctx.server.child.stderr.off('data', check);
        resolve(hit);
      }
      return hit;
    };
    if (!check()) ctx.server.child.stderr.on('data', check);
  }), 5000, `log line ${event} ${what}\n${ctx.server.tail(20)}`);

  /** The server's view of a client socket: its local address and port. */
  const peerOf = (raw) => `127.0.0.1:${raw.ws._socket.localPort}`;

  test('connections, authentication and alert changes are logged with ids, never tokens or text', async () => {
    const H = newHospital();
    const T = team(H);
    const secretText = `audit-free-text-${Date.now()}`;

    // An authenticated connection: opened, authenticated, closed (with the client's code).
    const raw = await ctx.raw({ token: T.head_doctor, label: 'auditor' });
    const peer = peerOf(raw);
    const opened = await waitLog('connection_opened', (l) => l.peer === peer, `peer=${peer}`);
    assert.equal(opened.level, 'info');
    assert.match(opened.conn, /^\d+$/);
    const conn = opened.conn;
    const r = await raw.call(1, 'query', 'healthcare.getMetrics', { hospitalId: H });
    assert.ok(r.result, JSON.stringify(r));
    const authed = await waitLog('connection_authenticated', (l) => l.conn === conn, `conn=${conn}`);
    assert.equal(authed.sub, T.subs.head_doctor);
    assert.equal(authed.role, 'head_doctor');

    // Failed authentications, with the reason and the peer.
    const bad = badSignatureToken({ hospitals: [H], role: 'nurse' });
    const badRaw = await ctx.raw({ token: bad, label: 'bad signature' });
    const badPeer = peerOf(badRaw);
    const badFail = await waitLog('auth_failed', (l) => l.peer === badPeer, `peer=${badPeer}`);
    assert.equal(badFail.reason, 'bad_signature');
    assert.equal(badFail.transport, 'ws');
    assert.match(badFail.conn, /^\d+$/);
    const expired = expiredToken({ hospitals: [H], role: 'nurse' });
    const oldRaw = await ctx.raw({ token: expired, label: 'expired' });
    const oldPeer = peerOf(oldRaw);
    assert.equal((await waitLog('auth_failed', (l) => l.peer === oldPeer, `peer=${oldPeer}`)).reason, 'expired');
    const anonRaw = await ctx.raw({ label: 'anonymous' });
    const anonPeer = peerOf(anonRaw);
    assert.equal((await waitLog('auth_failed', (l) => l.peer === anonPeer, `peer=${anonPeer}`)).reason, 'missing');
    const httpBad = await ctx.http(`/api/trpc/healthcare.getMetrics?input=${encodeURIComponent(JSON.stringify({ hospitalId: H }))}`, { token: bad });
    assert.equal(httpBad.status, 401);
    const httpFail = await waitLog('auth_failed', (l) => l.transport === 'http', 'transport=http');
    assert.equal(httpFail.reason, 'bad_signature');
    assert.match(httpFail.peer, /^127\.0\.0\.1:\d+$/);

    // Alert changes: who did what to which alert.
    const nurse = ctx.client({ token: T.nurse });
    const boss = ctx.client({ token: T.head_doctor });
    const { alert } = await nurse.h.createAlert.mutate(alertInput(H, { description: `${secretText} description` }));
    await boss.h.triggerEscalation.mutate({ alertId: alert.id, reason: `${secretText} reason` });
    const esc = await waitLog('alert_escalated', (l) => l.alert === alert.id, `alert=${alert.id}`);
    assert.deepEqual({ ...esc, ts: undefined }, {
      ts: undefined, level: 'info', event: 'alert_escalated', hospital: H, alert: alert.id, tier: '2',
      by: T.subs.head_doctor, role: 'head_doctor',
    });
    await nurse.h.acknowledgeAlert.mutate({ alertId: alert.id, notes: `${secretText} notes` });
    const ack = await waitLog('alert_acknowledged', (l) => l.alert === alert.id, `alert=${alert.id}`);
    assert.deepEqual({ ...ack, ts: undefined }, {
      ts: undefined, level: 'info', event: 'alert_acknowledged', hospital: H, alert: alert.id,
      by: T.subs.nurse, role: 'nurse',
    });
    await boss.h.resolveAlert.mutate({ alertId: alert.id, resolution: `${secretText} resolution` });
    const res = await waitLog('alert_resolved', (l) => l.alert === alert.id, `alert=${alert.id}`);
    assert.deepEqual({ ...res, ts: undefined }, {
      ts: undefined, level: 'info', event: 'alert_resolved', hospital: H, alert: alert.id,
      by: T.subs.head_doctor, role: 'head_doctor',
    });

    // Closing: the code the client sent, the peer and the subject.
    raw.ws.close(1000, 'done');
    await raw.waitClose();
    const closed = await waitLog('connection_closed', (l) => l.conn === conn, `conn=${conn}`);
    assert.equal(closed.peer, peer);
    assert.equal(closed.sub, T.subs.head_doctor);
    assert.equal(closed.code, '1000');
    badRaw.terminate();
    const badClosed = await waitLog('connection_closed', (l) => l.conn === badFail.conn, `conn=${badFail.conn}`);
    assert.equal(badClosed.sub, '');
    assert.equal(badClosed.code, '1006');

    // Nothing secret or patient-related anywhere in the log.
    const logs = ctx.server.logs();
    for (const token of [T.head_doctor, T.nurse, bad, expired]) {
      assert.ok(!logs.includes(token), 'a token is in the log');
      assert.ok(!logs.includes(token.split('.')[2]), 'a token signature is in the log');
    }
    assert.ok(!logs.includes(secretText), `alert free text is in the log:\n${logs}`);
  });
});
