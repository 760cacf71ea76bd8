// Status bar: connection state, access mode, counters and notices.

import type { CounterSnapshot, Status, Transport } from '../client/index.js';
import { h, setText } from './dom.js';
import { fmtInt, fmtMs, fmtRate } from './format.js';

/** How the dashboard authenticated. */
export type AccessMode = 'pending' | 'demo' | 'open' | 'key';

const ACCESS_LABEL: Record<AccessMode, string> = {
  pending: '…',
  demo: 'demo access',
  open: 'open access',
  key: 'API key access',
};

/** StatusBar shows what the client reports; its methods are cheap to call often. */
export class StatusBar {
  readonly el: HTMLElement;
  private readonly status: HTMLElement;
  private readonly access: HTMLElement;
  private readonly transport: HTMLElement;
  private readonly noticeEl: HTMLElement;
  private readonly counters: Record<string, HTMLElement> = {};
  private noticeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.status = h('span', { class: 'status', 'data-testid': 'status', 'data-status': 'connecting', role: 'status' }, 'connecting');
    this.access = h('span', { class: 'access', 'data-testid': 'access-mode', hidden: '' });
    this.transport = h(
      'span',
      { class: 'access', 'data-testid': 'transport', hidden: '', title: 'WebSockets do not get through to the hub; streaming over Server-Sent Events' },
      'SSE',
    );
    this.noticeEl = h('span', { class: 'notice', 'data-testid': 'notice', role: 'alert' });
    const counter = (id: string, label: string, title: string): HTMLElement => {
      const v = h('span', { class: 'v', 'data-testid': `counter-${id}` }, '—');
      this.counters[id] = v;
      return h('span', { class: 'counter', title }, h('span', { class: 'k' }, label), v);
    };
    this.el = h(
      'div',
      { class: 'statusbar' },
      this.status,
      this.transport,
      this.access,
      counter('latency', 'e2e', 'End-to-end latency: receive time − source timestamp, smoothed (for ticks it includes the wait for their max-rate slot)'),
      counter(
        'hub-latency',
        'in hub',
        'Time chain and job events spend in the hub: frame sent − ingest, on the hub clock, smoothed. ' +
          'Ticks are left out: this page takes at most a few per second per symbol, so the hub holds them back on purpose.',
      ),
      counter('eps', 'rate', 'Events per second (last 5 s)'),
      counter('gaps', 'gaps', 'Gap notices: messages the hub dropped for this page'),
      counter('conflated', 'conflated', 'Estimated updates skipped by keep-latest / max rate'),
      counter('reconnects', 'reconn', 'Reconnects since the page loaded'),
      this.noticeEl,
    );
  }

  /** setStatus shows connecting | live | reconnecting | closed. */
  setStatus(s: Status, detail?: string): void {
    setText(this.status, s);
    this.status.dataset['status'] = s;
    this.status.title = detail ?? '';
  }

  /** setTransport shows "SSE" while the client uses the Server-Sent Events fallback. */
  setTransport(t: Transport | undefined): void {
    this.transport.hidden = t !== 'sse';
    this.transport.dataset['transport'] = t ?? 'websocket';
  }

  /** setAccess labels how the page authenticated. */
  setAccess(mode: AccessMode): void {
    this.access.hidden = mode === 'pending';
    this.access.dataset['mode'] = mode;
    setText(this.access, ACCESS_LABEL[mode]);
  }

  /**
   * setCounters shows a counters snapshot, and hubMs as the time in the hub
   * (see HubLatency: the snapshot's hubLatencyMs includes max-rate waits).
   */
  setCounters(c: CounterSnapshot, hubMs: number | undefined): void {
    this.set('latency', fmtMs(c.latencyMs));
    this.set('hub-latency', fmtMs(hubMs));
    this.set('eps', fmtRate(c.eventsPerSec));
    this.set('gaps', fmtInt(c.gaps));
    this.set('conflated', fmtInt(c.conflated));
    this.set('reconnects', fmtInt(c.reconnects));
  }

  /** notice shows a message for a while (0 = until replaced). */
  notice(msg: string, ms = 8000): void {
    clearTimeout(this.noticeTimer);
    setText(this.noticeEl, msg);
    if (ms > 0) this.noticeTimer = setTimeout(() => setText(this.noticeEl, ''), ms);
  }

  private set(id: string, text: string): void {
    const el = this.counters[id];
    if (el) setText(el, text);
  }
}
