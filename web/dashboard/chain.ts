// Chain panel: latest blocks, large transfers, reorg notices.

import type { BlockEvent, ReorgEvent, TransferEvent } from '../client/index.js';
import { h, hashEl, setText } from './dom.js';
import { fmtDecimal, fmtDuration, fmtInt, fmtUsd, fmtUsdExact } from './format.js';
import { ReorgNotices, type ReorgOptions } from './reorgs.js';

/** Settings of ChainPanel; zero fields take the defaults. */
export interface ChainOptions {
  /** Blocks listed (default 8). */
  maxBlocks?: number;
  /** Transfers listed (default 6). */
  maxTransfers?: number;
  /** Reorg notices (default: ReorgNotices' defaults). */
  reorgs?: ReorgOptions;
  /** Smallest USD value of a transfer shown as large (default 100000). */
  largeTransferUsd?: number;
}

interface BlockRow {
  network: string;
  height: number;
  time: number;
  el: HTMLElement;
}

/**
 * ChainPanel renders the chain family. Methods are called on the page's
 * thread; tick() refreshes the ages and is meant to run once a second.
 */
export class ChainPanel {
  readonly el: HTMLElement;
  private readonly blocksEl: HTMLElement;
  private readonly transfersEl: HTMLElement;
  private readonly reorgs: ReorgNotices;
  private blocks: BlockRow[] = [];
  private readonly opts: Required<Omit<ChainOptions, 'reorgs'>>;

  constructor(opts: ChainOptions = {}, private readonly now: () => number = Date.now) {
    this.opts = {
      maxBlocks: opts.maxBlocks || 8,
      maxTransfers: opts.maxTransfers || 6,
      largeTransferUsd: opts.largeTransferUsd || 100_000,
    };
    this.reorgs = new ReorgNotices(opts.reorgs, now);
    this.blocksEl = h('ol', { class: 'blocks', 'data-testid': 'blocks' }, h('li', { class: 'empty' }, 'Waiting for blocks…'));
    this.transfersEl = h(
      'ol',
      { class: 'transfers', 'data-testid': 'transfers' },
      h('li', { class: 'empty' }, `No transfers ≥ ${fmtUsd(this.opts.largeTransferUsd)} yet`),
    );
    this.el = h(
      'section',
      { class: 'panel chain', 'aria-label': 'Chain' },
      h('h2', {}, 'Chain'),
      this.reorgs.el,
      h('h3', {}, 'Latest blocks'),
      this.blocksEl,
      h('h3', {}, 'Large transfers'),
      this.transfersEl,
    );
  }

  /** block adds or replaces a block (same network and height: replaced, e.g. after a reorg). */
  block(ev: BlockEvent): void {
    const d = ev.data;
    if (typeof d?.height !== 'number') return;
    const network = d.network || ev.subject.split('.')[1] || '?';
    const existing = this.blocks.find((b) => b.network === network && b.height === d.height);
    const el = h(
      'li',
      { class: 'block', 'data-testid': 'block-row', 'data-height': String(d.height), 'data-network': network },
      h('span', { class: 'height' }, `#${fmtInt(d.height)}`),
      h('span', { class: 'net' }, network),
      h('span', { class: 'txs', 'data-testid': 'tx-count' }, `${fmtInt(d.tx_count)} tx`),
      hashEl(d.hash),
      h('span', { class: 'age', 'data-testid': 'age' }),
    );
    const row: BlockRow = { network, height: d.height, time: d.time || ev.ts, el };
    if (existing) {
      existing.el.replaceWith(el);
      this.blocks[this.blocks.indexOf(existing)] = row;
    } else {
      this.blocks.push(row);
    }
    this.blocks.sort((a, b) => b.height - a.height || a.network.localeCompare(b.network));
    while (this.blocks.length > this.opts.maxBlocks) this.blocks.pop();
    this.blocksEl.replaceChildren(...this.blocks.map((b) => b.el));
    this.tick();
  }

  /** transfer lists the transfer when its USD value is large enough. */
  transfer(ev: TransferEvent): void {
    const d = ev.data;
    const usd = Number.parseFloat(d?.usd_value ?? '');
    if (!Number.isFinite(usd) || usd < this.opts.largeTransferUsd) return;
    const el = h(
      'li',
      { class: 'transfer', 'data-testid': 'transfer-row', title: `block #${fmtInt(d.block_height)}` },
      h('span', { class: 'usd', title: fmtUsdExact(usd) }, fmtUsd(usd)),
      h('span', { class: 'asset' }, `${fmtDecimal(d.amount)} ${d.asset}`),
      h('span', { class: 'addr' }, hashEl(d.from), h('span', { class: 'arrow' }, '→'), hashEl(d.to)),
      h('span', { class: 'height' }, `#${fmtInt(d.block_height)}`),
    );
    this.prepend(this.transfersEl, el, this.opts.maxTransfers);
  }

  /** reorg shows a notice and marks the replaced blocks. */
  reorg(ev: ReorgEvent): void {
    if (!this.reorgs.add(ev)) return;
    const d = ev.data;
    for (const b of this.blocks) {
      if (b.network === d.network && b.height > d.fork_height) b.el.classList.add('reorged');
    }
  }

  /** tick refreshes the ages of blocks and reorg notices. */
  tick(): void {
    this.reorgs.tick();
    const now = this.now();
    for (const b of this.blocks) {
      const age = b.el.querySelector('.age');
      if (age) setText(age, `${fmtDuration(now - b.time)} ago`);
    }
  }

  /** clear empties the panel (the family was unsubscribed). */
  clear(): void {
    this.blocks = [];
    this.blocksEl.replaceChildren(h('li', { class: 'empty' }, 'Not subscribed'));
    this.transfersEl.replaceChildren();
    this.reorgs.clear();
  }

  private prepend(list: HTMLElement, el: HTMLElement, max: number): void {
    list.querySelector(':scope > .empty')?.remove();
    list.prepend(el);
    while (list.children.length > max) list.lastElementChild?.remove();
  }
}
