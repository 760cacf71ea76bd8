// Chain panel: latest blocks, large transfers, reorg notices.

import type { BlockEvent, ReorgEvent, TransferEvent } from '../client/index.js';
import { h, setText } from './dom.js';
import { fmtDecimal, fmtDuration, fmtInt, fmtUsd, fmtUsdExact, shortHash } from './format.js';

/** Settings of ChainPanel; zero fields take the defaults. */
export interface ChainOptions {
  /** Blocks listed (default 8). */
  maxBlocks?: number;
  /** Transfers listed (default 6). */
  maxTransfers?: number;
  /** Reorg notices listed (default 4). */
  maxReorgs?: number;
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
  private readonly reorgsEl: HTMLElement;
  private blocks: BlockRow[] = [];
  private readonly opts: Required<ChainOptions>;

  constructor(opts: ChainOptions = {}, private readonly now: () => number = Date.now) {
    this.opts = {
      maxBlocks: opts.maxBlocks || 8,
      maxTransfers: opts.maxTransfers || 6,
      maxReorgs: opts.maxReorgs || 4,
      largeTransferUsd: opts.largeTransferUsd || 100_000,
    };
    this.reorgsEl = h('ul', { class: 'reorgs', 'data-testid': 'reorgs' });
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
      this.reorgsEl,
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
      h('span', { class: 'hash', title: d.hash }, shortHash(d.hash)),
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
      { class: 'transfer', 'data-testid': 'transfer-row' },
      h('span', { class: 'usd', title: fmtUsdExact(usd) }, fmtUsd(usd)),
      h('span', { class: 'asset' }, `${fmtDecimal(d.amount)} ${d.asset}`),
      h('span', { class: 'addr', title: `${d.from} → ${d.to}` }, `${shortHash(d.from)} → ${shortHash(d.to)}`),
      h('span', { class: 'height' }, `#${fmtInt(d.block_height)}`),
    );
    this.prepend(this.transfersEl, el, this.opts.maxTransfers);
  }

  /** reorg shows a highlighted notice and marks replaced blocks. */
  reorg(ev: ReorgEvent): void {
    const d = ev.data;
    if (typeof d?.fork_height !== 'number') return;
    const el = h(
      'li',
      { class: 'reorg', 'data-testid': 'reorg-row', role: 'alert' },
      h('strong', {}, `Reorg on ${d.network}`),
      ` depth ${d.depth} at #${fmtInt(d.fork_height)}: ${shortHash(d.old_head)} → ${shortHash(d.new_head)}`,
    );
    this.prepend(this.reorgsEl, el, this.opts.maxReorgs);
    for (const b of this.blocks) {
      if (b.network === d.network && b.height > d.fork_height) b.el.classList.add('reorged');
    }
  }

  /** tick refreshes the block ages. */
  tick(): void {
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
    this.reorgsEl.replaceChildren();
  }

  private prepend(list: HTMLElement, el: HTMLElement, max: number): void {
    list.querySelector(':scope > .empty')?.remove();
    list.prepend(el);
    while (list.children.length > max) list.lastElementChild?.remove();
  }
}
