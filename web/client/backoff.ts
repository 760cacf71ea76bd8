// Full-jitter exponential backoff.

/** Backoff settings; zero or missing fields take the defaults. */
export interface BackoffOptions {
  /** First ceiling in ms (default 250). */
  baseMs?: number;
  /** Largest ceiling in ms (default 10000). */
  capMs?: number;
}

export const DEFAULT_BACKOFF_BASE_MS = 250;
export const DEFAULT_BACKOFF_CAP_MS = 10_000;

/** backoffCeiling is min(cap, base·2^attempt) for attempt ≥ 0. */
export function backoffCeiling(attempt: number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs && opts.baseMs > 0 ? opts.baseMs : DEFAULT_BACKOFF_BASE_MS;
  const cap = opts.capMs && opts.capMs > 0 ? opts.capMs : DEFAULT_BACKOFF_CAP_MS;
  const n = Math.max(0, Math.floor(attempt));
  // 2^n overflows to Infinity for large n; min() keeps it at cap.
  return Math.min(cap, base * Math.pow(2, n));
}

/**
 * fullJitterDelay returns a delay uniformly drawn from
 * [0, min(cap, base·2^attempt)] ("full jitter"). random must return values in
 * [0, 1) like Math.random.
 */
export function fullJitterDelay(
  attempt: number,
  opts: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * backoffCeiling(attempt, opts));
}
