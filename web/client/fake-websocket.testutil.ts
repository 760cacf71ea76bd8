// A scriptable fake of the browser WebSocket for unit tests, injected through
// ClientOptions.WebSocket.

import { decode, encode } from '@msgpack/msgpack';
import type { WebSocketConstructor, WebSocketLike } from './options.js';

export class FakeSocket implements WebSocketLike {
  binaryType = 'blob';
  protocol = '';
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: (string | Uint8Array)[] = [];
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}

  send(data: string | Uint8Array): void {
    if (this.readyState !== 1) throw new Error('fake: send on a socket that is not open');
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  // ---- driven by tests ----

  /** open completes the upgrade, choosing the first offered subprotocol. */
  open(protocol = this.protocols[0] ?? ''): void {
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.({});
  }

  /** receive delivers a frame: objects as JSON text, or msgpack when binary. */
  receive(frame: unknown, binary = false): void {
    if (binary) {
      const bytes = encode(frame);
      // A fresh ArrayBuffer, as browsers deliver with binaryType arraybuffer.
      const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      this.onmessage?.({ data: buf });
    } else {
      this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
    }
  }

  /** serverClose closes from the hub's side. */
  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** commands decodes what the client sent (JSON or msgpack). */
  commands(): Record<string, unknown>[] {
    return this.sent.map((d) =>
      typeof d === 'string' ? (JSON.parse(d) as Record<string, unknown>) : (decode(d) as Record<string, unknown>),
    );
  }

  /** last returns the last command sent with the given op. */
  last(op: string): Record<string, unknown> | undefined {
    return this.commands()
      .filter((c) => c['op'] === op)
      .pop();
  }
}

/** fakeWebSocket returns a constructor and the list of sockets it made. */
export function fakeWebSocket(): { WS: WebSocketConstructor; sockets: FakeSocket[] } {
  const sockets: FakeSocket[] = [];
  class WS extends FakeSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols]);
      sockets.push(this);
    }
  }
  return { WS, sockets };
}

/** hello builds a hello frame with overrides. */
export function hello(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    op: 'hello',
    version: 1,
    session: 's_test',
    encoding: 'json',
    heartbeat_ms: 15000,
    auth_required: false,
    limits: {
      max_subscriptions: 128,
      max_frame_bytes: 4096,
      max_queue_messages: 4096,
      max_queue_bytes: 1048576,
      max_batch_messages: 256,
    },
    ...over,
  };
}

/** jwt builds an unsigned JWT-shaped token with the given claims. */
export function jwt(claims: Record<string, unknown>): string {
  const b64 = (s: string): string => btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64(JSON.stringify(claims))}.c2ln`;
}
