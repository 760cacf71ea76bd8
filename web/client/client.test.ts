import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StreamHubClient } from './client.js';
import type { ClientOptions, StatusChange } from './options.js';
import { ProtocolError } from './errors.js';
import { fakeWebSocket, hello, jwt, type FakeSocket } from './fake-websocket.testutil.js';
import type { Gap, StreamEvent } from './types.js';

const URL = 'ws://hub.test/v1/ws';

function setup(opts: Partial<ClientOptions> = {}) {
  const { WS, sockets } = fakeWebSocket();
  // fetch: null unless a test gives one: no SSE fallback probe.
  const client = new StreamHubClient({ WebSocket: WS, random: () => 0.5, fetch: null, ...opts });
  const statuses: StatusChange[] = [];
  const errors: Error[] = [];
  client.on('status', (s) => statuses.push(s));
  client.on('error', (e) => errors.push(e));
  const sock = (i = sockets.length - 1): FakeSocket => {
    const s = sockets[i];
    if (!s) throw new Error(`no socket ${i}`);
    return s;
  };
  return { client, sockets, sock, statuses, errors };
}

function tick(seq: number, last: string, over: Record<string, unknown> = {}) {
  return {
    subject: 'ticks.coinbase.BTC-USD',
    epoch: 7,
    seq,
    ts: Date.now() - 40,
    ingest: Date.now() - 30,
    data: { venue: 'coinbase', symbol: 'BTC-USD', bid: '1', ask: '2', last, size: '0.1', ts: 0 },
    ...over,
  };
}

/** answer replies ok to every command of op not answered yet. */
function okAll(s: FakeSocket, op: string, answered = new Set<number>()): Set<number> {
  for (const c of s.commands()) {
    if (c['op'] === op && typeof c['id'] === 'number' && !answered.has(c['id'])) {
      answered.add(c['id']);
      s.receive({ op: 'ok', id: c['id'] });
    }
  }
  return answered;
}

/** idle advances time by ms while the hub keeps pinging every 10 s. */
async function idle(s: FakeSocket, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 10_000) {
    await vi.advanceTimersByTimeAsync(Math.min(10_000, left));
    s.receive({ op: 'ping', ts: Date.now() });
  }
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('StreamHubClient handshake', () => {
  it('offers the subprotocol, uses arraybuffer, goes live on hello', async () => {
    const { client, sock, statuses } = setup();
    const done = client.connect(URL);
    expect(sock().url).toBe(URL);
    expect(sock().protocols).toEqual(['streamhub.v1.json']);
    expect(sock().binaryType).toBe('arraybuffer');
    expect(client.status).toBe('connecting');
    sock().open();
    expect(client.status).toBe('connecting');
    sock().receive(hello());
    await done;
    expect(client.status).toBe('live');
    expect(statuses.map((s) => s.status)).toEqual(['connecting', 'live']);
    expect(client.serverHello?.session).toBe('s_test');
  });

  it('answers server pings with pong and correlates its own ping', async () => {
    const { client, sock } = setup();
    void client.connect(URL);
    sock().open();
    sock().receive(hello());
    sock().receive({ op: 'ping', ts: 1 });
    expect(sock().last('pong')).toEqual({ op: 'pong' });
    const p = client.ping();
    const id = sock().last('ping')?.['id'];
    sock().receive({ op: 'pong', id });
    await expect(p).resolves.toBeUndefined();
  });

  it('gives up on a socket that opens but sends no hello', async () => {
    const { client, sockets, sock } = setup({ helloTimeoutMs: 3000 });
    void client.connect(URL);
    sock().open();
    await vi.advanceTimersByTimeAsync(2999);
    expect(sock(0).closedWith).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(sock(0).closedWith?.code).toBe(4002);
    expect(client.status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(250);
    expect(sockets).toHaveLength(2);
  });

  it('closes and reconnects when nothing arrives for 2 × heartbeat_ms', async () => {
    const { client, sockets, sock } = setup();
    void client.connect(URL);
    sock().open();
    sock().receive(hello({ heartbeat_ms: 1000 }));
    await vi.advanceTimersByTimeAsync(1900);
    sock().receive({ op: 'ping', ts: 1 }); // any frame re-arms the watchdog
    await vi.advanceTimersByTimeAsync(1900);
    expect(sock(0).closedWith).toBeUndefined();
    await vi.advanceTimersByTimeAsync(200);
    expect(sock(0).closedWith?.code).toBe(4003);
    expect(client.status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(250); // attempt 0 waits at most 250 ms
    expect(sockets).toHaveLength(2);
  });
});

describe('requests', () => {
  it('correlates ok and error by id, in any order', async () => {
    const { client, sock } = setup();
    void client.connect(URL);
    sock().open();
    sock().receive(hello());
    const a = client.subscribe(['ticks.>'], { maxRate: 4 });
    const b = client.subscribe(['chain.eth.*.bad'], { policy: 'drop-oldest' });
    const [ca, cb] = sock().commands();
    expect(ca).toEqual({ op: 'subscribe', id: ca?.['id'], subjects: ['ticks.>'], max_rate: 4 });
    expect(cb?.['policy']).toBe('drop-oldest');
    sock().receive({ op: 'error', id: cb?.['id'], code: 'invalid_subject', message: 'nope' });
    sock().receive({ op: 'ok', id: ca?.['id'] });
    await expect(a.ready).resolves.toBeUndefined();
    const err = await b.ready.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('invalid_subject');
    expect((err as ProtocolError).id).toBe(cb?.['id']);
    expect(b.active).toBe(false);
    expect(a.active).toBe(true);
  });

  it('rejects a command with no answer after the timeout', async () => {
    const { client, sock } = setup({ requestTimeoutMs: 500 });
    void client.connect(URL);
    sock().open();
    sock().receive(hello());
    const p = client.ping().catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(501);
    expect(((await p) as ProtocolError).code).toBe('timeout');
  });

  it('reports an error frame without id as an error event', () => {
    const { client, sock, errors } = setup();
    void client.connect(URL);
    sock().open();
    sock().receive(hello());
    sock().receive({ op: 'error', code: 'bad_request', message: 'garbled' });
    expect((errors[0] as ProtocolError).code).toBe('bad_request');
  });

  it('validates subscribe input before sending', () => {
    const { client } = setup();
    expect(() => client.subscribe([])).toThrow(ProtocolError);
    expect(() => client.subscribe(['a..b'])).toThrow(/invalid_subject/);
    expect(() => client.subscribe(['a'], { maxRate: 4, policy: 'drop-oldest' })).toThrow(/invalid_option/);
  });
});

describe('batches', () => {
  it('emits gaps before events, typed by family, and routes to matching handles', () => {
    const { client, sock } = setup();
    const order: string[] = [];
    const events: StreamEvent[] = [];
    const gaps: Gap[] = [];
    client.on('gap', (g) => {
      gaps.push(g);
      order.push(`gap:${g.subject}`);
    });
    client.on('event', (e) => {
      events.push(e);
      order.push(`event:${e.subject}`);
    });
    const chainOnly: StreamEvent[] = [];
    client.subscribe(['chain.>'], { onEvent: (e) => chainOnly.push(e) });
    void client.connect(URL);
    sock().open();
    sock().receive(hello());
    const sent = Date.now() - 5;
    sock().receive({
      op: 'batch',
      sent,
      gaps: [{ subject: 'chain.eth.transfer', epoch: 3, from: 41, to: 57 }],
      events: [
        tick(1, '100.5'),
        tick(9, '', { subject: 'chain.eth.block', epoch: 3, data: { height: 21000000, tx_count: 3 } }),
        tick(4, '', { subject: 'jobs.acme.j_1', epoch: 1, critical: true, data: { state: 'done', percent: 100 } }),
      ],
    });
    expect(order).toEqual([
      'gap:chain.eth.transfer',
      'event:ticks.coinbase.BTC-USD',
      'event:chain.eth.block',
      'event:jobs.acme.j_1',
    ]);
    expect(events.map((e) => e.kind)).toEqual(['tick', 'block', 'job']);
    const t = events[0];
    if (t?.kind !== 'tick') throw new Error('not a tick');
    expect(t.data.last).toBe('100.5');
    expect(t.sent).toBe(sent);
    expect(t.critical).toBe(false);
    expect(events[2]?.critical).toBe(true);
    expect(chainOnly.map((e) => e.subject)).toEqual(['chain.eth.block']);
    const st = client.stats();
    expect(st.events).toBe(3);
    expect(st.gaps).toBe(1);
    expect(st.gapMessages).toBe(17);
    expect(st.latencyMs).toBe(40);
    expect(st.hubLatencyMs).toBe(25);
  });

  it('counts seq jumps as conflation', () => {
    const { client, sock } = setup();
    void client.connect(URL);
    sock().open();
    sock().receive(hello());
    sock().receive({ op: 'batch', sent: Date.now(), events: [tick(1, '1'), tick(5, '2')] });
    expect(client.stats().conflated).toBe(3);
  });

  it('decodes msgpack frames and sends msgpack commands', async () => {
    const { client, sock } = setup();
    const events: StreamEvent[] = [];
    client.on('event', (e) => events.push(e));
    const done = client.connect(URL, { encoding: 'msgpack' });
    expect(sock().protocols).toEqual(['streamhub.v1.msgpack']);
    sock().open();
    sock().receive(hello({ encoding: 'msgpack' }), true);
    await done;
    const sub = client.subscribe(['ticks.>'], { maxRate: 4 });
    expect(sock().sent[0]).toBeInstanceOf(Uint8Array);
    const cmd = sock().last('subscribe');
    expect(cmd?.['subjects']).toEqual(['ticks.>']);
    sock().receive({ op: 'ok', id: cmd?.['id'] }, true);
    await sub.ready;
    sock().receive({ op: 'batch', sent: Date.now(), events: [tick(1, '42.1')] }, true);
    expect(events[0]?.data).toMatchObject({ last: '42.1' });
    expect(events[0]?.seq).toBe(1);
  });
});

describe('reconnect', () => {
  it.each([4000, 4001, 4003, 4005, 4499, 1001, 1006])('reconnects after close %i', async (code) => {
    const { client, sockets, sock, statuses } = setup();
    const recovered: { downtimeMs: number; attempts: number }[] = [];
    client.on('recovered', (r) => recovered.push(r));
    void client.connect(URL);
    sock().open();
    sock().receive(hello());
    expect(recovered).toHaveLength(0);
    sock().serverClose(code, 'x');
    expect(client.status).toBe('reconnecting');
    expect(statuses.at(-1)).toMatchObject({ status: 'reconnecting', code, attempt: 0 });
    await vi.advanceTimersByTimeAsync(250);
    expect(sockets).toHaveLength(2);
    sock().serverClose(1006); // the first attempt fails
    await vi.advanceTimersByTimeAsync(500);
    expect(sockets).toHaveLength(3);
    sock().open();
    sock().receive(hello());
    expect(client.status).toBe('live');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]?.attempts).toBe(2);
    expect(recovered[0]?.downtimeMs).toBeGreaterThanOrEqual(250);
  });

  it.each([4500, 4502, 4507, 4999, 1000, 1009])('stays closed after close %i', async (code) => {
    const { client, sockets, sock } = setup();
    void client.connect(URL);
    sock().open();
    sock().receive(hello());
    sock().serverClose(code, 'x');
    expect(client.status).toBe('closed');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sockets).toHaveLength(1);
  });

  it('rejects connect when closed for good before live', async () => {
    const { client, sock } = setup();
    const p = client.connect(URL).catch((e: unknown) => e);
    sock().serverClose(4502, 'auth_failed');
    expect(String(await p)).toMatch(/4502/);
  });

  it('backs off with full jitter up to the cap while the hub is down', async () => {
    const { client, sockets, sock, statuses } = setup({ random: () => 0.999 });
    void client.connect(URL);
    for (let i = 0; i < 9; i++) {
      sock().serverClose(1006);
      const s = statuses.at(-1);
      expect(s?.attempt).toBe(i);
      expect(s?.delayMs).toBeLessThanOrEqual(Math.min(10_000, 250 * 2 ** i));
      expect(s?.delayMs).toBeGreaterThan(Math.min(10_000, 250 * 2 ** i) * 0.99);
      await vi.advanceTimersByTimeAsync(s?.delayMs ?? 0);
      expect(sockets).toHaveLength(i + 2);
    }
    expect(client.stats().reconnects).toBe(9);
  });

  it('resubscribes everything with resume positions, but not what was unsubscribed', async () => {
    const { client, sock } = setup();
    const ticks = client.subscribe(['ticks.>'], { maxRate: 4 });
    const jobs = client.subscribe(['jobs.acme.>']);
    const chain = client.subscribe(['chain.eth.block', 'ticks.>']);
    void client.connect(URL);
    sock().open();
    sock().receive(hello());
    expect(sock().commands().map((c) => c['subjects'])).toEqual([['ticks.>'], ['jobs.acme.>'], ['chain.eth.block', 'ticks.>']]);
    okAll(sock(), 'subscribe');
    sock().receive({ op: 'batch', sent: Date.now(), events: [tick(41, '1'), tick(42, '2')] });

    // ticks.> is still used by `chain`: only jobs.acme.> is unsubscribed on the hub.
    const pending = jobs.unsubscribe();
    okAll(sock(), 'unsubscribe');
    await pending;
    await ticks.unsubscribe();
    const unsubs = sock().commands().filter((c) => c['op'] === 'unsubscribe');
    expect(unsubs.map((c) => c['subjects'])).toEqual([['jobs.acme.>']]);

    sock(0).serverClose(4000, 'shutdown');
    await vi.advanceTimersByTimeAsync(250);
    sock().open();
    sock().receive(hello());
    const cmds = sock().commands();
    expect(cmds).toHaveLength(1);
    expect(cmds[0]).toMatchObject({
      op: 'subscribe',
      subjects: ['chain.eth.block', 'ticks.>'],
      resume: [{ subject: 'ticks.coinbase.BTC-USD', epoch: 7, seq: 42 }],
    });
    okAll(sock(), 'subscribe');
    await expect(chain.ready).resolves.toBeUndefined();
  });

  it('falls back to a snapshot when the hub cannot replay what was missed', async () => {
    const { client, sock } = setup();
    const jobs = client.subscribe(['jobs.acme.>'], { policy: 'drop-oldest' });
    void client.connect(URL);
    sock().open();
    sock().receive(hello());
    okAll(sock(), 'subscribe');
    sock().receive({ op: 'batch', sent: Date.now(), events: [{ ...tick(42, '1'), subject: 'jobs.acme.j1' }] });
    sock(0).serverClose(4000, 'shutdown');
    await vi.advanceTimersByTimeAsync(250);
    sock().open();
    sock().receive(hello());
    const first = sock().commands()[0];
    expect(first).toMatchObject({ op: 'subscribe', resume: [{ subject: 'jobs.acme.j1', seq: 42 }] });
    sock().receive({ op: 'error', id: first?.['id'], code: 'insufficient_state', message: 'gone', recovered: false });
    await vi.advanceTimersByTimeAsync(0);
    const retry = sock().commands()[1];
    expect(retry).toMatchObject({ op: 'subscribe', subjects: ['jobs.acme.>'], snapshot: true, policy: 'drop-oldest' });
    expect(retry?.['resume']).toBeUndefined();
    sock().receive({ op: 'ok', id: retry?.['id'] });
    await expect(jobs.ready).resolves.toBeUndefined();
  });

  it('keeps resume within max_frame_bytes and 16 positions', () => {
    const { client, sock } = setup();
    client.subscribe(['ticks.>']);
    void client.connect(URL);
    sock().open();
    sock().receive(hello({ limits: { max_frame_bytes: 300 } }));
    const events = Array.from({ length: 50 }, (_, i) => tick(1, '1', { subject: `ticks.v.SYM${i}` }));
    sock().receive({ op: 'batch', sent: Date.now(), events });
    sock().serverClose(4000);
    vi.advanceTimersByTime(250);
    sock().open();
    sock().receive(hello({ limits: { max_frame_bytes: 300 } }));
    const raw = sock().sent[0] as string;
    expect(raw.length).toBeLessThanOrEqual(300);
    const resume = (JSON.parse(raw) as { resume: { subject: string }[] }).resume;
    expect(resume.length).toBeGreaterThan(3);
    expect(resume[0]?.subject).toBe('ticks.v.SYM49'); // most recent first

    // With room to spare, the protocol's limit of 16 positions applies.
    sock().serverClose(4000);
    vi.advanceTimersByTime(250);
    sock().open();
    sock().receive(hello());
    const big = JSON.parse(sock().sent[0] as string) as { resume: unknown[] };
    expect(big.resume).toHaveLength(16);
  });
});

describe('delivery contract', () => {
  // docs/protocol.md: the TypeScript client keeps no buffer of its own, so it
  // can never drop an event, critical ones above all.
  it('hands every event of a burst to the handler, in order, critical ones included', () => {
    const { client, sock } = setup();
    const got: StreamEvent[] = [];
    client.subscribe(['jobs.acme.>'], { onEvent: (ev) => got.push(ev) });
    void client.connect(URL);
    sock().open();
    sock().receive(hello());
    okAll(sock(), 'subscribe');
    const events = Array.from({ length: 5000 }, (_, i) =>
      tick(i + 1, '1', { subject: `jobs.acme.j${i % 50}`, critical: i % 100 === 99 ? true : undefined }),
    );
    for (let i = 0; i < events.length; i += 250) {
      sock().receive({ op: 'batch', sent: Date.now(), events: events.slice(i, i + 250) });
    }
    expect(got).toHaveLength(5000);
    expect(got.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    expect(got.filter((e) => e.critical)).toHaveLength(50);
  });
});

describe('auth and tokens', () => {
  it('sends auth first when required and goes live only after ok', async () => {
    const { client, sock } = setup();
    client.subscribe(['ticks.>']);
    const token = jwt({ exp: Math.floor(Date.now() / 1000) + 3600 });
    const done = client.connect(URL, { token });
    sock().open();
    sock().receive(hello({ auth_required: true }));
    await vi.advanceTimersByTimeAsync(0);
    expect(sock().commands()).toEqual([{ op: 'auth', id: 1, token }]);
    expect(client.status).toBe('connecting');
    sock().receive({ op: 'ok', id: 1 });
    await done;
    expect(client.status).toBe('live');
    expect(sock().commands()[1]?.['op']).toBe('subscribe');
  });

  it('closes without reconnecting when auth is required and there is no token', async () => {
    const { client, sock, sockets, errors } = setup();
    const p = client.connect(URL).catch((e: unknown) => e);
    sock().open();
    sock().receive(hello({ auth_required: true }));
    await vi.advanceTimersByTimeAsync(0);
    expect(client.status).toBe('closed');
    expect((errors[0] as ProtocolError).code).toBe('auth_required');
    expect(String(await p)).toMatch(/closed before live/);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(sockets).toHaveLength(1);
  });

  it('refreshes the token 60 s before its exp claim', async () => {
    const { client, sock } = setup();
    const nowSec = Math.floor(Date.now() / 1000);
    const first = jwt({ exp: nowSec + 180 });
    const second = jwt({ exp: nowSec + 600 });
    const provider = vi.fn(() => Promise.resolve(second));
    void client.connect(URL, { token: first, tokenProvider: provider });
    sock().open();
    sock().receive(hello({ auth_required: true }));
    await vi.advanceTimersByTimeAsync(0);
    sock().receive({ op: 'ok', id: sock().last('auth')?.['id'] });
    expect(provider).not.toHaveBeenCalled();

    await idle(sock(), 119_000); // refresh is due at exp − 60 s = 120 s
    expect(provider).not.toHaveBeenCalled();
    expect(sock().last('refresh')).toBeUndefined();
    await idle(sock(), 2000);
    expect(provider).toHaveBeenCalledTimes(1);
    const r = sock().last('refresh');
    expect(r).toMatchObject({ op: 'refresh', token: second });
    sock().receive({ op: 'ok', id: r?.['id'] });
    await vi.advanceTimersByTimeAsync(0);
    // The next refresh follows the new token's exp: 600 − 60 − 121 s from now.
    await idle(sock(), 418_000);
    expect(provider).toHaveBeenCalledTimes(1);
    await idle(sock(), 2000);
    expect(provider).toHaveBeenCalledTimes(2);
    expect(client.status).toBe('live');
  });

  it('fetches a new token after close 4004 before reconnecting', async () => {
    const { client, sock, sockets } = setup();
    const nowSec = Math.floor(Date.now() / 1000);
    const fresh = jwt({ exp: nowSec + 900, n: 2 });
    let release: (t: string) => void = () => {};
    const provider = vi.fn(() => new Promise<string>((r) => (release = r)));
    void client.connect(URL, { token: jwt({ exp: nowSec + 900, n: 1 }), tokenProvider: provider });
    sock().open();
    sock().receive(hello({ auth_required: true }));
    await vi.advanceTimersByTimeAsync(0);
    sock().receive({ op: 'ok', id: 1 });
    sock().serverClose(4004, 'token_expired');
    expect(client.status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(250);
    expect(provider).toHaveBeenCalledTimes(1);
    expect(sockets).toHaveLength(1); // waits for the token
    release(fresh);
    await vi.advanceTimersByTimeAsync(0);
    expect(sockets).toHaveLength(2);
    sock().open();
    sock().receive(hello({ auth_required: true }));
    await vi.advanceTimersByTimeAsync(0);
    expect(sock().last('auth')?.['token']).toBe(fresh);
  });

  it('asks the provider when it has no token', async () => {
    const { client, sock } = setup();
    const t = jwt({ exp: Math.floor(Date.now() / 1000) + 900 });
    void client.connect(URL, { tokenProvider: () => Promise.resolve(t) });
    sock().open();
    sock().receive(hello({ auth_required: true }));
    await vi.advanceTimersByTimeAsync(0);
    expect(sock().last('auth')?.['token']).toBe(t);
  });
});

describe('close()', () => {
  it('stops reconnecting and closes with 1000', async () => {
    const { client, sockets, sock } = setup();
    void client.connect(URL);
    sock().open();
    sock().receive(hello());
    client.close();
    expect(sock().closedWith?.code).toBe(1000);
    expect(client.status).toBe('closed');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(sockets).toHaveLength(1);
  });
});
