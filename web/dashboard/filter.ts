// Subject filter: which families and extra patterns the dashboard subscribes to.

import { h } from './dom.js';

/** What the user chose. */
export interface FilterState {
  ticks: boolean;
  chain: boolean;
  jobs: boolean;
  /** Extra patterns, separated by spaces or commas. */
  patterns: string;
}

/** One subscription the dashboard should hold. */
export interface SubSpec {
  /** Stable identity: same key, same subscription. */
  key: string;
  subjects: string[];
  maxRate?: number;
  /** Start from the current values (the hub's snapshot). */
  snapshot?: boolean;
}

export const DEFAULT_FILTER: FilterState = { ticks: true, chain: true, jobs: true, patterns: '' };

/** Max subjects per subscribe command (protocol limit). */
const CHUNK = 16;

/** parsePatterns splits free text into distinct patterns. */
export function parsePatterns(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((s) => s.length > 0))];
}

/**
 * specsFor turns a filter into subscriptions: ticks with maxRate (keep-latest,
 * so the page stays smooth), chain and jobs with their families' default
 * policies, and extra patterns in chunks of 16; extra tick patterns also get
 * maxRate, so that re-subscribing an already rate-limited pattern does not
 * lift its limit.
 */
export function specsFor(f: FilterState, tickRate: number): SubSpec[] {
  const specs: SubSpec[] = [];
  // The board and the chain panel start from the hub's last values
  // (snapshot), so the page is full at once instead of filling tick by tick.
  if (f.ticks) specs.push({ key: `ticks.>|${tickRate}`, subjects: ['ticks.>'], maxRate: tickRate, snapshot: true });
  if (f.chain) specs.push({ key: 'chain.>', subjects: ['chain.>'], snapshot: true });
  if (f.jobs) specs.push({ key: 'jobs.>', subjects: ['jobs.>'] });
  const extra = parsePatterns(f.patterns);
  const ticks = extra.filter((p) => p === 'ticks' || p.startsWith('ticks.'));
  const other = extra.filter((p) => !ticks.includes(p));
  for (let i = 0; i < ticks.length; i += CHUNK) {
    const subjects = ticks.slice(i, i + CHUNK);
    specs.push({ key: `${subjects.join(' ')}|${tickRate}`, subjects, maxRate: tickRate });
  }
  for (let i = 0; i < other.length; i += CHUNK) {
    const subjects = other.slice(i, i + CHUNK);
    specs.push({ key: subjects.join(' '), subjects });
  }
  return specs;
}

/** FilterBar is the form; onApply runs with the new state on every change. */
export class FilterBar {
  readonly el: HTMLFormElement;
  private state: FilterState;

  constructor(initial: FilterState, onApply: (f: FilterState) => void) {
    this.state = { ...initial };
    const box = (name: 'ticks' | 'chain' | 'jobs', label: string): HTMLElement => {
      const input = h('input', { type: 'checkbox', name, 'data-testid': `filter-${name}` });
      input.checked = this.state[name];
      input.addEventListener('change', () => {
        this.state = { ...this.state, [name]: input.checked };
        onApply(this.state);
      });
      return h('label', { class: 'check' }, input, ` ${label}`);
    };
    const text = h('input', {
      type: 'text',
      name: 'patterns',
      // Short enough to show in full on a 360 px phone; the tooltip has more.
      placeholder: 'extra subjects, e.g. ticks.*.BTC-USD',
      title: 'Extra subject patterns, separated by spaces or commas, e.g. chain.eth.reorg ticks.*.BTC-USD',
      'aria-label': 'Extra subject patterns',
      'data-testid': 'filter-patterns',
      spellcheck: 'false',
      autocomplete: 'off',
    });
    text.value = this.state.patterns;
    this.el = h(
      'form',
      { class: 'filter', 'aria-label': 'Subject filter' },
      box('ticks', 'ticks'),
      box('chain', 'chain'),
      box('jobs', 'jobs'),
      text,
      h('button', { type: 'submit', 'data-testid': 'filter-apply' }, 'Apply'),
    );
    this.el.addEventListener('submit', (e) => {
      e.preventDefault();
      this.state = { ...this.state, patterns: text.value };
      onApply(this.state);
    });
  }

  /** value is the current state. */
  get value(): FilterState {
    return this.state;
  }
}
