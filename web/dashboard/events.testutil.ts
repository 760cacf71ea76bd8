// Typed events for the dashboard's unit tests.

import type { ReorgEvent, TickEvent } from '../client/index.js';

/** envelope wraps data as an event of kind on subject, every time set to ts (Unix ms). */
function envelope<K extends string, D>(kind: K, subject: string, ts: number, critical: boolean, data: D) {
  return { kind, subject, epoch: 1, seq: 1, ts, ingest: ts, sent: ts, received: ts, critical, data };
}

/** tickEvent is a tick of venue/symbol at ts (Unix ms), with bid and ask. */
export function tickEvent(venue: string, symbol: string, last: string, ts: number, bid = '1.0', ask = '1.2'): TickEvent {
  return envelope('tick', `ticks.${venue}.${symbol}`, ts, false, { venue, symbol, bid, ask, last, size: '0.1', ts });
}

/** reorgEvent is a reorg on eth at ts (Unix ms). */
export function reorgEvent(ts: number, fork: number, depth: number, oldHead: string, newHead: string): ReorgEvent {
  return envelope('reorg', 'chain.eth.reorg', ts, true, { network: 'eth', depth, fork_height: fork, old_head: oldHead, new_head: newHead, ts });
}
