import { describe, expect, it } from 'vitest';
import { followRange } from './chartwindow.js';
import type { PricePoint } from './market.js';

/** seconds builds one point per second from t0, n of them. */
function seconds(t0: number, n: number): PricePoint[] {
  return Array.from({ length: n }, (_, i) => ({ time: t0 + i, value: 100 + i }));
}

describe('followRange', () => {
  it('is undefined until there are two points in time', () => {
    expect(followRange([], 300)).toBeUndefined();
    expect(followRange(seconds(1000, 1), 300)).toBeUndefined();
  });

  it('fits every point while they span less than the window, growing with them', () => {
    const pts = seconds(1000, 5);
    expect(followRange(pts, 300)).toEqual({ from: 1000, to: 1004 });
    pts.push(...seconds(1005, 55));
    expect(followRange(pts, 300)).toEqual({ from: 1000, to: 1059 });
  });

  it('rolls: the last windowSec seconds, following the newest point', () => {
    const pts = seconds(1000, 900);
    expect(followRange(pts, 300)).toEqual({ from: 1599, to: 1899 });
    pts.push({ time: 1910, value: 1 }); // a pause in the ticks
    expect(followRange(pts, 300)).toEqual({ from: 1610, to: 1910 });
    expect(followRange(pts, 60)).toEqual({ from: 1850, to: 1910 });
  });
});
