// The large chart of one market row, drawn with lightweight-charts v5. The
// library is loaded on first use so the first paint does not wait for it.

import type { IChartApi, ISeriesApi, UTCTimestamp } from 'lightweight-charts';
import { h, setText } from './dom.js';
import type { MarketRow } from './market.js';

type Lib = typeof import('lightweight-charts');

/** ChartPanel shows one row's price history and follows its updates. */
export class ChartPanel {
  readonly el: HTMLElement;
  private readonly title: HTMLElement;
  private readonly host: HTMLElement;
  private chart: IChartApi | undefined;
  private series: ISeriesApi<'Line'> | undefined;
  private current: MarketRow | undefined;
  private lib: Promise<Lib> | undefined;

  constructor(private readonly onClose: () => void) {
    this.title = h('h2', {}, 'Chart');
    this.host = h('div', { class: 'chart-host', 'data-testid': 'chart' });
    const close = h('button', { type: 'button', class: 'close', 'aria-label': 'Close chart', 'data-testid': 'chart-close' }, '×');
    close.addEventListener('click', () => this.close());
    this.el = h('section', { class: 'panel chart', 'aria-label': 'Price chart', hidden: '' }, h('div', { class: 'panel-head' }, this.title, close), this.host);
  }

  /** key is the row shown, if any. */
  get key(): string | undefined {
    return this.current?.key;
  }

  /** open shows row's history and follows it. */
  async open(row: MarketRow): Promise<void> {
    this.current = row;
    this.el.hidden = false;
    setText(this.title, `${row.symbol} · ${row.venue}`);
    this.el.scrollIntoView?.({ block: 'nearest', behavior: 'smooth' });
    this.lib ??= import('lightweight-charts');
    const lib = await this.lib;
    if (this.current !== row) return; // another row was chosen meanwhile
    if (!this.chart) {
      this.chart = lib.createChart(this.host, {
        autoSize: true,
        layout: {
          background: { type: lib.ColorType.Solid, color: '#0d1117' },
          textColor: '#8b949e',
          fontFamily: 'ui-monospace, SFMono-Regular, Menlo, monospace',
        },
        grid: { vertLines: { color: '#1c2128' }, horzLines: { color: '#1c2128' } },
        rightPriceScale: { borderColor: '#30363d' },
        timeScale: { borderColor: '#30363d', timeVisible: true, secondsVisible: true },
        crosshair: { mode: lib.CrosshairMode.Normal },
      });
      this.series = this.chart.addSeries(lib.LineSeries, { color: '#58a6ff', lineWidth: 2 });
    }
    const precision = decimals(row.last);
    this.series?.applyOptions({
      priceFormat: { type: 'price', precision, minMove: Math.pow(10, -precision) },
    });
    this.series?.setData(row.history.map((p) => ({ time: p.time as UTCTimestamp, value: p.value })));
    this.chart.timeScale().fitContent();
  }

  /** push follows the shown row; other rows are ignored. */
  push(row: MarketRow): void {
    if (row !== this.current || !this.series) return;
    const p = row.history[row.history.length - 1];
    if (p) this.series.update({ time: p.time as UTCTimestamp, value: p.value });
  }

  /** close hides the panel (the chart is kept for the next open). */
  close(): void {
    this.current = undefined;
    this.el.hidden = true;
    this.onClose();
  }
}

function decimals(s: string): number {
  const i = s.indexOf('.');
  return i < 0 ? 0 : Math.min(8, s.length - i - 1);
}
