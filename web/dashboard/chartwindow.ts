// Which part of a price history the live chart shows.

import type { PricePoint } from './market.js';

/** A time range in Unix seconds, both ends included. */
export interface TimeRange {
  from: number;
  to: number;
}

/** The windows a trader can pick, in seconds; the history holds 30 min. */
export const CHART_WINDOWS = [60, 300, 900, 1800] as const;

/** The window shown when the chart opens: the last 5 minutes. */
export const DEFAULT_CHART_WINDOW = 300;

/**
 * followRange is the range a live chart shows: the last windowSec seconds up
 * to the newest point, or every point while they span less than that (the
 * line then fills the chart as it grows, instead of keeping the few seconds
 * it opened with). It is undefined with fewer than two points: there is
 * nothing to fit yet. points are in ascending time.
 */
export function followRange(points: readonly PricePoint[], windowSec: number): TimeRange | undefined {
  const first = points[0];
  const last = points[points.length - 1];
  if (!first || !last || last.time <= first.time) return undefined;
  return { from: Math.max(first.time, last.time - windowSec), to: last.time };
}
