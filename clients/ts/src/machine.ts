/// Pure pieces of the client's connection logic, with an injected clock so tests can drive them:
/// `ConnectionMachine` decides the stream mode and when to poll; `ResumeTracker` remembers the last
/// event id of a stream and drops duplicates.
import type { StreamMode } from './types.js';

/// The timer functions the machine uses (the real ones by default).
export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof globalThis.setTimeout>),
};

/// Close codes after which a new token must be fetched before reconnecting.
export const TOKEN_CLOSE_CODES: ReadonlySet<number> = new Set([4001, 4003]);

export interface ConnectionMachineOptions {
  /// Time between HTTP polls while the WebSocket cannot connect (default 5000 ms).
  pollIntervalMs?: number;
  /// How long a (re)connection may take before polling starts anyway (default 4000 ms).
  connectTimeoutMs?: number;
  clock?: Clock;
  /// Called on every mode change.
  onModeChange?: (mode: StreamMode) => void;
  /// Called once at the start of polling and then every `pollIntervalMs` until live again.
  onPoll?: () => void;
  /// Start the connect timer now (default true); false waits for `begin()`.
  startNow?: boolean;
}

/// Mode rules:
/// * starts `reconnecting`; the first `opened()` makes it `live`;
/// * a close of a live socket makes it `reconnecting` (the transport retries at once);
/// * a failed attempt (closed or errored while not live), or `connectTimeoutMs` without `opened()`,
///   makes it `polling`: `onPoll` now and every `pollIntervalMs`;
/// * `opened()` in any mode stops polling and makes it `live`.
export class ConnectionMachine {
  private modeNow: StreamMode = 'reconnecting';
  private pollTimer: unknown = undefined;
  private connectTimer: unknown = undefined;
  private disposed = false;
  private readonly pollIntervalMs: number;
  private readonly connectTimeoutMs: number;
  private readonly clock: Clock;

  constructor(private readonly opts: ConnectionMachineOptions = {}) {
    this.pollIntervalMs = opts.pollIntervalMs ?? 5000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 4000;
    this.clock = opts.clock ?? realClock;
    if (opts.startNow ?? true) this.armConnectTimer();
  }

  /// A first connection attempt starts (with `startNow: false`): arms the connect timer once.
  begin(): void {
    if (this.disposed || this.begun) return;
    this.begun = true;
    if (this.modeNow === 'reconnecting' && this.connectTimer === undefined) this.armConnectTimer();
  }
  private begun = false;

  get mode(): StreamMode {
    return this.modeNow;
  }

  /// The WebSocket is open.
  opened(): void {
    if (this.disposed) return;
    this.stopPolling();
    this.disarmConnectTimer();
    this.set('live');
  }

  /// The WebSocket closed (or failed to open). Returns true when the token must be renewed first.
  closed(code?: number): { refreshToken: boolean } {
    const refreshToken = code !== undefined && TOKEN_CLOSE_CODES.has(code);
    if (this.disposed) return { refreshToken };
    if (this.modeNow === 'live') {
      this.set('reconnecting');
      this.armConnectTimer();
    } else {
      this.startPolling();
    }
    return { refreshToken };
  }

  /// Stops all timers; the machine does nothing after this.
  dispose(): void {
    this.disposed = true;
    this.stopPolling();
    this.disarmConnectTimer();
  }

  private set(mode: StreamMode): void {
    if (mode === this.modeNow) return;
    this.modeNow = mode;
    this.opts.onModeChange?.(mode);
  }

  private startPolling(): void {
    this.disarmConnectTimer();
    if (this.modeNow === 'polling') return;
    this.set('polling');
    const tick = () => {
      if (this.disposed || this.modeNow !== 'polling') return;
      this.pollTimer = this.clock.setTimeout(tick, this.pollIntervalMs);
      this.opts.onPoll?.();
    };
    tick();
  }

  private stopPolling(): void {
    if (this.pollTimer !== undefined) this.clock.clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  private armConnectTimer(): void {
    this.disarmConnectTimer();
    this.connectTimer = this.clock.setTimeout(() => {
      this.connectTimer = undefined;
      if (!this.disposed && this.modeNow === 'reconnecting') this.startPolling();
    }, this.connectTimeoutMs);
  }

  private disarmConnectTimer(): void {
    if (this.connectTimer !== undefined) this.clock.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }
}

/// Splits an event id `<epoch>-<seq>`; undefined when it has another form.
export function parseEventId(id: string): { epoch: string; seq: bigint } | undefined {
  const m = /^([a-z0-9]+)-(\d+)$/.exec(id);
  if (!m) return undefined;
  return { epoch: m[1]!, seq: BigInt(m[2]!) };
}

/// The resume point of one stream. `accept` says whether an event is new: within one epoch ids
/// only grow, so an id at or below the last one is a duplicate (a replay overlapping what was
/// already delivered). A resync always counts and moves the resume point to its id.
export class ResumeTracker {
  private last: string | undefined;

  constructor(initial?: string | null) {
    this.last = initial ?? undefined;
  }

  get lastEventId(): string | undefined {
    return this.last;
  }

  accept(id: string, isResync = false): boolean {
    if (isResync || this.last === undefined) {
      this.last = id;
      return true;
    }
    const a = parseEventId(this.last);
    const b = parseEventId(id);
    if (a && b && a.epoch === b.epoch && b.seq <= a.seq) return false;
    this.last = id;
    return true;
  }
}
