// Reorg notices: the newest one in a slot of fixed height, the others behind
// a count, each with its age, all gone after a while.

import type { ReorgEvent } from '../client/index.js';
import { h, hashEl, setText } from './dom.js';
import { fmtDuration, fmtInt, fmtSpan } from './format.js';

/** Settings of ReorgNotices; zero fields take the defaults. */
export interface ReorgOptions {
  /** A notice is highlighted this long after the reorg (default 30 s). */
  freshMs?: number;
  /** A notice is dropped this long after the reorg (default 5 min). */
  expireMs?: number;
  /** Most notices kept, newest first (default 20). */
  maxKept?: number;
}

interface Notice {
  /** When the reorg happened (event ts, Unix ms). */
  at: number;
  el: HTMLElement;
  age: HTMLElement;
}

/**
 * ReorgNotices renders reorg events. Collapsed (the default), it shows only
 * the newest notice, or a placeholder of the same height when there is
 * none, so that reorgs never move the panels below; a "+N earlier" button
 * expands the list. tick() refreshes ages and expires notices and is meant to
 * run once a second. Methods are called on the page's thread.
 */
export class ReorgNotices {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly none: HTMLElement;
  private readonly more: HTMLButtonElement;
  private readonly opts: Required<ReorgOptions>;
  // Newest first; at most opts.maxKept, none older than opts.expireMs.
  private notices: Notice[] = [];
  private expanded = false;

  constructor(opts: ReorgOptions = {}, private readonly now: () => number = Date.now) {
    this.opts = {
      freshMs: opts.freshMs || 30_000,
      expireMs: opts.expireMs || 300_000,
      maxKept: opts.maxKept || 20,
    };
    this.none = h('li', { class: 'reorg none', 'data-testid': 'reorg-none' }, `No reorgs in the last ${fmtSpan(this.opts.expireMs)}`);
    this.list = h('ul', { class: 'reorgs' }, this.none);
    this.more = h('button', { type: 'button', class: 'reorg-more', 'data-testid': 'reorg-more', 'aria-expanded': 'false', hidden: '' });
    this.more.addEventListener('click', () => {
      this.expanded = !this.expanded;
      this.render();
    });
    this.el = h('div', { class: 'reorg-box', 'data-testid': 'reorgs' }, this.list, this.more);
  }

  /** count is the number of notices kept (shown or behind the count). */
  get count(): number {
    return this.notices.length;
  }

  /** add records a reorg; it reports false for an event without a fork height. */
  add(ev: ReorgEvent): boolean {
    const d = ev.data;
    if (typeof d?.fork_height !== 'number') return false;
    const network = d.network || ev.subject.split('.')[1] || '?';
    const age = h('span', { class: 'age', 'data-testid': 'reorg-age' });
    const el = h(
      'li',
      { class: 'reorg fresh', 'data-testid': 'reorg-row', 'data-network': network },
      h(
        'div',
        { class: 'reorg-head' },
        h('strong', { role: 'alert' }, `Reorg on ${network}`),
        h('span', {}, `depth ${fmtInt(d.depth)} at #${fmtInt(d.fork_height)}`),
        age,
      ),
      h('div', { class: 'reorg-heads' }, hashEl(d.old_head), h('span', { class: 'arrow' }, '→'), hashEl(d.new_head)),
    );
    const notice: Notice = { at: d.ts || ev.ts || this.now(), el, age };
    this.notices.unshift(notice); // same time: the later arrival first (the sort is stable)
    this.notices.sort((a, b) => b.at - a.at);
    this.notices.length = Math.min(this.notices.length, this.opts.maxKept);
    this.tick();
    return true;
  }

  /** tick refreshes ages and the highlight, and drops expired notices. */
  tick(): void {
    const now = this.now();
    this.notices = this.notices.filter((n) => now - n.at < this.opts.expireMs);
    for (const n of this.notices) {
      const age = Math.max(0, now - n.at);
      setText(n.age, `${fmtDuration(age)} ago`);
      n.el.classList.toggle('fresh', age < this.opts.freshMs);
    }
    this.render();
  }

  /** clear drops every notice. */
  clear(): void {
    this.notices = [];
    this.expanded = false;
    this.render();
  }

  // render shows the newest notice (every notice when expanded) and the
  // count of the others; it touches the DOM only when the set changed.
  private render(): void {
    const earlier = this.notices.length - 1;
    if (earlier < 1) this.expanded = false;
    const shown: HTMLElement[] = this.notices.length === 0 ? [this.none] : (this.expanded ? this.notices : this.notices.slice(0, 1)).map((n) => n.el);
    const current = [...this.list.children];
    if (current.length !== shown.length || current.some((el, i) => el !== shown[i])) this.list.replaceChildren(...shown);
    this.more.hidden = earlier < 1;
    this.more.setAttribute('aria-expanded', String(this.expanded));
    setText(this.more, this.expanded ? 'show newest only' : `+${fmtInt(earlier)} earlier`);
    this.el.classList.toggle('expanded', this.expanded);
  }
}
