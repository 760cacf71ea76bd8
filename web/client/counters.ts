// Client-side counters: rates, gaps, conflation estimate, latencies, and the
// last (epoch, seq) seen per subject (used for resume).

import type { Gap, ResumePoint } from './types.js';

/** A snapshot of the counters; all latencies are in ms. */
export interface CounterSnapshot {
  /** Events received since the client was created. */
  events: number;
  /** Events per second over the last window (default 5 s). */
  eventsPerSec: number;
  /** Gap notices received. */
  gaps: number;
  /** Messages announced lost by gap notices (sum of to − from + 1). */
  gapMessages: number;
  /**
   * Estimated messages conflated away: seq jumps within an epoch that no
   * gap notice announced (normal with keep-latest and max_rate).
   */
  conflated: number;
  /** Smoothed end-to-end latency: receive time − event ts (EWMA). */
  latencyMs: number | undefined;
  /** Smoothed hub latency: frame sent − event ingest (EWMA). */
  hubLatencyMs: number | undefined;
  /** Reconnects started since the client was created. */
  reconnects: number;
}

/** What the counters need from one event. */
export interface CountedEvent {
  subject: string;
  epoch: number;
  seq: number;
  ts: number;
  ingest: number;
  sent: number;
  received: number;
}

/** Settings of Counters; missing fields take the defaults. */
export interface CounterOptions {
  /** Window of the events/s rate in seconds (default 5). */
  windowSec?: number;
  /** Most subjects whose last position is kept (default 10000, LRU). */
  maxSubjects?: number;
  /** Weight of a new sample in the latency EWMAs (default 0.2). */
  alpha?: number;
}

/**
 * Counters aggregates what the client sees. It is driven by the client on its
 * single thread; snapshot() may be called at any time.
 */
export class Counters {
  private events = 0;
  private gaps = 0;
  private gapMessages = 0;
  private conflated = 0;
  private reconnects = 0;
  private latency: number | undefined;
  private hubLatency: number | undefined;
  // Per-second event counts, oldest first; at most windowSec + 1 entries.
  private buckets: { sec: number; count: number }[] = [];
  private readonly startSec: number;
  // Last position per subject; Map order is the LRU order (re-inserted on use).
  private readonly positions = new Map<string, ResumePoint>();
  private readonly windowSec: number;
  private readonly maxSubjects: number;
  private readonly alpha: number;

  constructor(
    private readonly now: () => number = Date.now,
    opts: CounterOptions = {},
  ) {
    this.windowSec = opts.windowSec && opts.windowSec > 0 ? opts.windowSec : 5;
    this.maxSubjects = opts.maxSubjects && opts.maxSubjects > 0 ? opts.maxSubjects : 10_000;
    this.alpha = opts.alpha && opts.alpha > 0 && opts.alpha <= 1 ? opts.alpha : 0.2;
    this.startSec = Math.floor(this.now() / 1000);
  }

  /** onGap counts a gap notice and moves the subject's position past it. */
  onGap(g: Gap): void {
    this.gaps++;
    if (g.to >= g.from) this.gapMessages += g.to - g.from + 1;
    const prev = this.positions.get(g.subject);
    if (!prev || prev.epoch !== g.epoch || g.to > prev.seq) {
      this.setPosition(g.subject, { epoch: g.epoch, seq: g.to });
    }
  }

  /** onEvent counts an event, its latencies and any unannounced seq jump. */
  onEvent(e: CountedEvent): void {
    this.events++;
    this.bump(Math.floor(e.received / 1000));
    this.latency = this.ewma(this.latency, e.received - e.ts);
    this.hubLatency = this.ewma(this.hubLatency, e.sent - e.ingest);
    const prev = this.positions.get(e.subject);
    if (prev && prev.epoch === e.epoch) {
      if (e.seq <= prev.seq) return; // duplicate or reordered: keep the max
      if (e.seq > prev.seq + 1) this.conflated += e.seq - prev.seq - 1;
    }
    this.setPosition(e.subject, { epoch: e.epoch, seq: e.seq });
  }

  /** onReconnect counts one reconnect attempt. */
  onReconnect(): void {
    this.reconnects++;
  }

  /** position returns the last (epoch, seq) seen on a subject. */
  position(subject: string): ResumePoint | undefined {
    return this.positions.get(subject);
  }

  /** recentPositions lists subjects and positions, most recently seen first. */
  recentPositions(): [string, ResumePoint][] {
    return [...this.positions.entries()].reverse();
  }

  /** snapshot returns the current values. */
  snapshot(): CounterSnapshot {
    return {
      events: this.events,
      eventsPerSec: this.rate(),
      gaps: this.gaps,
      gapMessages: this.gapMessages,
      conflated: this.conflated,
      latencyMs: this.latency,
      hubLatencyMs: this.hubLatency,
      reconnects: this.reconnects,
    };
  }

  private setPosition(subject: string, p: ResumePoint): void {
    this.positions.delete(subject);
    this.positions.set(subject, p);
    if (this.positions.size > this.maxSubjects) {
      const oldest = this.positions.keys().next().value;
      if (oldest !== undefined) this.positions.delete(oldest);
    }
  }

  private bump(sec: number): void {
    const last = this.buckets[this.buckets.length - 1];
    if (last && last.sec === sec) {
      last.count++;
    } else if (!last || sec > last.sec) {
      this.buckets.push({ sec, count: 1 });
      if (this.buckets.length > this.windowSec + 1) this.buckets.shift();
    } else {
      // A receive time from the past (clock stepped back): count it as now.
      last.count++;
    }
  }

  // rate is the mean over the last windowSec complete seconds, or over the
  // complete seconds since start when fewer have passed.
  private rate(): number {
    const cur = Math.floor(this.now() / 1000);
    const from = cur - this.windowSec;
    let sum = 0;
    for (const b of this.buckets) if (b.sec >= from && b.sec < cur) sum += b.count;
    const span = Math.max(1, Math.min(this.windowSec, cur - this.startSec));
    return sum / span;
  }

  private ewma(prev: number | undefined, sample: number): number {
    if (!Number.isFinite(sample)) return prev ?? 0;
    return prev === undefined ? sample : prev + this.alpha * (sample - prev);
  }
}
