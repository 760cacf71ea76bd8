// A minimal typed event emitter.

/** Listener map: event name → payload type. */
export type EventMap = { [name: string]: unknown };

/**
 * Emitter calls listeners synchronously in registration order. A listener
 * that throws does not stop the others; its error goes to onListenerError.
 * Not safe for use across workers (there is one JS thread per client).
 */
export class Emitter<M extends EventMap> {
  private readonly listeners = new Map<keyof M, Set<(payload: never) => void>>();

  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  /** on registers a listener and returns a function that removes it. */
  on<K extends keyof M>(name: K, fn: (payload: M[K]) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(fn as (payload: never) => void);
    return () => {
      set.delete(fn as (payload: never) => void);
    };
  }

  /** emit calls every listener of name with payload. */
  emit<K extends keyof M>(name: K, payload: M[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as (p: M[K]) => void)(payload);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  /** listenerCount reports how many listeners name has. */
  listenerCount(name: keyof M): number {
    return this.listeners.get(name)?.size ?? 0;
  }
}
