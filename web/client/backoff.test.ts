import { describe, expect, it } from 'vitest';
import { backoffCeiling, fullJitterDelay } from './backoff.js';

describe('backoff', () => {
  it('ceiling doubles from base and stops at cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 60, 5000].map((n) => backoffCeiling(n))).toEqual([
      250, 500, 1000, 2000, 4000, 8000, 10000, 10000, 10000, 10000,
    ]);
    expect(backoffCeiling(3, { baseMs: 100, capMs: 500 })).toBe(500);
    expect(backoffCeiling(-1)).toBe(250);
  });

  it('full jitter stays within [0, min(cap, base·2^n)]', () => {
    let seed = 42;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let n = 0; n < 20; n++) {
      const ceil = Math.min(10_000, 250 * 2 ** n);
      let max = 0;
      for (let i = 0; i < 500; i++) {
        const d = fullJitterDelay(n, {}, rnd);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(ceil);
        max = Math.max(max, d);
      }
      // Full jitter spreads over the whole range, not just near the ceiling.
      expect(max).toBeGreaterThan(ceil * 0.9);
    }
    expect(fullJitterDelay(3, {}, () => 0)).toBe(0);
    expect(fullJitterDelay(3, {}, () => 0.999999)).toBe(1999);
  });
});
