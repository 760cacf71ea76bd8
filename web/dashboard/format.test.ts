import { describe, expect, it } from 'vitest';
import { fmtDuration, fmtMs, fmtRate, fmtUsd, pctChange, shortHash } from './format.js';

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
    expect(fmtRate(83.25)).toBe('83.3/s');
    expect(fmtRate(1234.5)).toBe('1235/s');
  });
});
