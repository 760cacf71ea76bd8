import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../client/index.js';
import { HubLatency } from './latency.js';

function ev(kind: StreamEvent['kind'], ingest: number, sent: number): StreamEvent {
  return { kind, subject: `${kind}.x`, epoch: 1, seq: 1, ts: ingest, ingest, sent, received: sent, critical: false, data: {} } as StreamEvent;
}

describe('HubLatency', () => {
  it('leaves out ticks, which max_rate holds back on purpose', () => {
    const l = new HubLatency(0.5);
    l.observe(ev('tick', 1000, 1240)); // held for its next slot
    expect(l.ms).toBeUndefined();
    l.observe(ev('block', 1000, 1002));
    expect(l.ms).toBe(2);
    l.observe(ev('tick', 1000, 1200));
    expect(l.ms).toBe(2);
  });

  it('smooths chain and job events', () => {
    const l = new HubLatency(0.5);
    l.observe(ev('job', 1000, 1004));
    l.observe(ev('reorg', 1000, 1000));
    l.observe(ev('transfer', 1000, 1002));
    expect(l.ms).toBe(2); // 4, then 2, then 2
  });

  it('ignores events without stamps or with sent before ingest', () => {
    const l = new HubLatency();
    l.observe(ev('block', 0, 5));
    l.observe(ev('block', 1000, 990));
    l.observe(ev('block', Number.NaN, 5));
    expect(l.ms).toBeUndefined();
  });
});
