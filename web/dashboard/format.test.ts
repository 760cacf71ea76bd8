import { describe, expect, it } from 'vitest';
import { decimalsOf, fmtDecimal, fmtDuration, fmtMs, fmtPrice, fmtRate, fmtUsd, fmtUsdExact, pctChange, shortHash } from './format.js';

describe('format', () => {
  it('pctChange', () => {
    expect(pctChange(100, 101.5)).toBe('+1.50%');
    expect(pctChange(100, 98)).toBe('-2.00%');
    expect(pctChange(100, 100.001)).toBe('0.00%');
    expect(pctChange(100, 99.999)).toBe('0.00%');
    expect(pctChange(0, 1)).toBe('—');
  });
  it('fmtDuration', () => {
    expect(fmtDuration(4_900)).toBe('4s');
    expect(fmtDuration(125_000)).toBe('2m 05s');
    expect(fmtDuration(3_720_000)).toBe('1h 02m');
    expect(fmtDuration(-1)).toBe('—');
    expect(fmtDuration(undefined)).toBe('—');
  });
  it('fmtUsd', () => {
    expect(fmtUsd('1250000.00')).toBe('$1.25M');
    expect(fmtUsd('250000')).toBe('$250.0k');
    expect(fmtUsd('12.5')).toBe('$12.50');
    expect(fmtUsd('x')).toBe('—');
  });
  it('shortHash, fmtMs, fmtRate', () => {
    expect(shortHash('0x' + 'ab'.repeat(32))).toBe('0xabab…abab');
    expect(shortHash('0x12')).toBe('0x12');
    expect(fmtMs(12.6)).toBe('13 ms');
    expect(fmtMs(undefined)).toBe('—');
    expect(fmtMs(0.2)).toBe('<1 ms');
    expect(fmtMs(0)).toBe('<1 ms');
    expect(fmtMs(-3)).toBe('-3 ms'); // clock skew stays visible
    expect(fmtRate(83.25)).toBe('83.3/s');
    expect(fmtRate(1234.5)).toBe('1235/s');
  });
  it('fmtDecimal groups thousands and keeps every digit of the source', () => {
    expect(fmtDecimal('11844501.25')).toBe('11,844,501.25');
    expect(fmtDecimal('67061.78')).toBe('67,061.78');
    expect(fmtDecimal('1315.6710')).toBe('1,315.6710'); // the asset's 4 decimals stay
    expect(fmtDecimal('0.14919')).toBe('0.14919');
    expect(fmtDecimal('999')).toBe('999');
    expect(fmtDecimal('-1234567.5')).toBe('-1,234,567.5');
    expect(fmtDecimal('-0.50')).toBe('-0.50');
    // Beyond float precision: still exact.
    expect(fmtDecimal('12345678901234567.123456789')).toBe('12,345,678,901,234,567.123456789');
    expect(fmtDecimal(1234.5)).toBe('1,234.5');
    expect(fmtDecimal('1e21')).toBe('1,000,000,000,000,000,000,000');
    expect(fmtDecimal('')).toBe('—');
    expect(fmtDecimal('abc')).toBe('—');
  });
  it('fmtPrice, decimalsOf, fmtUsdExact', () => {
    expect(fmtPrice(67061.7, 2)).toBe('67,061.70');
    expect(fmtPrice(0.149185, 5)).toBe('0.14919');
    expect(fmtPrice(1234, 0)).toBe('1,234');
    expect(fmtPrice(1, 12)).toBe('1.00000000');
    expect(fmtPrice(Number.NaN, 2)).toBe('—');
    expect(decimalsOf('67061.78')).toBe(2);
    expect(decimalsOf('3')).toBe(0);
    expect(decimalsOf('0.123456789012')).toBe(8);
    expect(fmtUsdExact('1250000')).toBe('$1,250,000.00');
  });
});
