// Server-Sent Events transport: the fallback when a WebSocket cannot
// connect (a proxy that blocks upgrades). One stream per subscription, read
// with fetch so that the token travels in the Authorization header, never
// in the URL (docs/http.md).

import type { ServerFrame } from './types.js';

/** A fetch implementation (globalThis.fetch by default; injectable for tests). */
export type FetchLike = (url: string, init: { headers: Record<string, string>; signal: AbortSignal }) => Promise<{
  ok: boolean;
  status: number;
  body: ReadableStream<Uint8Array> | null;
  text(): Promise<string>;
}>;

/** What an SSE stream reports to its owner. */
export interface StreamHandlers {
  /** A frame event (hello, ok, batch, error, notice), with the event id when it had one. */
  frame(frame: ServerFrame, id: string | undefined): void;
  /** Anything arrived (events and heartbeat comments alike). */
  alive(): void;
  /** The stream ended: a close event's code, or the code an HTTP refusal or a cut stream stands for. Called once. */
  closed(code: number, reason: string): void;
}

/** sseURL turns a hub WebSocket URL (ws://host/v1/ws) into its SSE URL with a subscription's query. */
export function sseURL(wsURL: string, subjects: readonly string[], opts: { policy?: string; maxRate?: number; snapshot?: boolean }): string {
  const u = new URL(wsURL);
  u.protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  u.pathname = u.pathname.replace(/\/v1\/ws$/, '') + '/v1/sse';
  const q = new URLSearchParams({ subjects: subjects.join(',') });
  if (opts.policy) q.set('policy', opts.policy);
  if (opts.maxRate) q.set('max_rate', String(opts.maxRate));
  if (opts.snapshot) q.set('snapshot', 'true');
  u.search = q.toString();
  return u.toString();
}

/** healthURL is the hub's /healthz for a WebSocket URL: the probe that tells "the hub is up but WebSockets do not get through". */
export function healthURL(wsURL: string): string {
  const u = new URL(wsURL);
  u.protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  u.pathname = '/healthz';
  u.search = '';
  return u.toString();
}

/**
 * closeCodeForStatus maps an HTTP refusal of the stream to the close code
 * with the same meaning, so that one rule decides whether to reconnect:
 * 401 → 4004 (fetch a new token and reconnect) when a new token can be had,
 * else 4502; 403 → 4506; 400 → 4500; 429 and 5xx → 1013 (try again later).
 */
export function closeCodeForStatus(status: number, canRefreshToken: boolean): number {
  if (status === 401) return canRefreshToken ? 4004 : 4502;
  if (status === 403) return 4506;
  if (status === 400 || status === 413) return 4500;
  return 1013;
}

/** SseStream reads one GET /v1/sse stream until it ends or abort() is called. */
export class SseStream {
  private readonly ctl = new AbortController();
  private done = false;

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string>,
    private readonly fetchImpl: FetchLike,
    private readonly h: StreamHandlers,
    private readonly canRefreshToken: boolean,
  ) {
    void this.run();
  }

  /** abort ends the stream without a closed() call. */
  abort(): void {
    this.done = true;
    this.ctl.abort();
  }

  private end(code: number, reason: string): void {
    if (this.done) return;
    this.done = true;
    this.ctl.abort();
    this.h.closed(code, reason);
  }

  private async run(): Promise<void> {
    let res: Awaited<ReturnType<FetchLike>>;
    try {
      res = await this.fetchImpl(this.url, { headers: { Accept: 'text/event-stream', ...this.headers }, signal: this.ctl.signal });
    } catch {
      this.end(1006, 'SSE request failed');
      return;
    }
    if (!res.ok || !res.body) {
      let reason = `HTTP ${res.status}`;
      try {
        const e = JSON.parse(await res.text()) as { code?: string; message?: string };
        if (e.message) reason = `${reason}: ${e.message}`;
      } catch {
        // Not a hub error body.
      }
      this.end(closeCodeForStatus(res.status, this.canRefreshToken), reason);
      return;
    }
    const parser = new EventParser((ev) => this.onEvent(ev), () => this.h.alive());
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (this.done) return;
        if (done) break;
        parser.push(dec.decode(value, { stream: true }));
      }
    } catch {
      // Cut off: handled below like an end without a close event.
    }
    this.end(1006, 'SSE stream ended');
  }

  private onEvent(ev: ParsedEvent): void {
    if (this.done) return;
    if (ev.event === 'close') {
      let code = 1006;
      let reason = 'close';
      try {
        const c = JSON.parse(ev.data) as { code?: number; reason?: string };
        if (typeof c.code === 'number') code = c.code;
        if (c.reason) reason = c.reason;
      } catch {
        // Keep 1006: reconnect.
      }
      this.end(code, reason);
      return;
    }
    let frame: ServerFrame;
    try {
      frame = JSON.parse(ev.data) as ServerFrame;
    } catch {
      return; // Not a frame; ignored like an unknown op.
    }
    this.h.frame(frame, ev.id);
  }
}

/** One parsed SSE event. */
export interface ParsedEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * EventParser implements the WHATWG event-stream parsing rules for the
 * fields the hub sends: event, data (joined with "\n"), id, and comments
 * (reported as heartbeats).
 */
export class EventParser {
  private buf = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;

  constructor(
    private readonly onEvent: (ev: ParsedEvent) => void,
    private readonly onAnything: () => void,
  ) {}

  push(chunk: string): void {
    this.buf += chunk;
    for (;;) {
      const i = this.buf.search(/\r\n|\r|\n/);
      if (i < 0) return;
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(this.buf[i] === '\r' && this.buf[i + 1] === '\n' ? i + 2 : i + 1);
      this.line(line);
    }
  }

  private line(line: string): void {
    this.onAnything();
    if (line === '') {
      if (this.data.length > 0 || this.event !== '') {
        this.onEvent({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      }
      this.event = '';
      this.data = [];
      this.id = undefined;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      default:
        break;
    }
  }
}
