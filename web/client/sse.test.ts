import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StreamHubClient } from './client.js';
import { fakeWebSocket, hello } from './fake-websocket.testutil.js';
import type { StatusChange } from './options.js';
import { closeCodeForStatus, EventParser, sseURL, type FetchLike, type ParsedEvent } from './sse.js';
import type { StreamEvent } from './types.js';

describe('EventParser', () => {
  it('parses events, ids, multi-line data and comments across chunk and CRLF boundaries', () => {
    const evs: ParsedEvent[] = [];
    let seen = 0;
    const p = new EventParser((e) => evs.push(e), () => seen++);
    p.push('event: hello\ndata: {"op":"hel');
    p.push('lo"}\n\n: ping 1\n\nid: a.> 1 2\r\nevent: batch\r\ndata: x\r\ndata: y\r\n\r\n');
    p.push('data:no-space\n\n');
    expect(evs).toEqual([
      { event: 'hello', data: '{"op":"hello"}', id: undefined },
      { event: 'batch', data: 'x\ny', id: 'a.> 1 2' },
      { event: 'message', data: 'no-space', id: undefined },
    ]);
    expect(seen).toBeGreaterThan(5);
  });
});

describe('sseURL and closeCodeForStatus', () => {
  it('maps the WebSocket URL and the subscription to the SSE URL', () => {
    expect(sseURL('wss://hub.example/v1/ws', ['ticks.>', 'chain.eth.block'], { maxRate: 4, snapshot: true })).toBe(
      'https://hub.example/v1/sse?subjects=ticks.%3E%2Cchain.eth.block&max_rate=4&snapshot=true',
    );
    expect(sseURL('ws://127.0.0.1:8080/v1/ws', ['jobs.>'], { policy: 'drop-oldest' })).toBe(
      'http://127.0.0.1:8080/v1/sse?subjects=jobs.%3E&policy=drop-oldest',
    );
  });
  it('maps HTTP refusals to the close codes with the same meaning', () => {
    expect(closeCodeForStatus(401, true)).toBe(4004);
    expect(closeCodeForStatus(401, false)).toBe(4502);
    expect(closeCodeForStatus(403, true)).toBe(4506);
    expect(closeCodeForStatus(400, true)).toBe(4500);
    expect(closeCodeForStatus(503, true)).toBe(1013);
  });
});

/** A scripted hub behind fetch: /healthz answers, each /v1/sse request gets a stream the test writes to. */
function fakeHub() {
  const requests: { url: string; headers: Record<string, string>; push: (s: string) => void; end: () => void }[] = [];
  const enc = new TextEncoder();
  const fetch: FetchLike = (url, init) => {
    if (url.endsWith('/healthz')) return Promise.resolve({ ok: true, status: 200, body: null, text: () => Promise.resolve('ok\n') });
    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
    init.signal.addEventListener('abort', () => {
      try {
        ctl.error(new Error('aborted'));
      } catch {
        // already closed
      }
    });
    requests.push({ url, headers: init.headers, push: (s) => ctl.enqueue(enc.encode(s)), end: () => ctl.close() });
    return Promise.resolve({ ok: true, status: 200, body, text: () => Promise.resolve('') });
  };
  return { fetch, requests };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('SSE fallback', () => {
  it('falls back when the WebSocket cannot connect but the hub answers HTTP, says so, and resumes with Last-Event-ID', async () => {
    const { WS, sockets } = fakeWebSocket();
    const hub = fakeHub();
    const c = new StreamHubClient({ WebSocket: WS, fetch: hub.fetch, random: () => 0.5 });
    const statuses: StatusChange[] = [];
    const events: StreamEvent[] = [];
    c.on('status', (s) => statuses.push(s));
    const sub = c.subscribe(['chain.>'], { snapshot: true, onEvent: (e) => events.push(e) });
    const live = c.connect('ws://hub.test/v1/ws', { token: 'tok' });

    sockets[0]!.serverClose(1006); // the proxy refused the upgrade
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.transport).toBe('sse');
    expect(sockets).toHaveLength(1);
    expect(hub.requests).toHaveLength(1);
    const r = hub.requests[0]!;
    expect(r.url).toBe('http://hub.test/v1/sse?subjects=chain.%3E&snapshot=true');
    expect(r.headers['Authorization']).toBe('Bearer tok');

    r.push(`event: hello\ndata: ${JSON.stringify(hello())}\n\nevent: ok\ndata: {"op":"ok"}\n\n`);
    const ev = { subject: 'chain.eth.block', epoch: 3, seq: 9, ts: 1, ingest: 2, data: { number: 1 } };
    r.push(`id: chain.> 3 9\nevent: batch\ndata: ${JSON.stringify({ op: 'batch', sent: 3, events: [ev] })}\n\n`);
    await vi.advanceTimersByTimeAsync(10);
    await live;
    await sub.ready;
    expect(c.status).toBe('live');
    expect(statuses.at(-1)).toMatchObject({ status: 'live', transport: 'sse' });
    expect(events.map((e) => e.seq)).toEqual([9]);

    r.push('event: close\ndata: {"op":"close","code":4000,"reason":"shutdown"}\n\n');
    await vi.advanceTimersByTimeAsync(10);
    expect(c.status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1000);
    expect(hub.requests).toHaveLength(2);
    expect(hub.requests[1]!.headers['Last-Event-ID']).toBe('chain.> 3 9');
    expect(sockets).toHaveLength(1); // the fallback lasts: no new WebSocket attempt

    c.close();
    expect(c.status).toBe('closed');
  });

  it('does not fall back while the hub is down', async () => {
    const { WS, sockets } = fakeWebSocket();
    const c = new StreamHubClient({ WebSocket: WS, fetch: () => Promise.reject(new Error('refused')), random: () => 0.5 });
    void c.connect('ws://hub.test/v1/ws').catch(() => {});
    sockets[0]!.serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.transport).toBe('websocket');
    expect(sockets.length).toBeGreaterThan(1);
    c.close();
  });
});
