import { describe, expect, it } from 'vitest';
import { parsePatterns, specsFor } from './filter.js';

describe('filter', () => {
  it('parses free text into distinct patterns', () => {
    expect(parsePatterns(' chain.eth.reorg,  ticks.*.BTC-USD chain.eth.reorg ')).toEqual([
      'chain.eth.reorg',
      'ticks.*.BTC-USD',
    ]);
    expect(parsePatterns('')).toEqual([]);
  });

  it('rate-limits ticks, starts the board and chain from snapshots, and keeps family defaults for the rest', () => {
    const specs = specsFor({ ticks: true, chain: true, jobs: false, patterns: 'ticks.binance.>, jobs.acme.>' }, 4);
    expect(specs).toEqual([
      { key: 'ticks.>|4', subjects: ['ticks.>'], maxRate: 4, snapshot: true },
      { key: 'chain.>', subjects: ['chain.>'], snapshot: true },
      { key: 'ticks.binance.>|4', subjects: ['ticks.binance.>'], maxRate: 4 },
      { key: 'jobs.acme.>', subjects: ['jobs.acme.>'] },
    ]);
  });

  it('splits more than 16 patterns into several subscriptions', () => {
    const many = Array.from({ length: 20 }, (_, i) => `chain.n${i}.block`).join(' ');
    const specs = specsFor({ ticks: false, chain: false, jobs: false, patterns: many }, 4);
    expect(specs.map((s) => s.subjects.length)).toEqual([16, 4]);
  });
});
