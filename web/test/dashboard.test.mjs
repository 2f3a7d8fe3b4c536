// The ward dashboard in a real browser (headless Debian Chromium, puppeteer-core) against a real
// vigild serving web/dist. One server and browser for the file; each test uses its own hospital.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { VigilServer } from '../../tests/e2e/lib/server.mjs';
import {
  DESKTOP, PHONE, WALL, axe, call, createAlert, mintToken, openDashboard, rowSelector, screenshot,
  clickAt, startStack, traceConnection, waitForConnection, waitForNoRow, waitForRow, waitInPage,
} from './lib/harness.mjs';

let stack;
before(async () => { stack = await startStack(); });
after(async () => { await stack?.close(); });

const users = (hospital) => ({
  nurse: mintToken({ sub: 'u-nurse-nia', name: 'Nurse Nia', role: 'nurse', hospitals: [hospital] }),
  doctor: mintToken({ sub: 'u-doc-dan', name: 'Dr Dan', role: 'doctor', hospitals: [hospital, 'other-ward'] }),
  head: mintToken({ sub: 'u-head-hal', name: 'Dr Hal', role: 'head_doctor', hospitals: [hospital] }),
  viewer: mintToken({ sub: 'u-view-vi', name: 'Vi Viewer', role: 'viewer', hospitals: [hospital] }),
  operator: mintToken({ sub: 'u-ops-olu', name: 'Olu Ops', role: 'operator', hospitals: [hospital] }),
});

async function live(page) {
  await waitForConnection(page, 'live');
  await page.waitForSelector('[data-testid="alert-count"]');
}

async function noSeriousAxe(page, what) {
  const violations = await axe(page);
  assert.deepEqual(violations, [], `axe-core found serious violations on ${what}:\n${violations.join('\n')}`);
}

// From the click reaching one board to the other board showing the change (clickAt).
const VISIBLE_MS = 1000;

test('a nurse and a doctor see each other\'s create, acknowledge and resolve within 1 s', async () => {
  const h = 'ward-sync';
  const u = users(h);
  const nurse = await openDashboard(stack, { token: u.nurse, hospital: h });
  const doctor = await openDashboard(stack, { token: u.doctor, hospital: h, viewport: WALL });
  await Promise.all([live(nurse.page), live(doctor.page)]);

  // The fragment was read, kept in sessionStorage and removed from the address bar.
  assert.equal(new URL(nurse.page.url()).hash, '');
  assert.equal(await nurse.page.evaluate(() => sessionStorage.getItem('vigil.token')), u.nurse);
  assert.equal(await doctor.page.evaluate(() => sessionStorage.getItem('vigil.hospital')), h);

  // The nurse raises an alert with the form; the doctor's board shows it.
  await nurse.page.click('details.raise-box summary');
  await nurse.page.type('form.raise input[name="room"]', 'icu-7');
  await nurse.page.select('form.raise select[name="type"]', 'cardiac_arrest');
  await nurse.page.select('form.raise select[name="urgency"]', '1');
  let t0 = await clickAt(nurse.page, 'form.raise button[type="submit"]');
  const created = await doctor.page.waitForSelector('li.alert[data-status="active"]', { timeout: 5000 });
  const createMs = Date.now() - t0;
  const alertId = await created.evaluate((el) => el.getAttribute('data-alert-id'));
  assert.ok(createMs <= VISIBLE_MS, `doctor saw the nurse's alert after ${createMs} ms`);
  // Urgency in text, not colour alone; a new urgent alert draws attention.
  const rowText = await doctor.page.$eval(rowSelector(alertId), (el) => el.textContent);
  assert.match(rowText, /1 · Critical/);
  assert.match(rowText, /Room ICU-7/);
  assert.match(rowText, /Cardiac arrest/);
  assert.match(rowText, /Next escalation.*in \d+:\d\d \(tier 2\)/);
  assert.equal(await doctor.page.$eval(rowSelector(alertId), (el) => el.classList.contains('fresh')), true);
  await screenshot(doctor.page, 'board-wall-new-urgent');

  // Both boards rendered the alert, so both confirmed its delivery (receipts with role and time).
  let seen;
  for (const until = Date.now() + 5000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    seen = await call(stack, u.doctor, 'query', 'getAlert', { alertId });
    if (seen.receipts.length >= 2) break;
  }
  assert.deepEqual(seen.receipts.map((r) => r.role).sort(), ['doctor', 'nurse']);
  assert.deepEqual(seen.seenBy, { doctor: 1, nurse: 1 });

  // The doctor acknowledges; the nurse sees it.
  t0 = await clickAt(doctor.page, `${rowSelector(alertId)} .actions button.primary`);
  await waitForRow(nurse.page, alertId, 'acknowledged', 5000);
  const ackMs = Date.now() - t0;
  assert.ok(ackMs <= VISIBLE_MS, `nurse saw the acknowledgement after ${ackMs} ms`);
  assert.match(await nurse.page.$eval(rowSelector(alertId), (el) => el.textContent), /Acknowledged by u-doc-dan/);
  await screenshot(nurse.page, 'board-desktop-acknowledged');

  // The nurse resolves; the alert leaves the doctor's board.
  await nurse.page.click(`${rowSelector(alertId)} .actions button.primary`);
  await nurse.page.type(`${rowSelector(alertId)} .resolve-form textarea`, 'Patient stable, handed to ICU team');
  t0 = await clickAt(nurse.page, `${rowSelector(alertId)} .resolve-form button[type="submit"]`);
  await waitForNoRow(doctor.page, alertId, 5000);
  const resolveMs = Date.now() - t0;
  assert.ok(resolveMs <= VISIBLE_MS, `doctor saw the resolution after ${resolveMs} ms`);

  assert.deepEqual(nurse.errors, []);
  assert.deepEqual(doctor.errors, []);
  await nurse.context.close();
  await doctor.context.close();
});

test('a viewer sees no action buttons; a refused call shows the server\'s error', async () => {
  const h = 'ward-roles';
  const u = users(h);
  const a = await createAlert(stack, u.head, h, { urgencyLevel: 2 });
  const b = await createAlert(stack, u.head, h, { urgencyLevel: 3 });
  await call(stack, u.head, 'mutation', 'acknowledgeAlert', { alertId: b.id });

  const viewer = await openDashboard(stack, { token: u.viewer, hospital: h });
  await live(viewer.page);
  await waitForRow(viewer.page, a.id, 'active');
  await waitForRow(viewer.page, b.id, 'acknowledged');
  assert.equal(await viewer.page.$$eval('li.alert .actions button', (els) => els.length), 0, 'viewer has action buttons');
  assert.equal(await viewer.page.$('form.raise'), null, 'viewer may not raise alerts');
  await screenshot(viewer.page, 'board-viewer');

  // A nurse may acknowledge and resolve but not escalate; a head doctor may escalate.
  const nurse = await openDashboard(stack, { token: u.nurse, hospital: h });
  await live(nurse.page);
  await waitForRow(nurse.page, a.id, 'active');
  const nurseButtons = await nurse.page.$$eval(`${rowSelector(a.id)} .actions button`, (els) => els.map((e) => e.textContent));
  assert.deepEqual(nurseButtons, ['Acknowledge']);
  const head = await openDashboard(stack, { token: u.head, hospital: h });
  await live(head.page);
  await waitForRow(head.page, a.id, 'active');
  const headButtons = await head.page.$$eval(`${rowSelector(a.id)} .actions button`, (els) => els.map((e) => e.textContent));
  assert.deepEqual(headButtons, ['Acknowledge', 'Escalate']);
  await head.page.click(`${rowSelector(a.id)} .actions button:not(.primary)`);
  await waitInPage(head.page, (sel) => /Tier\s*2/.test(document.querySelector(sel)?.textContent ?? ''), rowSelector(a.id));

  // The nurse's board is kept stale (no WebSocket, list refetches fail), someone else
  // acknowledges, the nurse clicks Acknowledge: the server's CONFLICT is shown in the row.
  await nurse.page.setRequestInterception(true);
  nurse.page.on('request', (r) => (r.url().includes('getActiveAlerts') ? r.abort() : r.continue()));
  stack.proxy.blockWebSockets();
  try {
    await waitInPage(nurse.page, () => document.querySelector('[data-connection]')?.getAttribute('data-connection') !== 'live');
    await call(stack, u.head, 'mutation', 'acknowledgeAlert', { alertId: a.id });
    await nurse.page.click(`${rowSelector(a.id)} .actions button.primary`);
    const error = await nurse.page.waitForSelector(`${rowSelector(a.id)} .error[role="alert"]`, { timeout: 5000 });
    assert.equal(await error.evaluate((el) => el.textContent), 'Refused: Alert is not active');
    await screenshot(nurse.page, 'board-refused');
  } finally {
    stack.proxy.unblockWebSockets();
  }

  for (const p of [viewer, nurse, head]) await p.context.close();
});

test('with WebSockets cut the banner says polling and the board still updates within 5 s', async () => {
  const h = 'ward-poll';
  const u = users(h);
  const doctor = await openDashboard(stack, { token: u.doctor, hospital: h });
  await live(doctor.page);

  stack.proxy.blockWebSockets();
  try {
    await waitForConnection(doctor.page, 'polling', 10000);
    const a = await createAlert(stack, u.head, h, { urgencyLevel: 1 });
    const seenMs = await waitForRow(doctor.page, a.id, 'active', 5000);
    assert.ok(seenMs <= 5000);
    assert.match(await doctor.page.$eval('[data-connection]', (el) => el.textContent), /Polling/);
    await screenshot(doctor.page, 'banner-polling');
    // Mutations go over HTTP and still work; the next poll shows the change.
    await doctor.page.click(`${rowSelector(a.id)} .actions button.primary`);
    await waitForRow(doctor.page, a.id, 'acknowledged', 5000);
    assert.ok(stack.proxy.upgradesRefused > 0, 'the client never tried the WebSocket again');
  } finally {
    stack.proxy.unblockWebSockets();
  }
  await waitForConnection(doctor.page, 'live', 15000);
  const b = await createAlert(stack, u.head, h, { urgencyLevel: 2 });
  await waitForRow(doctor.page, b.id, 'active', 1000);
  await doctor.context.close();
});

test('a server restart is survived without a missed alert', async () => {
  const h = 'ward-restart';
  const u = users(h);
  const before1 = await createAlert(stack, u.head, h, { urgencyLevel: 3 });
  const nurse = await openDashboard(stack, { token: u.nurse, hospital: h });
  await live(nurse.page);
  await waitForRow(nurse.page, before1.id);

  await stack.server.stop();
  await waitInPage(nurse.page, () => document.querySelector('[data-connection]')?.getAttribute('data-connection') !== 'live', undefined, 10000);
  await screenshot(nurse.page, 'banner-reconnecting');
  await stack.server.start();
  // Raised at once after the restart, likely before the browser is back: the resumed stream (or
  // the refetch after the gap) must bring it.
  const during = await createAlert(stack, u.head, h, { urgencyLevel: 1 });
  await waitForRow(nurse.page, during.id, 'active', 10000);
  await waitForConnection(nurse.page, 'live', 15000);
  const afterwards = await createAlert(stack, u.head, h, { urgencyLevel: 2 });
  await waitForRow(nurse.page, afterwards.id, 'active', 1000);
  await waitForRow(nurse.page, before1.id);
  await nurse.context.close();
});

test('screens: phone and wall sizes, timeline by keyboard, sign-in form, operator view, no serious axe violations', async () => {
  const h = 'ward-screens';
  const u = users(h);
  const first = await createAlert(stack, u.head, h, { urgencyLevel: 1, alertType: 'cardiac_arrest', roomNumber: 'ICU-3', description: 'Collapsed in bed', targetDepartment: 'icu' });
  await createAlert(stack, u.head, h, { urgencyLevel: 2, alertType: 'fire', roomNumber: 'B-12', targetDepartment: 'facilities' });
  const c = await createAlert(stack, u.head, h, { urgencyLevel: 4, alertType: 'security', roomNumber: 'ER-1' });
  await createAlert(stack, u.head, h, { urgencyLevel: 3, alertType: 'medical_emergency', roomNumber: 'W2-14', description: 'Fall' });
  await call(stack, u.head, 'mutation', 'acknowledgeAlert', { alertId: c.id, notes: 'On my way' });
  await call(stack, u.head, 'mutation', 'triggerEscalation', { alertId: first.id, reason: 'No answer' });

  // Wall screen: the board sorted most urgent first.
  const wall = await openDashboard(stack, { token: u.head, hospital: h, viewport: WALL });
  await live(wall.page);
  await waitForRow(wall.page, c.id, 'acknowledged');
  await waitInPage(wall.page, () => document.querySelector('[data-metric="staffOnline"] dd')?.textContent === '1');
  const order = await wall.page.$$eval('li.alert', (els) => els.map((e) => `${e.dataset.status}:${e.dataset.urgency}`));
  assert.deepEqual(order, ['active:1', 'active:2', 'active:3', 'acknowledged:4']);
  await screenshot(wall.page, 'board-wall');
  await noSeriousAxe(wall.page, 'the board');

  // Keyboard: Tab reaches the first alert; Enter opens its timeline.
  await wall.page.focus(`${rowSelector(first.id)} .alert-title`);
  await wall.page.keyboard.press('Enter');
  await wall.page.waitForSelector(`[data-timeline="${first.id}"] li`);
  const timeline = await wall.page.$eval(`[data-timeline="${first.id}"]`, (el) => el.textContent);
  assert.match(timeline, /Raised by u-head-hal/);
  assert.match(timeline, /Escalated from tier 1 to tier 2 \(doctor\) by u-head-hal: No answer/);
  await screenshot(wall.page, 'board-timeline');
  await noSeriousAxe(wall.page, 'the open timeline');
  // Tabbing from the skip link reaches the hospital selector, then the views.
  await wall.page.focus('.skip-link');
  await wall.page.keyboard.press('Tab');
  assert.equal(await wall.page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Hospital');
  await wall.context.close();

  // Phone.
  const phone = await openDashboard(stack, { token: u.nurse, hospital: h, viewport: PHONE });
  await live(phone.page);
  await waitForRow(phone.page, first.id);
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the phone layout scrolls sideways by ${overflow}px`);
  await screenshot(phone.page, 'board-phone');
  await noSeriousAxe(phone.page, 'the phone board');
  await phone.context.close();

  // Operator view (the default for operators), from /metrics.
  const ops = await openDashboard(stack, { token: u.operator, hospital: h, viewport: DESKTOP });
  await ops.page.waitForSelector('[data-figure="connections"]');
  await waitInPage(ops.page, () => /\d/.test(document.querySelector('[data-figure="events"] dd')?.textContent ?? ''), undefined, 10000);
  const conns = await ops.page.$eval('[data-figure="connections"] dd', (el) => Number(el.textContent));
  assert.ok(conns >= 1, `connections ${conns}`);
  await screenshot(ops.page, 'operator');
  await noSeriousAxe(ops.page, 'the operator view');
  await ops.context.close();

  // Sign-in form: a pasted token, its hospitals to choose from, submitted by keyboard.
  const signin = await openDashboard(stack, { token: '', hospital: '', hash: '' });
  await signin.page.waitForSelector('.signin textarea');
  await noSeriousAxe(signin.page, 'the sign-in form');
  await signin.page.type('.signin textarea', 'not-a-token');
  await signin.page.keyboard.press('Tab');
  assert.equal(await signin.page.evaluate(() => document.activeElement?.textContent), 'Open the dashboard');
  await signin.page.keyboard.press('Enter');
  await signin.page.waitForSelector('.signin .error', { timeout: 5000 });
  await screenshot(signin.page, 'signin-error');
  await signin.page.$eval('.signin textarea', (el) => { el.select(); });
  await signin.page.keyboard.press('Backspace');
  await signin.page.type('.signin textarea', u.doctor);
  const options = await signin.page.$$eval('.signin select option', (els) => els.map((e) => e.value));
  assert.deepEqual(options, [h, 'other-ward']);
  await screenshot(signin.page, 'signin');
  await signin.page.click('.signin button[type="submit"]');
  await live(signin.page);
  await waitForRow(signin.page, first.id);
  await signin.context.close();
});

test('a server with another database behind the same address: the banner says refreshed after a gap', async () => {
  const h = 'ward-resync';
  const u = users(h);
  const old = await createAlert(stack, u.head, h, { urgencyLevel: 2 });
  const doctor = await openDashboard(stack, { token: u.doctor, hospital: h });
  // On failure: the banner's states and the page's WebSockets (lifecycle and frame kinds; no
  // tokens, no alert text), with the new server's log.
  const trace = await traceConnection(doctor.page);
  await live(doctor.page);
  await waitForRow(doctor.page, old.id);
  // Receive one event so that the stream has a resume point of the old database's epoch.
  const seen = await createAlert(stack, u.head, h, { urgencyLevel: 3 });
  await waitForRow(doctor.page, seen.id);

  const port = stack.server.port;
  trace.mark('old server stopping');
  await stack.server.dispose();
  trace.mark('old server stopped');
  // Until start() resolves the proxy knows no port: a reconnect attempt in between is refused
  // (lib/proxy.mjs), and the client tries again.
  stack.server = new VigilServer({ port, args: stack.server.extraArgs });
  await stack.server.start();
  trace.mark('new server started');
  // Bounded by the old server's drain, the new one's start and the client's back-off (at most 4 s
  // between attempts). The earlier misses of 15 s and 30 s were one attempt hung in the proxy.
  try {
    await waitForConnection(doctor.page, 'resynced', 15000);
    await waitForNoRow(doctor.page, old.id, 5000);
  } catch (e) {
    e.message += `\n${trace.text()}\n--- new server (last lines)\n${stack.server.tail(20)}`;
    throw e;
  }
  assert.match(await doctor.page.$eval('[data-connection]', (el) => el.textContent), /Refreshed after a gap/);
  await screenshot(doctor.page, 'banner-resynced');
  await doctor.context.close();
});
