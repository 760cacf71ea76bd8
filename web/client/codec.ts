// Frame codecs: JSON text frames and msgpack binary frames carry the same
// objects with the same keys.

import { decode as mpDecode, encode as mpEncode } from '@msgpack/msgpack';
import { ProtocolError } from './errors.js';
import type { ClientCommand, Encoding, ServerFrame } from './types.js';

/** Raw data of a WebSocket message event. */
export type FrameData = string | ArrayBuffer | ArrayBufferView | Blob;

/**
 * encodeCommand encodes a command for the negotiated encoding: a string for
 * JSON (text frame), bytes for msgpack (binary frame). Undefined fields are
 * left out in both.
 */
export function encodeCommand(cmd: ClientCommand, encoding: Encoding): string | Uint8Array {
  if (encoding === 'msgpack') return mpEncode(cmd, { ignoreUndefined: true });
  return JSON.stringify(cmd);
}

/**
 * decodeFrame decodes one server frame by its frame type: text is JSON,
 * binary is msgpack (integers decoded as numbers, never BigInt). It checks
 * that the result is an object with a string `op` and throws a ProtocolError
 * with code decode_failed otherwise.
 */
export function decodeFrame(data: FrameData): ServerFrame {
  let value: unknown;
  try {
    if (typeof data === 'string') {
      value = JSON.parse(data);
    } else if (data instanceof ArrayBuffer) {
      value = mpDecode(new Uint8Array(data), { useBigInt64: false });
    } else if (ArrayBuffer.isView(data)) {
      value = mpDecode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), {
        useBigInt64: false,
      });
    } else {
      throw new Error('Blob frames are not supported; set binaryType to arraybuffer');
    }
  } catch (err) {
    throw new ProtocolError('decode_failed', describe(err));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError('decode_failed', 'frame is not an object');
  }
  const op = (value as Record<string, unknown>)['op'];
  if (typeof op !== 'string') {
    throw new ProtocolError('decode_failed', 'frame has no op');
  }
  return value as ServerFrame;
}

/** byteLength returns the encoded size of a frame payload. */
export function byteLength(payload: string | Uint8Array): number {
  return typeof payload === 'string' ? new TextEncoder().encode(payload).byteLength : payload.byteLength;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
