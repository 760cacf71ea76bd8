import { describe, expect, it } from 'vitest';
import { needsNewToken, shouldReconnect } from './closecodes.js';

describe('close-code rule', () => {
  it.each([4000, 4001, 4002, 4003, 4004, 4005, 4499, 1001, 1006, 1012])('reconnects on %i', (code) => {
    expect(shouldReconnect(code)).toBe(true);
  });
  it.each([4500, 4502, 4503, 4504, 4507, 4999, 1000, 1009, 1002, 1008, 3000])('does not reconnect on %i', (code) => {
    expect(shouldReconnect(code)).toBe(false);
  });
  it('asks for a new token only on 4004', () => {
    expect(needsNewToken(4004)).toBe(true);
    expect(needsNewToken(4000)).toBe(false);
  });
});
