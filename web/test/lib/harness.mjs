// Shared set-up of the browser tests: a real vigild (tests/e2e/lib/server.mjs: port 0, temporary
// database) serving the built dashboard, the forwarding proxy, headless Debian Chromium driven by
// puppeteer-core, HS256 tokens, and small helpers (HTTP calls, screenshots, axe-core).

import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import puppeteer from 'puppeteer-core';

import { startServer } from '../../../tests/e2e/lib/server.mjs';
import { mintToken } from '../../../tests/e2e/lib/tokens.mjs';
import { Proxy } from './proxy.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const WEB_DIR = path.resolve(here, '..', '..');
export const DIST_DIR = process.env.VIGIL_WEB_DIST || path.join(WEB_DIR, 'dist');
export const ARTIFACTS = path.join(WEB_DIR, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const PHONE = { width: 390, height: 844, deviceScaleFactor: 1, isMobile: true, hasTouch: true };
export const DESKTOP = { width: 1366, height: 900, deviceScaleFactor: 1 };
export const WALL = { width: 1920, height: 1080, deviceScaleFactor: 1 };

export { mintToken };

/** Starts vigild (serving dist/) behind a proxy, and a headless Chromium. */
export async function startStack({ serverArgs = [] } = {}) {
  const server = await startServer({ args: [`--http.static-dir=${DIST_DIR}`, ...serverArgs] });
  // The proxy asks for the port on every connection: a test may replace stack.server.
  const stack = { server };
  const proxy = await new Proxy(() => stack.server.port).listen();
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding'],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  Object.assign(stack, {
    proxy, browser,
    async close() {
      await browser.close().catch(() => {});
      await proxy.close().catch(() => {});
      await stack.server.dispose();
    },
  });
  return stack;
}

/** A user in their own browser context with the dashboard opened by URL fragment. */
export async function openDashboard(stack, { token, hospital, viewport = DESKTOP, hash }) {
  const context = await stack.browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport(viewport);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const fragment = hash ?? `#token=${encodeURIComponent(token)}&hospital=${encodeURIComponent(hospital)}`;
  await page.goto(`${stack.proxy.url}/${fragment}`, { waitUntil: 'domcontentloaded' });
  return { context, page, errors };
}

/** Clicks `selector`; returns when the click reached the page (ms since the epoch, the page's
 *  clock is the test's). What a person waits for starts there, not when puppeteer is asked: its
 *  synthetic click (scroll into view, layout, mouse events over CDP) took 0.4-1.2 s by itself in a
 *  renderer starved of CPU on a loaded machine. */
export async function clickAt(page, selector) {
  await page.evaluate(() => {
    window.__vigilClickAt = undefined;
    document.addEventListener('click', () => { window.__vigilClickAt = Date.now(); }, { capture: true, once: true });
  });
  await page.click(selector);
  return page.evaluate(() => window.__vigilClickAt);
}

/** A tRPC call over HTTP (plain JSON), as another client would make it. */
export async function call(stack, token, kind, pathName, input) {
  const base = `http://127.0.0.1:${stack.server.port}/api/trpc/healthcare.${pathName}`;
  const headers = { authorization: `Bearer ${token}` };
  const res = kind === 'query'
    ? await fetch(`${base}?input=${encodeURIComponent(JSON.stringify(input))}`, { headers })
    : await fetch(base, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(input) });
  const body = await res.json();
  if (!res.ok) throw new Error(`${pathName}: ${res.status} ${JSON.stringify(body)}`);
  return body.result.data;
}

let roomSeq = 0;
/** Creates an alert over HTTP; returns the Alert. */
export async function createAlert(stack, token, hospitalId, extra = {}) {
  roomSeq += 1;
  const r = await call(stack, token, 'mutation', 'createAlert', {
    hospitalId, roomNumber: `R${roomSeq}`, alertType: 'medical_emergency', urgencyLevel: 2,
    description: 'Test alert', ...extra,
  });
  return r.alert;
}

/** Waits until `fn` (evaluated in the page) returns truthy; returns elapsed ms. */
export async function waitInPage(page, fn, arg, timeout = 5000) {
  const t0 = Date.now();
  await page.waitForFunction(fn, { timeout, polling: 'mutation' }, arg);
  return Date.now() - t0;
}

export const rowSelector = (alertId) => `[data-alert-id="${alertId}"]`;

/** Waits for the alert row, optionally with a given status; returns elapsed ms. */
export function waitForRow(page, alertId, status, timeout = 5000) {
  const sel = status ? `${rowSelector(alertId)}[data-status="${status}"]` : rowSelector(alertId);
  const t0 = Date.now();
  return page.waitForSelector(sel, { timeout }).then(() => Date.now() - t0);
}

export function waitForNoRow(page, alertId, timeout = 5000) {
  return waitInPage(page, (sel) => !document.querySelector(sel), rowSelector(alertId), timeout);
}

/** Waits for the connection banner to report `state` (live, reconnecting, polling, resynced). */
export function waitForConnection(page, state, timeout = 10000) {
  return waitInPage(page, (s) => document.querySelector('[data-connection]')?.getAttribute('data-connection') === s, state, timeout);
}

/** Records, for a failure message, the connection banner's states and the page's WebSockets:
 *  opened, handshake status, errors, closes, and each frame as its kind only (method, result type,
 *  event id and type, resync): never the connectionParams token or alert text. */
export async function traceConnection(page) {
  const t0 = Date.now();
  const lines = [];
  const add = (what) => lines.push(`${String(Date.now() - t0).padStart(6)} ms  ${what}`);
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  const ws = new Map();
  const name = (id) => { if (!ws.has(id)) ws.set(id, `ws${ws.size + 1}`); return ws.get(id); };
  const kind = (payload) => {
    let m;
    try { m = JSON.parse(payload); } catch { return `(${payload.length} bytes)`; }
    return (Array.isArray(m) ? m : [m]).map((x) => {
      if (x.method === 'connectionParams') return 'connectionParams';
      if (x.method) return `${x.method}${x.id != null ? `#${x.id}` : ''}${x.params?.path ? ` ${x.params.path}` : ''}${x.params?.lastEventId ? ` lastEventId=${x.params.lastEventId}` : ''}`;
      const r = x.result;
      if (r) {
        const ev = r.data?.json ?? r.data;
        return `#${x.id} ${r.type}${r.id ? ` ${r.id}` : ''}${ev?.type ? ` ${ev.type}` : ''}${ev?.data?.resync ? ' resync' : ''}`;
      }
      return x.error ? `#${x.id} error ${x.error.data?.code ?? x.error.code}` : '?';
    }).join(', ');
  };
  cdp.on('Network.webSocketCreated', (e) => add(`${name(e.requestId)} created`));
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => add(`${name(e.requestId)} handshake ${e.response.status}`));
  cdp.on('Network.webSocketFrameError', (e) => add(`${name(e.requestId)} error ${e.errorMessage}`));
  cdp.on('Network.webSocketClosed', (e) => add(`${name(e.requestId)} closed`));
  cdp.on('Network.webSocketFrameSent', (e) => add(`${name(e.requestId)} > ${kind(e.response.payloadData)}`));
  cdp.on('Network.webSocketFrameReceived', (e) => add(`${name(e.requestId)} < ${kind(e.response.payloadData)}`));
  await page.exposeFunction('__vigilTraceBanner', (state) => add(`banner ${state}`));
  await page.evaluate(() => {
    let last;
    const check = () => {
      const state = String(document.querySelector('[data-connection]')?.getAttribute('data-connection'));
      if (state !== last) { last = state; window.__vigilTraceBanner(state); }
    };
    new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
    check();
  });
  return { mark: (what) => add(`-- ${what}`), text: () => lines.join('\n') };
}

export async function screenshot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** Runs axe-core in the page; returns violations of impact serious or critical. */
export async function axe(page) {
  const loaded = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}
