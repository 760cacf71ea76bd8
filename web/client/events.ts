// Turning wire events into typed StreamEvents.

import { kindOf } from './subject.js';
import type { StreamEvent, WireEvent } from './types.js';

/**
 * toStreamEvent adds the family discriminator (from the subject prefix), the
 * batch's sent time and the local receive time to a wire event. The payload
 * is not validated: its type follows the subject's family by contract.
 */
export function toStreamEvent(w: WireEvent, sent: number, received: number): StreamEvent {
  return {
    kind: kindOf(w.subject),
    subject: w.subject,
    epoch: w.epoch,
    seq: w.seq,
    ts: w.ts,
    ingest: w.ingest,
    sent,
    received,
    critical: w.critical === true,
    data: w.data,
  } as StreamEvent;
}
