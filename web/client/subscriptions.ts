// Client-side registry of subscriptions: what to (re)send to the hub, which
// handles an event belongs to, and the resume positions to offer.

import { ProtocolError } from './errors.js';
import { matchSubject } from './subject.js';
import type { Policy, ResumePoint, ResumePosition, StreamEvent, SubscribeCommand } from './types.js';

/** Most subjects in one subscribe command (protocol limit). */
export const MAX_SUBJECTS_PER_COMMAND = 16;
/** Most positions in one resume list (protocol limit). */
export const MAX_RESUME_POSITIONS = 16;
/** Most bytes in one subject pattern (protocol limit). */
export const MAX_SUBJECT_BYTES = 256;

/** Options of StreamHubClient.subscribe. */
export interface SubscribeOptions {
  /** Queue policy; omitted means the default of each subject's family. */
  policy?: Policy;
  /** Messages per second per subject (0 = unlimited); implies keep-latest. */
  maxRate?: number;
  /** Reserved: ask for the last value first (later hub versions). */
  snapshot?: boolean;
  /** Called for every event whose subject matches one of the patterns. */
  onEvent?: (event: StreamEvent) => void;
}

/** A live subscription; unsubscribe() ends it. */
export interface Subscription {
  /** The patterns, as given. */
  readonly subjects: readonly string[];
  /** The options, as given. */
  readonly options: Readonly<SubscribeOptions>;
  /**
   * Resolves on the hub's first `ok` for this subscription (it is resent,
   * with resume positions, after every reconnect); rejects with a
   * ProtocolError when the hub refuses it, which also removes it.
   */
  readonly ready: Promise<void>;
  /** False once unsubscribed or refused. */
  readonly active: boolean;
  /** unsubscribe removes the subscription; patterns still used by another active subscription stay subscribed on the hub. */
  unsubscribe(): Promise<void>;
}

/** validateSubscribe checks what the client can check before sending. */
export function validateSubscribe(subjects: readonly string[], opts: SubscribeOptions): void {
  if (subjects.length < 1 || subjects.length > MAX_SUBJECTS_PER_COMMAND) {
    throw new ProtocolError('invalid_subject', `need 1..${MAX_SUBJECTS_PER_COMMAND} subjects, got ${subjects.length}`);
  }
  for (const s of subjects) {
    if (s.length === 0 || s.length > MAX_SUBJECT_BYTES || s.split('.').some((t) => t === '')) {
      throw new ProtocolError('invalid_subject', `bad subject ${JSON.stringify(s)}`);
    }
  }
  if (opts.maxRate !== undefined && (!Number.isFinite(opts.maxRate) || opts.maxRate < 0)) {
    throw new ProtocolError('invalid_option', 'maxRate must be a non-negative number');
  }
  if (opts.maxRate && opts.policy && opts.policy !== 'keep-latest') {
    throw new ProtocolError('invalid_option', 'maxRate implies keep-latest');
  }
}

/** Entry is the registry's record behind a Subscription handle. */
export class Entry implements Subscription {
  active = true;
  readonly ready: Promise<void>;
  private settled = false;
  private resolveReady!: () => void;
  private rejectReady!: (err: unknown) => void;

  constructor(
    readonly subjects: readonly string[],
    readonly options: Readonly<SubscribeOptions>,
    private readonly onUnsubscribe: (e: Entry) => Promise<void>,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // The caller may never look at ready; an unobserved refusal is reported
    // through the client's 'error' event instead.
    this.ready.catch(() => {});
  }

  matches(subject: string): boolean {
    return this.subjects.some((p) => matchSubject(p, subject));
  }

  markReady(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveReady();
  }

  fail(err: unknown): void {
    this.active = false;
    if (this.settled) return;
    this.settled = true;
    this.rejectReady(err);
  }

  unsubscribe(): Promise<void> {
    if (!this.active) return Promise.resolve();
    this.active = false;
    return this.onUnsubscribe(this);
  }
}

/** Registry holds the active entries in subscription order. */
export class Registry {
  private readonly entries: Entry[] = [];

  add(e: Entry): void {
    this.entries.push(e);
  }

  /** remove drops e and returns its patterns no other entry still uses. */
  remove(e: Entry): string[] {
    const i = this.entries.indexOf(e);
    if (i >= 0) this.entries.splice(i, 1);
    const still = new Set(this.entries.flatMap((x) => x.subjects));
    return [...new Set(e.subjects)].filter((s) => !still.has(s));
  }

  all(): readonly Entry[] {
    return this.entries;
  }

  /** dispatch calls onEvent of every entry whose patterns match. */
  dispatch(ev: StreamEvent): void {
    for (const e of this.entries) {
      if (e.options.onEvent && e.matches(ev.subject)) e.options.onEvent(ev);
    }
  }
}

/**
 * subscribeCommand builds the subscribe command for an entry. When positions
 * are given, the matching ones (most recent first) are added as `resume`, at
 * most MAX_RESUME_POSITIONS of them and only while the JSON encoding stays
 * within maxBytes (the hub's max_frame_bytes; msgpack is never larger).
 */
export function subscribeCommand(
  id: number,
  e: Entry,
  positions: readonly [string, ResumePoint][],
  maxBytes: number,
): SubscribeCommand {
  const cmd: SubscribeCommand = { op: 'subscribe', id, subjects: [...e.subjects] };
  if (e.options.policy !== undefined) cmd.policy = e.options.policy;
  if (e.options.maxRate !== undefined) cmd.max_rate = e.options.maxRate;
  if (e.options.snapshot !== undefined) cmd.snapshot = e.options.snapshot;
  const enc = new TextEncoder();
  // ',"resume":[]' costs 12 bytes; each position its JSON plus a comma.
  let size = enc.encode(JSON.stringify(cmd)).byteLength + 12;
  const resume: ResumePosition[] = [];
  for (const [subject, p] of positions) {
    if (resume.length >= MAX_RESUME_POSITIONS) break;
    if (!e.matches(subject)) continue;
    const pos: ResumePosition = { subject, epoch: p.epoch, seq: p.seq };
    const add = enc.encode(JSON.stringify(pos)).byteLength + 1;
    if (size + add > maxBytes) break;
    size += add;
    resume.push(pos);
  }
  if (resume.length > 0) cmd.resume = resume;
  return cmd;
}
