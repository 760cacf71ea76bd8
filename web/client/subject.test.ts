import { describe, expect, it } from 'vitest';
import { kindOf, matchSubject } from './subject.js';

describe('matchSubject', () => {
  it.each([
    ['ticks.>', 'ticks.coinbase.BTC-USD', true],
    ['ticks.>', 'ticks', false],
    ['ticks.*', 'ticks.coinbase.BTC-USD', false],
    ['ticks.*.BTC-USD', 'ticks.binance.BTC-USD', true],
    ['ticks.*.BTC-USD', 'ticks.binance.ETH-USD', false],
    ['chain.eth.block', 'chain.eth.block', true],
    ['chain.eth.block', 'chain.eth.blocks', false],
    ['>', 'jobs.acme.j_1', true],
    ['jobs.acme', 'jobs.acme.j_1', false],
  ])('%s ~ %s = %s', (p, s, want) => {
    expect(matchSubject(p, s)).toBe(want);
  });
});

describe('kindOf', () => {
  it.each([
    ['ticks.coinbase.BTC-USD', 'tick'],
    ['chain.eth.block', 'block'],
    ['chain.eth.transfer', 'transfer'],
    ['chain.eth.reorg', 'reorg'],
    ['chain.eth.mempool', 'other'],
    ['jobs.acme.j_1', 'job'],
    ['weather.paris', 'other'],
  ])('%s is %s', (s, k) => {
    expect(kindOf(s)).toBe(k);
  });
});
