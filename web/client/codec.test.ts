import { decode, encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeCommand } from './codec.js';
import { ProtocolError } from './errors.js';

const batch = {
  op: 'batch',
  sent: 1732712345678,
  gaps: [{ subject: 'chain.eth.transfer', epoch: 1732712000, from: 41, to: 57 }],
  events: [
    {
      subject: 'ticks.coinbase.BTC-USD',
      epoch: 1732712000,
      seq: 42,
      ts: 1732712345600,
      ingest: 1732712345610,
      data: { venue: 'coinbase', symbol: 'BTC-USD', last: '67012.30' },
    },
  ],
};

describe('decodeFrame', () => {
  it('parses JSON text frames', () => {
    expect(decodeFrame(JSON.stringify(batch))).toEqual(batch);
  });

  it('decodes msgpack binary frames built with @msgpack/msgpack encode', () => {
    const bytes = encode(batch);
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const f = decodeFrame(ab);
    expect(f).toEqual(batch);
    // Millisecond timestamps exceed 2^32: they must come back as plain numbers.
    expect(typeof (f as typeof batch).sent).toBe('number');
  });

  it('decodes a Uint8Array view with an offset into a larger buffer', () => {
    const bytes = encode({ op: 'ping', ts: 2 ** 40 + 7 });
    const big = new Uint8Array(bytes.byteLength + 10);
    big.set(bytes, 5);
    expect(decodeFrame(new Uint8Array(big.buffer, 5, bytes.byteLength))).toEqual({ op: 'ping', ts: 2 ** 40 + 7 });
  });

  it('decodes int64-encoded integers as numbers, not BigInt', () => {
    // 0xd3 = msgpack int64, as Go encoders emit for int64 fields.
    const bytes = new Uint8Array([0x82, 0xa2, 0x6f, 0x70, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa2, 0x74, 0x73, 0xd3, 0, 0, 1, 0x93, 0x6d, 0x2b, 0x3c, 0x4e]);
    const f = decodeFrame(bytes.buffer) as { op: string; ts: unknown };
    expect(f.op).toBe('ping');
    expect(f.ts).toBe(0x0193_6d2b_3c4e);
  });

  it.each([['not json'], ['[1,2]'], ['{"no":"op"}'], ['null']])('rejects %s with decode_failed', (raw) => {
    try {
      decodeFrame(raw);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).code).toBe('decode_failed');
    }
  });
});

describe('encodeCommand', () => {
  const cmd = { op: 'subscribe' as const, id: 7, subjects: ['ticks.>'], max_rate: 4, policy: undefined };

  it('encodes JSON without undefined fields', () => {
    expect(encodeCommand(cmd, 'json')).toBe('{"op":"subscribe","id":7,"subjects":["ticks.>"],"max_rate":4}');
  });

  it('encodes msgpack bytes without undefined fields', () => {
    const out = encodeCommand(cmd, 'msgpack');
    expect(out).toBeInstanceOf(Uint8Array);
    expect(decode(out as Uint8Array)).toEqual({ op: 'subscribe', id: 7, subjects: ['ticks.>'], max_rate: 4 });
  });
});
