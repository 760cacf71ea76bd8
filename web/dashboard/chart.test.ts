// @vitest-environment jsdom
// ChartPanel against a fake lightweight-charts that records what the panel
// asks of it.
import { describe, expect, it } from 'vitest';
import type { TickEvent } from '../client/index.js';
import { ChartPanel } from './chart.js';
import { tickEvent } from './events.testutil.js';
import { MarketBoard, type MarketRow } from './market.js';

type Range = { from: number; to: number };

function fakeLib() {
  const calls = { ranges: [] as Range[], fits: 0, options: undefined as Record<string, unknown> | undefined, data: [] as unknown[] };
  let onRange: ((r: Range | null) => void) | undefined;
  const timeScale = {
    setVisibleRange: (r: Range) => {
      calls.ranges.push(r);
      onRange?.(r);
    },
    fitContent: () => void calls.fits++,
    subscribeVisibleTimeRangeChange: (fn: (r: Range | null) => void) => void (onRange = fn),
  };
  const series = { applyOptions: () => {}, setData: (d: unknown[]) => void (calls.data = d), update: () => {} };
  const lib = {
    ColorType: { Solid: 'solid' },
    CrosshairMode: { Normal: 0 },
    LineSeries: {},
    createChart: (_host: HTMLElement, options: Record<string, unknown>) => {
      calls.options = options;
      return { addSeries: () => series, timeScale: () => timeScale };
    },
  };
  return { calls, load: () => Promise.resolve(lib as unknown as typeof import('lightweight-charts')) };
}

const T0 = 1_700_000_000; // Unix seconds

function tick(sec: number, last: string): TickEvent {
  return tickEvent('binance', 'BTC-USD', last, sec * 1000, last, last);
}

/** feed sends one tick a second for [from, to) and pushes each to the chart. */
function feed(board: MarketBoard, chart: ChartPanel, from: number, to: number): MarketRow {
  let row: MarketRow | undefined;
  for (let s = from; s < to; s++) {
    row = board.update(tick(s, (67000 + (s % 7)).toFixed(2)));
    if (row) chart.push(row);
  }
  if (!row) throw new Error('no row');
  return row;
}

function setup() {
  const { calls, load } = fakeLib();
  return { calls, board: new MarketBoard(() => {}), chart: new ChartPanel(() => {}, load) };
}

describe('ChartPanel', () => {
  it('follows the data: fits while short, then rolls the last 5 minutes', async () => {
    const { calls, board, chart } = setup();
    const row = feed(board, chart, T0, T0 + 5); // opened early: 5 s of data
    await chart.open(row);
    expect(calls.ranges.at(-1)).toEqual({ from: T0, to: T0 + 4 });

    feed(board, chart, T0 + 5, T0 + 60);
    expect(calls.ranges.at(-1)).toEqual({ from: T0, to: T0 + 59 }); // grows, not stuck at 5 s

    feed(board, chart, T0 + 60, T0 + 600);
    expect(calls.ranges.at(-1)).toEqual({ from: T0 + 299, to: T0 + 599 });
    const host = chart.el.querySelector<HTMLElement>('[data-testid="chart"]');
    expect(host?.dataset['visibleTo']).toBe(String(T0 + 599));
    expect(host?.dataset['dataFrom']).toBe(String(T0));
  });

  it('applies the window picked with the buttons, and the next updates keep it', async () => {
    const { calls, board, chart } = setup();
    const row = feed(board, chart, T0, T0 + 1200);
    await chart.open(row);
    const one = chart.el.querySelector<HTMLButtonElement>('[data-testid="chart-window-60"]');
    one?.click();
    expect(one?.getAttribute('aria-pressed')).toBe('true');
    expect(chart.el.querySelector('[data-testid="chart-window-300"]')?.getAttribute('aria-pressed')).toBe('false');
    expect(calls.ranges.at(-1)).toEqual({ from: T0 + 1139, to: T0 + 1199 });
    feed(board, chart, T0 + 1200, T0 + 1210);
    expect(calls.ranges.at(-1)).toEqual({ from: T0 + 1149, to: T0 + 1209 });
  });

  it('fits a lone point, and labels prices with separators at the row precision', async () => {
    const { calls, board, chart } = setup();
    const row = feed(board, chart, T0, T0 + 1);
    await chart.open(row);
    expect(calls.ranges).toHaveLength(0);
    expect(calls.fits).toBe(1);
    expect(calls.options?.['handleScroll']).toBe(false);
    const fmt = (calls.options?.['localization'] as { priceFormatter: (p: number) => string }).priceFormatter;
    expect(fmt(67003.456)).toBe('67,003.46');
  });

  it('ignores updates of other rows', async () => {
    const { calls, board, chart } = setup();
    await chart.open(feed(board, chart, T0, T0 + 10));
    const before = calls.ranges.length;
    const other = board.update({ ...tick(T0 + 11, '1.00'), subject: 'ticks.coinbase.BTC-USD', data: { ...tick(T0 + 11, '1.00').data, venue: 'coinbase' } });
    if (other) chart.push(other);
    expect(calls.ranges).toHaveLength(before);
  });
});
