import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StreamHubClient } from './client.js';
import { fakeWebSocket, hello, type FakeSocket } from './fake-websocket.testutil.js';
import type { NoticeFrame } from './types.js';

const A = 'ws://a.hub.test/v1/ws';
const B = 'ws://b.hub.test/v1/ws';

function setup() {
  const { WS, sockets } = fakeWebSocket();
  const client = new StreamHubClient({ WebSocket: WS, random: () => 0.5 });
  const errors: Error[] = [];
  client.on('error', (e) => errors.push(e));
  const sock = (i = sockets.length - 1): FakeSocket => {
    const s = sockets[i];
    if (!s) throw new Error(`no socket ${i}`);
    return s;
  };
  return { client, sockets, sock, errors };
}

function job(seq: number) {
  return { subject: 'jobs.acme.j1', epoch: 9, seq, ts: Date.now(), ingest: Date.now(), data: { n: seq } };
}

/** live connects to the next socket, answers hello and every subscribe. */
function live(s: FakeSocket): void {
  s.open();
  s.receive(hello({ resume_window_ms: 60_000 }));
  for (const c of s.commands()) if (c['op'] === 'subscribe') s.receive({ op: 'ok', id: c['id'] });
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('several hub URLs', () => {
  it('reconnects to the next hub in turn and resumes there from the positions seen', async () => {
    const { client, sock, sockets } = setup();
    client.subscribe(['jobs.acme.>']);
    const done = client.connect([A, B]);
    expect(sock().url).toBe(A);
    live(sock());
    await done;
    sock().receive({ op: 'batch', sent: Date.now(), events: [job(41)] });

    sock().serverClose(1006); // hub A is gone
    await vi.advanceTimersByTimeAsync(1000);
    expect(sock().url).toBe(B);
    sock().open();
    sock().receive(hello({ resume_window_ms: 60_000 }));
    expect(sock().last('subscribe')).toMatchObject({ resume: [{ subject: 'jobs.acme.j1', epoch: 9, seq: 41 }] });

    sock().serverClose(4000); // hub B restarts: back to A
    await vi.advanceTimersByTimeAsync(1000);
    expect(sockets.map((s) => s.url)).toEqual([A, B, A]);
  });

  it('asks again after an internal answer instead of a snapshot, then moves to the next hub', async () => {
    const { client, sock, sockets, errors } = setup();
    const sub = client.subscribe(['jobs.acme.>']);
    void client.connect([A, B]);
    live(sock());
    sock().receive({ op: 'batch', sent: Date.now(), events: [job(41)] });
    sock().serverClose(4000);
    await vi.advanceTimersByTimeAsync(1000);
    const b = sock();
    b.open();
    b.receive(hello({ resume_window_ms: 60_000 }));
    for (let i = 0; i < 6; i++) {
      const cmd = b.commands().filter((c) => c['op'] === 'subscribe')[i];
      expect(cmd, `try ${i + 1}`).toMatchObject({ resume: [{ subject: 'jobs.acme.j1', seq: 41 }] });
      expect(cmd?.['snapshot']).toBeUndefined();
      b.receive({ op: 'error', id: cmd?.['id'], code: 'internal', message: 'history: no responders' });
      await vi.advanceTimersByTimeAsync(5000);
    }
    expect(b.closedWith?.code).toBe(1011);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sockets.map((s) => s.url)).toEqual([A, B, A]);
    live(sock());
    await expect(sub.ready).resolves.toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('emits the hub notices, such as upstream_reconnected', async () => {
    const { client, sock } = setup();
    const notices: NoticeFrame[] = [];
    client.on('notice', (n) => notices.push(n));
    const done = client.connect(A);
    live(sock());
    await done;
    sock().receive({ op: 'notice', code: 'upstream_reconnected', message: 'ticks missed', ts: 5 });
    expect(notices).toEqual([{ op: 'notice', code: 'upstream_reconnected', message: 'ticks missed', ts: 5 }]);
  });
});
