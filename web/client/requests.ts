// Correlation of commands with their ok/error answers by id.

import { ProtocolError } from './errors.js';

interface Pending {
  resolve: () => void;
  reject: (err: ProtocolError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Requests holds the commands waiting for an answer. Each settles exactly
 * once: on ok (resolve), on an error frame (reject with the hub's code), on
 * timeout (code `timeout`) or when the connection drops (code `disconnected`).
 */
export class Requests {
  private readonly pending = new Map<number, Pending>();

  /** wait registers id and returns the promise of its answer. */
  wait(id: number, op: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError('timeout', `no answer to ${op} within ${timeoutMs} ms`, id));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  /** resolve settles id with ok; false when nothing waits for id. */
  resolve(id: number): boolean {
    const p = this.take(id);
    p?.resolve();
    return p !== undefined;
  }

  /** reject settles id with err; false when nothing waits for id. */
  reject(id: number, err: ProtocolError): boolean {
    const p = this.take(id);
    p?.reject(err);
    return p !== undefined;
  }

  /** rejectAll fails every waiting command with code `disconnected`. */
  rejectAll(why: string): void {
    const all = [...this.pending];
    this.pending.clear();
    for (const [id, p] of all) {
      clearTimeout(p.timer);
      p.reject(new ProtocolError('disconnected', why, id));
    }
  }

  private take(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    clearTimeout(p.timer);
    return p;
  }
}
