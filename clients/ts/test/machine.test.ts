/// Unit tests of the pure connection machine and resume tracker with a manual clock.
import { describe, expect, it } from 'vitest';

import { ConnectionMachine, ResumeTracker, type Clock } from '../src/machine.js';
import type { StreamMode } from '../src/types.js';

/// A clock whose time only moves on `advance`.
class ManualClock implements Clock {
  now = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
  }
  get pending(): number {
    return this.timers.size;
  }
}

function setup(opts: { pollIntervalMs?: number; connectTimeoutMs?: number } = {}) {
  const clock = new ManualClock();
  const modes: StreamMode[] = [];
  const polls: number[] = [];
  const m = new ConnectionMachine({
    clock,
    // the defaults (5000 ms polls, 4000 ms connect timeout) unless a test sets them
    ...opts,
    onModeChange: (mode) => modes.push(mode),
    onPoll: () => polls.push(clock.now),
  });
  return { clock, modes, polls, m };
}

describe('ConnectionMachine', () => {
  it('starts reconnecting and goes live on open without polling', () => {
    const { m, modes, polls, clock } = setup();
    expect(m.mode).toBe('reconnecting');
    m.opened();
    clock.advance(60000);
    expect(modes).toEqual(['live']);
    expect(polls).toEqual([]);
  });

  it('a failed first attempt polls at once and every 5 s until the socket opens', () => {
    const { m, modes, polls, clock } = setup();
    clock.advance(100);
    m.closed(1006);
    expect(m.mode).toBe('polling');
    clock.advance(12000);
    expect(polls).toEqual([100, 5100, 10100]);
    m.closed(1006); // further failed attempts change nothing
    m.opened();
    clock.advance(20000);
    expect(polls).toEqual([100, 5100, 10100]);
    expect(modes).toEqual(['polling', 'live']);
    expect(clock.pending).toBe(0);
  });

  it('a live socket that closes is reconnecting first, then polling when the retry fails', () => {
    const { m, modes, polls, clock } = setup();
    m.opened();
    m.closed(1006);
    expect(m.mode).toBe('reconnecting');
    expect(polls).toEqual([]);
    clock.advance(300);
    m.closed(1006);
    expect(m.mode).toBe('polling');
    expect(polls).toEqual([300]);
    m.opened();
    expect(modes).toEqual(['live', 'reconnecting', 'polling', 'live']);
  });

  it('a connection that hangs polls after the connect timeout', () => {
    const { m, polls, clock } = setup({ connectTimeoutMs: 3000 });
    clock.advance(2999);
    expect(m.mode).toBe('reconnecting');
    clock.advance(1);
    expect(m.mode).toBe('polling');
    expect(polls).toEqual([3000]);
  });

  it('a quick reconnect after a close does not poll', () => {
    const { m, polls, clock } = setup();
    m.opened();
    m.closed(1001);
    clock.advance(500);
    m.opened();
    clock.advance(30000);
    expect(polls).toEqual([]);
    expect(m.mode).toBe('live');
  });

  it('with startNow false the connect timer waits for begin()', () => {
    const clock = new ManualClock();
    const polls: number[] = [];
    const m = new ConnectionMachine({ clock, startNow: false, onPoll: () => polls.push(clock.now) });
    clock.advance(60000);
    expect(m.mode).toBe('reconnecting');
    m.begin();
    clock.advance(4000);
    expect(polls).toEqual([64000]);
  });

  it('asks for a new token after close 4003 and 4001 only', () => {
    const { m } = setup();
    m.opened();
    expect(m.closed(4003).refreshToken).toBe(true);
    expect(m.closed(4001).refreshToken).toBe(true);
    expect(m.closed(1006).refreshToken).toBe(false);
    expect(m.closed(4008).refreshToken).toBe(false);
  });

  it('does nothing after dispose', () => {
    const { m, polls, clock, modes } = setup();
    m.closed(1006);
    m.dispose();
    clock.advance(60000);
    m.opened();
    expect(polls).toEqual([0]);
    expect(modes).toEqual(['polling']);
    expect(clock.pending).toBe(0);
  });
});

describe('ResumeTracker', () => {
  it('keeps the last id and drops replayed duplicates', () => {
    const t = new ResumeTracker();
    expect(t.lastEventId).toBeUndefined();
    expect(t.accept('abcd1234-5')).toBe(true);
    expect(t.accept('abcd1234-9')).toBe(true);
    expect(t.accept('abcd1234-9')).toBe(false);
    expect(t.accept('abcd1234-7')).toBe(false);
    expect(t.lastEventId).toBe('abcd1234-9');
    expect(t.accept('abcd1234-10')).toBe(true); // numeric, not text order
    expect(t.lastEventId).toBe('abcd1234-10');
  });

  it('a resync or a new epoch always counts and moves the resume point', () => {
    const t = new ResumeTracker('abcd1234-50');
    expect(t.accept('abcd1234-3', true)).toBe(true);
    expect(t.lastEventId).toBe('abcd1234-3');
    expect(t.accept('zzzz0000-1')).toBe(true);
    expect(t.lastEventId).toBe('zzzz0000-1');
  });
});
