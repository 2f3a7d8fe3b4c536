// A subscriber that survives the loss of its node: one bare WebSocket subscription to
// healthcare.subscribeToAlerts that, when its socket closes, opens a new one on the next node of
// its list and resumes with lastEventId = the id of the last event it received (docs/api.md
// "Event ids and resume"). Lean on purpose (no inbox of every frame): the failover benchmark
// runs 3,000 of them in one process.

import { WebSocket } from '../../e2e/lib/clients.mjs';

/** Resolves after `ms`; only to pace a reconnect loop, never as synchronisation. */
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

export class ResumingSubscriber {
  /**
   * @param {object} o
   * @param {string} o.hospitalId
   * @param {string} o.token viewer token
   * @param {number[]} o.ports the nodes, in the order this subscriber tries them
   * @param {string} [o.label]
   */
  constructor({ hospitalId, token, ports, label = 'subscriber' }) {
    Object.assign(this, { hospitalId, token, ports, label });
    this.at = 0;              // index in ports of the node in use
    this.events = [];         // every data item (event), in arrival order
    this.lastEventId = undefined;
    this.resyncs = [];        // resync items (a failed resume)
    this.errors = [];         // error frames
    this.startedAt = [];      // Date.now() of each `started` frame
    this.closedAt = [];       // Date.now() of each socket close
    this.resumes = 0;         // subscriptions started after the first
    this.stopped = false;
    this.ws = undefined;
    this.waiters = [];
  }

  get port() { return this.ports[this.at]; }

  /** Opens the subscription on the current node; resolves on `started` (rejects after `ms`). */
  connect(ms = 15000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`${this.label}: not started within ${ms} ms on port ${this.port}`)); this.ws?.terminate(); }, ms);
      const ok = resolve;
      resolve = () => { clearTimeout(timer); ok(); };
      const ws = new WebSocket(`ws://127.0.0.1:${this.port}/api/trpc?connectionParams=1`);
      this.ws = ws;
      let started = false;
      ws.on('open', () => {
        ws.send(JSON.stringify({ method: 'connectionParams', data: { authorization: `Bearer ${this.token}` } }));
        const params = { path: 'healthcare.subscribeToAlerts', input: { hospitalId: this.hospitalId } };
        if (this.lastEventId) params.lastEventId = this.lastEventId;
        ws.send(JSON.stringify({ id: 1, method: 'subscription', params }));
      });
      ws.on('message', (buf) => {
        const text = buf.toString('utf8');
        if (text === 'PING') { ws.send('PONG'); return; }
        let m;
        try { m = JSON.parse(text); } catch { return; }
        if (m.error) {
          this.errors.push(m.error);
          // A subscription refused (e.g. the hospital cannot be loaded): this node failed.
          if (m.id === 1 && !started) ws.terminate();
          return;
        }
        const r = m.result;
        if (!r) return;
        if (r.type === 'started') {
          this.startedAt.push(Date.now());
          if (this.startedAt.length > 1) this.resumes += 1;
          started = true;
          resolve();
        } else if (r.type === 'data') {
          if (r.data?.data?.resync) this.resyncs.push(r.data);
          else this.events.push({ id: r.id, type: r.data.type, alertId: r.data.alertId });
          this.lastEventId = r.id;
          this.check();
        }
      });
      ws.on('error', () => { /* surfaced through close */ });
      ws.on('close', () => {
        this.closedAt.push(Date.now());
        if (!started) reject(new Error(`${this.label}: closed before started on port ${this.port}${this.errors.length ? ` (${JSON.stringify(this.errors.at(-1))})` : ''}`));
        if (!this.stopped && this.onLost) this.onLost();
      });
    });
  }

  /**
   * From now on, when the socket closes the subscriber moves to the next node and resumes
   * (trying the nodes in turn, `retryMs` apart, until one starts it).
   */
  resumeOnClose({ retryMs = 100 } = {}) {
    this.onLost = async () => {
      for (;;) {
        if (this.stopped) return;
        this.at = (this.at + 1) % this.ports.length;
        try {
          await this.connect();
          return;
        } catch {
          await pause(retryMs);
        }
      }
    };
  }

  /** Resolves once pred(events) holds (rejects after `ms`). */
  until(pred, what, ms = 20000) {
    if (pred(this.events)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { pred, resolve, timer: undefined };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.label}: ${what} not within ${ms} ms (${this.events.length} events, `
          + `${this.resyncs.length} resyncs, ${this.errors.length} errors, on port ${this.port})`));
      }, ms);
      this.waiters.push(w);
    });
  }

  check() {
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(this.events)) return true;
      clearTimeout(w.timer);
      w.resolve();
      return false;
    });
  }

  close() {
    this.stopped = true;
    try { this.ws?.terminate(); } catch { /* already closed */ }
  }
}

/** The seq of an event id `<epoch>-<seq>`. */
export const seqOf = (id) => Number(id.slice(id.lastIndexOf('-') + 1));
