// @vitest-environment jsdom
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { TickEvent } from '../client/index.js';
import { tickEvent } from './events.testutil.js';
import { MarketBoard, type MarketRow } from './market.js';

function tick(venue: string, symbol: string, last: string, ts = 1_700_000_000_000): TickEvent {
  return tickEvent(venue, symbol, last, ts);
}

beforeAll(() => {
  // jsdom has no canvas; the sparkline then draws nothing.
  vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockReturnValue(null);
});

describe('MarketBoard', () => {
  it('renders one sorted row per venue and symbol with last, change and bid/ask', () => {
    const b = new MarketBoard(() => {});
    b.update(tick('coinbase', 'ETH-USD', '3000.00'));
    b.update(tick('binance', 'BTC-USD', '67000.10'));
    b.update(tick('coinbase', 'BTC-USD', '67001.00'));
    b.update(tick('coinbase', 'BTC-USD', '67671.01'));
    b.flush();
    const ids = [...b.el.querySelectorAll('tbody tr')].map((r) => r.getAttribute('data-testid'));
    expect(ids).toEqual(['tick-row-binance-BTC-USD', 'tick-row-coinbase-BTC-USD', 'tick-row-coinbase-ETH-USD']);
    const row = b.el.querySelector('[data-testid="tick-row-coinbase-BTC-USD"]');
    expect(row?.querySelector('[data-testid="last"]')?.textContent).toBe('67,671.01');
    expect(row?.querySelector<HTMLElement>('[data-testid="last"]')?.dataset['dir']).toBe('up');
    expect(row?.querySelector('[data-testid="change"]')?.textContent).toBe('+1.00%');
    expect(row?.querySelector('[data-testid="bid"]')?.textContent).toBe('1.0');
    expect(b.el.querySelector<HTMLElement>('[data-testid="market-empty"]')?.hidden).toBe(true);
  });

  it('keeps one history point per second, ascending', () => {
    const b = new MarketBoard(() => {});
    const t0 = 1_700_000_000_000;
    b.update(tick('x', 'A', '1', t0));
    b.update(tick('x', 'A', '2', t0 + 300));
    b.update(tick('x', 'A', '3', t0 + 1200));
    b.update(tick('x', 'A', '9', t0 - 5000)); // older than the tail: not charted
    expect(b.row('x', 'A')?.history).toEqual([
      { time: t0 / 1000, value: 2 },
      { time: t0 / 1000 + 1, value: 3 },
    ]);
  });

  it('opens the chart on click and on Enter', () => {
    const onSelect = vi.fn<(r: MarketRow) => void>();
    const b = new MarketBoard(onSelect);
    b.update(tick('coinbase', 'SOL-USD', '150.5'));
    const tr = b.el.querySelector<HTMLElement>('[data-testid="tick-row-coinbase-SOL-USD"]');
    tr?.click();
    tr?.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }));
    expect(onSelect).toHaveBeenCalledTimes(2);
    expect(onSelect.mock.calls[0]?.[0].symbol).toBe('SOL-USD');
  });

  it('ignores malformed ticks', () => {
    const b = new MarketBoard(() => {});
    expect(b.update(tick('x', 'A', 'not a number'))).toBeUndefined();
    expect(b.el.querySelectorAll('tbody tr')).toHaveLength(0);
  });
});
