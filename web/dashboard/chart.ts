// The large chart of one market row, drawn with lightweight-charts v5. The
// library is loaded on first use so the first paint does not wait for it.

import type { IChartApi, ISeriesApi, UTCTimestamp } from 'lightweight-charts';
import { CHART_WINDOWS, DEFAULT_CHART_WINDOW, followRange } from './chartwindow.js';
import { h, setText } from './dom.js';
import { decimalsOf, fmtPrice, fmtSpan } from './format.js';
import type { MarketRow } from './market.js';

type Lib = typeof import('lightweight-charts');

/**
 * ChartPanel shows one row's price history and follows its updates: the
 * time axis shows the last few minutes (the window picked with the buttons
 * in its head), or all the history while it is shorter. Dragging and zooming
 * are off, since the next update would undo them; the buttons set the span.
 * The host element carries the range shown (data-visible-from/-to, as the
 * library reports it) and the range of the data (data-data-from/-to), in
 * Unix seconds, for tests.
 */
export class ChartPanel {
  readonly el: HTMLElement;
  private readonly title: HTMLElement;
  private readonly host: HTMLElement;
  private readonly windowButtons: HTMLButtonElement[];
  private chart: IChartApi | undefined;
  private series: ISeriesApi<'Line'> | undefined;
  private current: MarketRow | undefined;
  private lib: Promise<Lib> | undefined;
  private windowSec: number = DEFAULT_CHART_WINDOW;
  // Digits after the point of the shown row's prices, for the axis labels.
  private precision = 2;

  constructor(
    private readonly onClose: () => void,
    private readonly load: () => Promise<Lib> = () => import('lightweight-charts'),
  ) {
    this.title = h('h2', {}, 'Chart');
    this.host = h('div', { class: 'chart-host', 'data-testid': 'chart' });
    const close = h('button', { type: 'button', class: 'close', 'aria-label': 'Close chart', 'data-testid': 'chart-close' }, '×');
    close.addEventListener('click', () => this.close());
    this.windowButtons = CHART_WINDOWS.map((sec) => {
      const b = h('button', { type: 'button', 'data-testid': `chart-window-${sec}`, title: `Show the last ${fmtSpan(sec * 1000)}` }, `${sec / 60}m`);
      b.addEventListener('click', () => this.setWindow(sec));
      return b;
    });
    this.markWindow();
    this.el = h(
      'section',
      { class: 'panel chart', 'aria-label': 'Price chart', hidden: '' },
      h('div', { class: 'panel-head' }, this.title, h('div', { class: 'chart-tools', role: 'group', 'aria-label': 'Time window' }, ...this.windowButtons, close)),
      this.host,
    );
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
    this.lib ??= this.load();
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
        localization: { priceFormatter: (p: number) => fmtPrice(p, this.precision) },
        grid: { vertLines: { color: '#1c2128' }, horzLines: { color: '#1c2128' } },
        rightPriceScale: { borderColor: '#30363d' },
        timeScale: { borderColor: '#30363d', timeVisible: true, secondsVisible: true },
        crosshair: { mode: lib.CrosshairMode.Normal },
        handleScroll: false,
        handleScale: false,
      });
      this.series = this.chart.addSeries(lib.LineSeries, { color: '#58a6ff', lineWidth: 2 });
      this.chart.timeScale().subscribeVisibleTimeRangeChange((r) => {
        this.host.dataset['visibleFrom'] = r ? String(r.from) : '';
        this.host.dataset['visibleTo'] = r ? String(r.to) : '';
      });
    }
    this.precision = decimalsOf(row.last);
    this.series?.applyOptions({
      priceFormat: { type: 'price', precision: this.precision, minMove: Math.pow(10, -this.precision) },
    });
    this.series?.setData(row.history.map((p) => ({ time: p.time as UTCTimestamp, value: p.value })));
    this.follow();
  }

  /** push follows the shown row; other rows are ignored. */
  push(row: MarketRow): void {
    if (row !== this.current || !this.series) return;
    const p = row.history[row.history.length - 1];
    if (!p) return;
    this.series.update({ time: p.time as UTCTimestamp, value: p.value });
    this.follow();
  }

  /** setWindow shows the last sec seconds from now on. */
  setWindow(sec: number): void {
    this.windowSec = sec;
    this.markWindow();
    this.follow();
  }

  /** close hides the panel (the chart is kept for the next open). */
  close(): void {
    this.current = undefined;
    this.el.hidden = true;
    this.onClose();
  }

  // follow moves the time axis to the window that ends at the newest point.
  private follow(): void {
    const history = this.current?.history;
    if (!this.chart || !history) return;
    this.host.dataset['dataFrom'] = String(history[0]?.time ?? '');
    this.host.dataset['dataTo'] = String(history[history.length - 1]?.time ?? '');
    const r = followRange(history, this.windowSec);
    if (r) this.chart.timeScale().setVisibleRange({ from: r.from as UTCTimestamp, to: r.to as UTCTimestamp });
    else this.chart.timeScale().fitContent();
  }

  private markWindow(): void {
    for (const [i, b] of this.windowButtons.entries()) b.setAttribute('aria-pressed', String(CHART_WINDOWS[i] === this.windowSec));
  }
}
