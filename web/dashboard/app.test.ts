// @vitest-environment jsdom
// The whole dashboard against a fake hub: fake WebSocket, fake token endpoints.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StreamHubClient } from '../client/index.js';
import { fakeWebSocket, hello, jwt, type FakeSocket } from '../client/fake-websocket.testutil.js';
import { Dashboard } from './app.js';

const URL = 'ws://hub.test/v1/ws';

beforeAll(() => {
  vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockReturnValue(null);
});

let current: Dashboard | undefined;
afterEach(() => {
  current?.stop();
  current = undefined;
});

type Route = (init: RequestInit | undefined) => Response;

function setup(routes: Record<string, Route>) {
  const { WS, sockets } = fakeWebSocket();
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  const fetchFn = vi.fn((input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, init });
    const r = routes[url];
    return Promise.resolve(r ? r(init) : new Response('not found', { status: 404 }));
  }) as unknown as typeof fetch;
  const root = document.createElement('div');
  const store = new Map<string, string>();
  const d = new Dashboard(root, {
    client: new StreamHubClient({ WebSocket: WS }),
    url: URL,
    fetch: fetchFn,
    storage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => void store.set(k, v) },
  });
  current = d;
  const sock = (): FakeSocket => {
    const s = sockets[sockets.length - 1];
    if (!s) throw new Error('no socket yet');
    return s;
  };
  const q = (sel: string): HTMLElement | null => root.querySelector<HTMLElement>(sel);
  return { d, root, sockets, sock, calls, q };
}

function okAll(s: FakeSocket): void {
  for (const c of s.commands()) {
    if (typeof c['id'] === 'number' && c['op'] !== 'pong') s.receive({ op: 'ok', id: c['id'] });
  }
}

const token = jwt({ exp: Math.floor(Date.now() / 1000) + 3600, scope: 'demo' });
const json = (body: unknown): Response =>
  new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });

describe('Dashboard', () => {
  it('uses demo access, subscribes with max_rate and renders every family', async () => {
    const { d, sockets, sock, calls, q } = setup({ '/v1/demo/token': () => json({ token, expires_at: 0 }) });
    await d.start();
    expect(calls[0]?.init?.method).toBe('POST');
    expect(q('[data-testid="access-mode"]')?.textContent).toBe('demo access');
    expect(sockets).toHaveLength(1);
    expect(sock().url).toBe(URL);
    sock().open();
    sock().receive(hello({ auth_required: true }));
    await vi.waitFor(() => expect(sock().last('auth')?.['token']).toBe(token));
    sock().receive({ op: 'ok', id: sock().last('auth')?.['id'] });
    await vi.waitFor(() => expect(q('[data-testid="status"]')?.textContent).toBe('live'));
    const subs = sock().commands().filter((c) => c['op'] === 'subscribe');
    expect(subs.map((c) => [c['subjects'], c['max_rate']])).toEqual([
      [['ticks.>'], 4],
      [['chain.>'], undefined],
      [['jobs.>'], undefined],
    ]);
    okAll(sock());

    const now = Date.now();
    sock().receive({
      op: 'batch',
      sent: now,
      events: [
        { subject: 'ticks.coinbase.BTC-USD', epoch: 1, seq: 1, ts: now - 220, ingest: now - 200, data: { venue: 'coinbase', symbol: 'BTC-USD', bid: '67012.10', ask: '67012.55', last: '67012.30', size: '0.01', ts: now - 220 } },
        { subject: 'chain.eth.block', epoch: 1, seq: 1, ts: now, ingest: now, data: { network: 'eth', height: 21000000, hash: '0x' + 'a'.repeat(64), parent_hash: '0x', time: now - 3000, tx_count: 153, gas_used: 1 } },
        { subject: 'chain.eth.reorg', epoch: 1, seq: 1, ts: now, ingest: now, critical: true, data: { network: 'eth', depth: 2, fork_height: 20999998, old_head: '0xold', new_head: '0xnew', ts: now } },
        { subject: 'chain.eth.transfer', epoch: 1, seq: 1, ts: now, ingest: now, data: { network: 'eth', tx_hash: '0x1', block_height: 21000000, from: '0xf', to: '0xt', asset: 'USDC', amount: '1250000.00', usd_value: '1250000.00', ts: now } },
        { subject: 'jobs.acme.j_5f2a9c', epoch: 1, seq: 1, ts: now, ingest: now, critical: true, data: { tenant: 'acme', job_id: 'j_5f2a9c', model: 'llama-3-70b', state: 'done', stage: 'done', percent: 100, eta_ms: 0, ts: now } },
      ],
    });
    d.flush();
    expect(q('[data-testid="tick-row-coinbase-BTC-USD"] [data-testid="last"]')?.textContent).toBe('67,012.30');
    expect(q('[data-testid="block-row"]')?.dataset['height']).toBe('21000000');
    expect(q('[data-testid="block-row"] [data-testid="tx-count"]')?.textContent).toBe('153 tx');
    expect(q('[data-testid="reorg-row"]')?.textContent).toContain('depth 2');
    expect(q('[data-testid="transfer-row"]')?.textContent).toContain('$1.25M');
    expect(q('[data-testid="transfer-row"]')?.textContent).toContain('1,250,000.00 USDC');
    expect(q('[data-testid="job-row"]')?.dataset['state']).toBe('done');
    // The tick waited 200 ms in the hub for its max_rate slot: not hub latency.
    await vi.waitFor(() => expect(q('[data-testid="counter-hub-latency"]')?.textContent).toBe('<1 ms'));
    expect(q('[data-testid="counter-hub-latency"]')?.previousElementSibling?.textContent).toBe('in hub');
  });

  it('gets a fresh demo token when a restarted hub refuses the old one (4502)', async () => {
    let n = 0;
    const { d, sockets, sock, calls } = setup({ '/v1/demo/token': () => json({ token: jwt({ exp: 9e9, n: ++n }) }) });
    await d.start();
    sock().open();
    sock().receive(hello());
    sock().serverClose(4502, 'auth_failed');
    await vi.waitFor(() => expect(sockets).toHaveLength(2));
    expect(calls.filter((c) => c.url === '/v1/demo/token')).toHaveLength(2);
    // Only once per 30 s: a second refusal stays closed.
    sock().open();
    sock().receive(hello());
    sock().serverClose(4502, 'auth_failed');
    await new Promise((r) => setTimeout(r, 50));
    expect(sockets).toHaveLength(2);
    expect(d.client.status).toBe('closed');
  });

  it('connects without a token when there is no demo mode, then asks for an API key', async () => {
    const exchanged = jwt({ exp: Math.floor(Date.now() / 1000) + 900, k: 1 });
    const { d, sockets, sock, calls, q } = setup({
      '/v1/tokens': (init) =>
        new Headers(init?.headers).get('Authorization') === 'Bearer sk_live_123'
          ? json({ token: exchanged, expires_at: 0 })
          : new Response('no', { status: 401 }),
    });
    await d.start();
    expect(q('[data-testid="access-mode"]')?.textContent).toBe('open access');
    sock().open();
    sock().receive(hello({ auth_required: true }));
    await vi.waitFor(() => expect(q('[data-testid="login"]')?.hidden).toBe(false));
    expect(d.client.status).toBe('closed');

    const input = q('[data-testid="api-key"]') as HTMLInputElement;
    const form = q('[data-testid="login"]') as HTMLFormElement;
    input.value = 'wrong';
    form.requestSubmit();
    await vi.waitFor(() => expect(q('[data-testid="login-error"]')?.textContent).toMatch(/refused/));

    input.value = 'sk_live_123';
    form.requestSubmit();
    await vi.waitFor(() => expect(sockets).toHaveLength(2));
    expect(calls.filter((c) => c.url === '/v1/tokens')).toHaveLength(2);
    expect(q('[data-testid="access-mode"]')?.textContent).toBe('API key access');
    expect(input.value).toBe('');
    sock().open();
    sock().receive(hello({ auth_required: true }));
    await vi.waitFor(() => expect(sock().last('auth')?.['token']).toBe(exchanged));
  });

  it('resubscribes when the filter changes and clears unsubscribed panels', async () => {
    const { d, sock, q, root } = setup({});
    await d.start();
    sock().open();
    sock().receive(hello());
    okAll(sock());
    const now = Date.now();
    sock().receive({ op: 'batch', sent: now, events: [{ subject: 'ticks.binance.ETH-USD', epoch: 1, seq: 1, ts: now, ingest: now, data: { venue: 'binance', symbol: 'ETH-USD', bid: '1', ask: '2', last: '3000.5', size: '1', ts: now } }] });
    d.flush();
    expect(q('[data-testid="tick-row-binance-ETH-USD"]')).not.toBeNull();

    const box = root.querySelector('[data-testid="filter-ticks"]') as HTMLInputElement;
    box.checked = false;
    box.dispatchEvent(new Event('change'));
    expect(sock().last('unsubscribe')?.['subjects']).toEqual(['ticks.>']);
    expect(q('[data-testid="tick-row-binance-ETH-USD"]')).toBeNull();

    (q('[data-testid="filter-patterns"]') as HTMLInputElement).value = 'ticks.*.BTC-USD chain.eth.reorg';
    (root.querySelector('form.filter') as HTMLFormElement).requestSubmit();
    const subs = sock().commands().filter((c) => c['op'] === 'subscribe').slice(-2);
    expect(subs.map((c) => [c['subjects'], c['max_rate']])).toEqual([
      [['ticks.*.BTC-USD'], 4],
      [['chain.eth.reorg'], undefined],
    ]);
  });
});
