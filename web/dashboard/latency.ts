// The hub's own latency, as the page can measure it without clock skew.

import type { StreamEvent } from '../client/index.js';

/**
 * HubLatency smooths the time events spend in the hub: frame sent − ingest,
 * both stamped by the hub's clock. Ticks are left out: the page asks for at
 * most max_rate of them per second per symbol, so the hub holds the newest
 * one until the symbol's next slot (up to 1/max_rate s) on purpose; counting
 * that wait, as the client's hubLatencyMs does, mostly measures the page's
 * own rate limit. Chain and job events are never held back.
 */
export class HubLatency {
  private value: number | undefined;

  /** alpha is the weight of a new sample (default 0.2). */
  constructor(private readonly alpha = 0.2) {}

  /** ms is the smoothed latency, undefined before the first counted event. */
  get ms(): number | undefined {
    return this.value;
  }

  /** observe counts e unless it is a tick or its stamps are missing. */
  observe(e: StreamEvent): void {
    if (e.kind === 'tick') return;
    const sample = e.sent - e.ingest;
    if (!Number.isFinite(sample) || sample < 0 || !e.ingest) return;
    this.value = this.value === undefined ? sample : this.value + this.alpha * (sample - this.value);
  }
}
