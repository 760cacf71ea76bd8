// Tiny DOM helpers: the dashboard uses no framework.

import { shortHash } from './format.js';

type Child = Node | string | null | undefined | false;

/** h creates an element with attributes (class, data-*, aria-*, …) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined) el.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c);
  }
  return el;
}

/** setText updates textContent only when it changed (avoids layout work). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** byTestId finds a descendant by data-testid, throwing when it is missing. */
export function byTestId<T extends Element = HTMLElement>(root: ParentNode, id: string): T {
  const el = root.querySelector<T & Element>(`[data-testid="${id}"]`);
  if (!el) throw new Error(`dashboard: missing [data-testid="${id}"]`);
  return el;
}

/** testIdPart makes a value safe inside a data-testid (letters, digits, - and _). */
export function testIdPart(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * hashEl shows a hash or address shortened in the middle (0x1234…abcd), on
 * one line, with the full value as its tooltip. A shortened hash must never
 * wrap: the break the browser allows after "…" would split it in two.
 */
export function hashEl(full: string | undefined): HTMLSpanElement {
  return h('span', { class: 'hash', title: full || undefined, 'data-testid': 'hash' }, shortHash(full));
}
