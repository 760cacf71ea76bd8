import { describe, expect, it } from 'vitest';
import { Counters } from './counters.js';

function ev(subject: string, epoch: number, seq: number, received: number) {
  return { subject, epoch, seq, ts: received - 30, ingest: received - 20, sent: received - 10, received };
}

describe('Counters', () => {
  it('estimates conflation from unannounced seq jumps only', () => {
    const now = 10_000;
    const c = new Counters(() => now);
    c.onEvent(ev('a', 1, 1, now));
    c.onEvent(ev('a', 1, 2, now));
    c.onEvent(ev('a', 1, 6, now)); // 3, 4, 5 conflated
    c.onGap({ subject: 'a', epoch: 1, from: 7, to: 9 }); // announced loss
    c.onEvent(ev('a', 1, 10, now));
    c.onEvent(ev('a', 1, 10, now)); // duplicate: ignored
    c.onEvent(ev('a', 2, 1, now)); // new epoch: no jump
    c.onEvent(ev('b', 1, 100, now)); // first sight: no jump
    const s = c.snapshot();
    expect(s.conflated).toBe(3);
    expect(s.gaps).toBe(1);
    expect(s.gapMessages).toBe(3);
    expect(s.events).toBe(7);
    expect(c.position('a')).toEqual({ epoch: 2, seq: 1 });
  });

  it('measures latencies from event timestamps', () => {
    const c = new Counters(() => 0);
    c.onEvent(ev('a', 1, 1, 1000));
    expect(c.snapshot().latencyMs).toBe(30);
    expect(c.snapshot().hubLatencyMs).toBe(10);
  });

  it('computes events per second over the window', () => {
    let now = 100_000;
    const c = new Counters(() => now, { windowSec: 5 });
    for (let sec = 0; sec < 10; sec++) {
      for (let i = 0; i < 20; i++) c.onEvent(ev('a', 1, sec * 20 + i, now + i));
      now += 1000;
    }
    expect(c.snapshot().eventsPerSec).toBe(20);
    now += 10_000; // silence
    expect(c.snapshot().eventsPerSec).toBe(0);
  });

  it('keeps a bounded LRU of positions, most recent first', () => {
    const c = new Counters(() => 0, { maxSubjects: 2 });
    c.onEvent(ev('a', 1, 1, 0));
    c.onEvent(ev('b', 1, 1, 0));
    c.onEvent(ev('a', 1, 2, 0));
    c.onEvent(ev('c', 1, 1, 0));
    expect(c.recentPositions().map(([s]) => s)).toEqual(['c', 'a']);
  });
});
