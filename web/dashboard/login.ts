// Getting a browser token: the demo endpoint, or an API key exchanged for a
// token. The key is kept only in memory (never in storage or the URL).

import { h } from './dom.js';

/** The hub's answer to POST /v1/demo/token and POST /v1/tokens. */
export interface TokenResponse {
  token: string;
  expires_at?: number;
}

/** HttpError is a non-2xx answer from a token endpoint. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

type Fetch = typeof fetch;

async function tokenFrom(res: Response, what: string): Promise<TokenResponse> {
  if (!res.ok) throw new HttpError(res.status, `${what}: HTTP ${res.status}`);
  const body: unknown = await res.json();
  if (typeof body !== 'object' || body === null || typeof (body as { token?: unknown }).token !== 'string') {
    throw new Error(`${what}: answer has no token`);
  }
  const b = body as { token: string; expires_at?: unknown };
  return typeof b.expires_at === 'number' ? { token: b.token, expires_at: b.expires_at } : { token: b.token };
}

/**
 * demoToken asks the hub for a read-only demo token. It returns null when
 * the hub has no demo mode (404) and throws on network errors and other
 * statuses.
 */
export async function demoToken(fetchFn: Fetch = fetch): Promise<TokenResponse | null> {
  const res = await fetchFn('/v1/demo/token', { method: 'POST', credentials: 'same-origin', cache: 'no-store' });
  if (res.status === 404) return null;
  return tokenFrom(res, 'demo token');
}

/** exchangeKey trades an API key for a browser token (POST /v1/tokens). */
export async function exchangeKey(key: string, fetchFn: Fetch = fetch): Promise<TokenResponse> {
  const res = await fetchFn('/v1/tokens', {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}` },
    credentials: 'same-origin',
    cache: 'no-store',
  });
  return tokenFrom(res, 'token exchange');
}

/**
 * KeyForm asks for an API key. submit is called with the key; when it throws,
 * the error is shown and the form stays open.
 */
export class KeyForm {
  readonly el: HTMLFormElement;
  private readonly error: HTMLElement;

  constructor(submit: (key: string) => Promise<void>) {
    const input = h('input', {
      type: 'password',
      name: 'key',
      autocomplete: 'off',
      required: '',
      placeholder: 'API key',
      'aria-label': 'API key',
      'data-testid': 'api-key',
    });
    this.error = h('p', { class: 'error', 'data-testid': 'login-error', role: 'alert' });
    const button = h('button', { type: 'submit' }, 'Connect');
    this.el = h(
      'form',
      { class: 'login', hidden: '', 'data-testid': 'login', 'aria-label': 'API key login' },
      h('p', {}, 'This hub requires authentication. Enter an API key; it is exchanged for a short-lived browser token and kept only in this tab’s memory.'),
      h('div', { class: 'row' }, input, button),
      this.error,
    );
    this.el.addEventListener('submit', (e) => {
      e.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      button.disabled = true;
      this.error.textContent = '';
      submit(key)
        .then(() => {
          input.value = '';
          this.el.hidden = true;
        })
        .catch((err: unknown) => {
          this.error.textContent =
            err instanceof HttpError && (err.status === 401 || err.status === 403)
              ? 'The hub refused this key.'
              : `Could not get a token: ${err instanceof Error ? err.message : String(err)}`;
        })
        .finally(() => {
          button.disabled = false;
        });
    });
  }

  /** show opens the form. */
  show(): void {
    this.el.hidden = false;
    this.el.querySelector('input')?.focus();
  }
}
