// Market board: one row per venue and symbol.

import type { TickEvent } from '../client/index.js';
import { h, setText, testIdPart } from './dom.js';
import { fmtDecimal, pctChange } from './format.js';
import { drawSparkline } from './sparkline.js';

/** One point of a row's history: time in Unix seconds, last price. */
export interface PricePoint {
  time: number;
  value: number;
}

/** MarketRow is the state behind one row of the board. */
export interface MarketRow {
  key: string;
  venue: string;
  symbol: string;
  first: number;
  last: string;
  lastNum: number;
  prevNum: number;
  bid: string;
  ask: string;
  /** Recent prices for the sparkline (bounded). */
  spark: number[];
  /** Per-second history for the large chart (bounded, ascending time). */
  history: PricePoint[];
  el: HTMLTableRowElement;
  dirty: boolean;
}

const SPARK_POINTS = 60;
const HISTORY_POINTS = 1800;

/**
 * MarketBoard renders the ticks family. update() records an event; flush()
 * writes dirty rows to the DOM (call it once per animation frame).
 */
export class MarketBoard {
  readonly el: HTMLElement;
  private readonly tbody: HTMLTableSectionElement;
  private readonly empty: HTMLElement;
  private readonly rows = new Map<string, MarketRow>();
  private selected: string | undefined;

  constructor(private readonly onSelect: (row: MarketRow) => void) {
    this.tbody = h('tbody');
    this.empty = h('p', { class: 'empty', 'data-testid': 'market-empty' }, 'Waiting for ticks…');
    this.el = h(
      'section',
      { class: 'panel market', 'aria-label': 'Market board' },
      h('h2', {}, 'Market'),
      this.empty,
      h(
        'table',
        { class: 'board' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { class: 'c-sym' }, 'Symbol'),
            h('th', { class: 'c-num' }, 'Last'),
            h('th', { class: 'c-num' }, 'Chg'),
            h('th', { class: 'c-num c-ba' }, 'Bid'),
            h('th', { class: 'c-num c-ba' }, 'Ask'),
            h('th', { class: 'c-spark' }, 'Trend'),
          ),
        ),
        this.tbody,
      ),
    );
  }

  /** row returns the state of venue/symbol, if seen. */
  row(venue: string, symbol: string): MarketRow | undefined {
    return this.rows.get(`${venue}/${symbol}`);
  }

  /** update records a tick. */
  update(ev: TickEvent): MarketRow | undefined {
    const d = ev.data;
    if (!d || typeof d.venue !== 'string' || typeof d.symbol !== 'string') return undefined;
    const lastNum = Number.parseFloat(d.last);
    if (!Number.isFinite(lastNum)) return undefined;
    const key = `${d.venue}/${d.symbol}`;
    let row = this.rows.get(key);
    if (!row) {
      row = this.createRow(key, d.venue, d.symbol, lastNum);
    }
    row.prevNum = row.lastNum;
    row.last = d.last;
    row.lastNum = lastNum;
    row.bid = d.bid;
    row.ask = d.ask;
    row.spark.push(lastNum);
    if (row.spark.length > SPARK_POINTS) row.spark.shift();
    const time = Math.floor((d.ts || ev.ts) / 1000);
    const tail = row.history[row.history.length - 1];
    if (tail && tail.time === time) tail.value = lastNum;
    else if (!tail || time > tail.time) row.history.push({ time, value: lastNum });
    if (row.history.length > HISTORY_POINTS) row.history.shift();
    row.dirty = true;
    return row;
  }

  /** flush writes every changed row to the DOM. */
  flush(): void {
    for (const row of this.rows.values()) {
      if (!row.dirty) continue;
      row.dirty = false;
      const cells = row.el.cells;
      const last = cells[1];
      if (last) {
        setText(last, fmtDecimal(row.last));
        last.dataset['dir'] = row.lastNum > row.prevNum ? 'up' : row.lastNum < row.prevNum ? 'down' : 'flat';
      }
      const chg = cells[2];
      if (chg) {
        setText(chg, pctChange(row.first, row.lastNum));
        chg.dataset['dir'] = row.lastNum > row.first ? 'up' : row.lastNum < row.first ? 'down' : 'flat';
      }
      if (cells[3]) setText(cells[3], fmtDecimal(row.bid));
      if (cells[4]) setText(cells[4], fmtDecimal(row.ask));
      const canvas = row.el.querySelector('canvas');
      if (canvas) drawSparkline(canvas, row.spark);
    }
  }

  /** clear removes every row (the family was unsubscribed). */
  clear(): void {
    this.rows.clear();
    this.tbody.replaceChildren();
    this.empty.hidden = false;
    this.selected = undefined;
  }

  /** select marks a row as the one shown in the large chart. */
  select(key: string | undefined): void {
    this.selected = key;
    for (const r of this.rows.values()) r.el.classList.toggle('selected', r.key === key);
  }

  private createRow(key: string, venue: string, symbol: string, price: number): MarketRow {
    const el = h(
      'tr',
      {
        'data-testid': `tick-row-${testIdPart(venue)}-${testIdPart(symbol)}`,
        tabindex: '0',
        title: 'Open a larger chart',
      },
      h('td', { class: 'c-sym' }, h('span', { class: 'sym' }, symbol), h('span', { class: 'venue' }, venue)),
      h('td', { class: 'c-num', 'data-testid': 'last' }),
      h('td', { class: 'c-num', 'data-testid': 'change' }),
      h('td', { class: 'c-num c-ba', 'data-testid': 'bid' }),
      h('td', { class: 'c-num c-ba', 'data-testid': 'ask' }),
      h('td', { class: 'c-spark' }, h('canvas', { class: 'spark', 'aria-hidden': 'true' })),
    );
    const row: MarketRow = {
      key,
      venue,
      symbol,
      first: price,
      last: '',
      lastNum: price,
      prevNum: price,
      bid: '',
      ask: '',
      spark: [],
      history: [],
      el,
      dirty: true,
    };
    const open = (): void => this.onSelect(row);
    el.addEventListener('click', open);
    el.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        open();
      }
    });
    this.rows.set(key, row);
    // Keep rows sorted by symbol, then venue.
    const sorted = [...this.rows.values()].sort(
      (a, b) => a.symbol.localeCompare(b.symbol) || a.venue.localeCompare(b.venue),
    );
    const next = sorted[sorted.indexOf(row) + 1];
    this.tbody.insertBefore(el, next ? next.el : null);
    this.empty.hidden = true;
    if (key === this.selected) el.classList.add('selected');
    return row;
  }
}
