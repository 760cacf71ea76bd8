import { describe, expect, it } from 'vitest';
import { jwt } from './fake-websocket.testutil.js';
import { jwtExpiry, refreshDelay } from './token.js';

describe('jwtExpiry', () => {
  it('reads exp in ms without verifying', () => {
    expect(jwtExpiry(jwt({ sub: 'demo', exp: 1732712400 }))).toBe(1732712400_000);
  });
  it('handles base64url characters in the payload', () => {
    // "???" encodes to "Pz8_" in base64url: the decoder must map '_' back.
    expect(jwtExpiry(jwt({ n: '???>>>', exp: 10 }))).toBe(10_000);
  });
  it.each(['', 'abc', 'a.b', 'a.!!!.c', jwt({ sub: 'x' }), jwt({ exp: 'soon' })])('is undefined for %j', (t) => {
    expect(jwtExpiry(t)).toBeUndefined();
  });
});

describe('refreshDelay', () => {
  it('refreshes lead ms before expiry, at least minMs from now', () => {
    expect(refreshDelay(200_000, 100_000, 60_000)).toBe(40_000);
    expect(refreshDelay(120_000, 100_000, 60_000)).toBe(1000);
    expect(refreshDelay(undefined, 0, 60_000)).toBeUndefined();
  });
});
