// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import type { ReorgEvent } from '../client/index.js';
import { reorgEvent } from './events.testutil.js';
import { ReorgNotices } from './reorgs.js';

const OLD = '0x' + 'ab'.repeat(32);
const NEW = '0x' + 'cd'.repeat(32);

function reorg(at: number, fork = 21_000_000, depth = 2): ReorgEvent {
  return reorgEvent(at, fork, depth, OLD, NEW);
}

function setup(opts = {}) {
  let now = 1_000_000;
  const r = new ReorgNotices(opts, () => now);
  const rows = () => [...r.el.querySelectorAll<HTMLElement>('[data-testid="reorg-row"]')];
  const more = () => r.el.querySelector<HTMLButtonElement>('[data-testid="reorg-more"]');
  return {
    r,
    rows,
    more,
    at: () => now,
    advance: (ms: number) => {
      now += ms;
      r.tick();
    },
  };
}

describe('ReorgNotices', () => {
  it('shows a placeholder until the first reorg', () => {
    const { r, rows, more } = setup();
    expect(rows()).toHaveLength(0);
    expect(r.el.querySelector('[data-testid="reorg-none"]')?.textContent).toBe('No reorgs in the last 5 min');
    expect(more()?.hidden).toBe(true);
  });

  it('shows only the newest notice with its age and a count of the others', () => {
    const { r, rows, more, at, advance } = setup();
    r.add(reorg(at(), 100));
    advance(5_000);
    r.add(reorg(at(), 200));
    r.add(reorg(at(), 300, 3));
    expect(r.el.querySelector('[data-testid="reorg-none"]')).toBeNull();
    expect(rows()).toHaveLength(1);
    expect(rows()[0]?.textContent).toContain('depth 3 at #300');
    expect(more()?.hidden).toBe(false);
    expect(more()?.textContent).toBe('+2 earlier');

    advance(12_000);
    expect(rows()[0]?.querySelector('[data-testid="reorg-age"]')?.textContent).toBe('12s ago');

    more()?.click();
    expect(rows().map((e) => e.querySelector('[data-testid="reorg-age"]')?.textContent)).toEqual(['12s ago', '12s ago', '17s ago']);
    expect(more()?.getAttribute('aria-expanded')).toBe('true');
    more()?.click();
    expect(rows()).toHaveLength(1);
  });

  it('orders by the reorg time, not by arrival', () => {
    const { r, rows, at } = setup();
    r.add(reorg(at(), 200));
    r.add(reorg(at() - 60_000, 100)); // e.g. from a snapshot
    expect(rows()[0]?.textContent).toContain('#200');
  });

  it('stops highlighting after freshMs and drops notices after expireMs', () => {
    const { r, rows, more, at, advance } = setup({ freshMs: 30_000, expireMs: 120_000 });
    r.add(reorg(at(), 100));
    advance(60_000);
    r.add(reorg(at(), 200));
    expect(rows()[0]?.classList.contains('fresh')).toBe(true);
    advance(30_000);
    expect(rows()[0]?.classList.contains('fresh')).toBe(false);
    expect(more()?.textContent).toBe('+1 earlier');
    advance(30_000); // the first is 120 s old
    expect(r.count).toBe(1);
    expect(more()?.hidden).toBe(true);
    advance(60_000);
    expect(r.count).toBe(0);
    expect(rows()).toHaveLength(0);
    expect(r.el.querySelector('[data-testid="reorg-none"]')?.textContent).toBe('No reorgs in the last 2 min');
  });

  it('keeps at most maxKept notices and ignores events without a fork height', () => {
    const { r, more, at } = setup({ maxKept: 5 });
    for (let i = 0; i < 12; i++) r.add(reorg(at() + i, 100 + i));
    expect(r.count).toBe(5);
    expect(more()?.textContent).toBe('+4 earlier');
    const bad = reorg(at());
    delete (bad.data as Partial<ReorgEvent['data']>).fork_height;
    expect(r.add(bad)).toBe(false);
    expect(r.count).toBe(5);
  });

  it('shortens both heads in the middle and keeps the full values as tooltips', () => {
    const { r, at } = setup();
    r.add(reorg(at()));
    const hashes = [...r.el.querySelectorAll<HTMLElement>('[data-testid="hash"]')];
    expect(hashes.map((e) => e.textContent)).toEqual(['0xabab…abab', '0xcdcd…cdcd']);
    expect(hashes.map((e) => e.title)).toEqual([OLD, NEW]);
  });
});
