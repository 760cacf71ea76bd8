// Subject matching (NATS wildcards) and family detection, mirroring the hub's
// subject.Match (internal/subject) for the client-side routing of events to subscriptions.

import type { EventKind } from './types.js';

/**
 * matchSubject reports whether a literal subject matches a pattern where `*`
 * matches exactly one token and a trailing `>` one or more tokens.
 */
export function matchSubject(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const tok = p[i];
    if (tok === '>') return i === p.length - 1 && s.length > i;
    if (i >= s.length) return false;
    if (tok !== '*' && tok !== s[i]) return false;
  }
  return p.length === s.length;
}

/** kindOf derives the event family from a subject's prefix. */
export function kindOf(subject: string): EventKind {
  const dot = subject.indexOf('.');
  const head = dot < 0 ? subject : subject.slice(0, dot);
  switch (head) {
    case 'ticks':
      return 'tick';
    case 'jobs':
      return 'job';
    case 'chain': {
      const last = subject.slice(subject.lastIndexOf('.') + 1);
      if (last === 'block') return 'block';
      if (last === 'transfer') return 'transfer';
      if (last === 'reorg') return 'reorg';
      return 'other';
    }
    default:
      return 'other';
  }
}
