// Browser token helpers: read the exp claim of a JWT without verifying it.

/**
 * jwtExpiry returns the `exp` claim of a JWT in Unix ms, or undefined when the
 * token is not a JWT or has no numeric exp. The signature is NOT verified: the
 * value only schedules a refresh; the hub is the one that checks tokens.
 */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const json = base64UrlDecode(parts[1]);
    const claims: unknown = JSON.parse(json);
    if (typeof claims !== 'object' || claims === null) return undefined;
    const exp = (claims as Record<string, unknown>)['exp'];
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return undefined;
    return exp * 1000;
  } catch {
    return undefined;
  }
}

/**
 * refreshDelay is how long to wait before refreshing a token expiring at
 * expMs: leadMs before expiry, at least minMs from now, and undefined when the
 * expiry is unknown.
 */
export function refreshDelay(
  expMs: number | undefined,
  nowMs: number,
  leadMs: number,
  minMs = 1000,
): number | undefined {
  if (expMs === undefined) return undefined;
  return Math.max(minMs, expMs - leadMs - nowMs);
}

function base64UrlDecode(s: string): string {
  let b64 = s.replace(/-/g, '+').replace(/_/g, '/');
  while (b64.length % 4 !== 0) b64 += '=';
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

/**
 * TokenSource holds the current browser token and the provider of fresh
 * ones. Used from the client's single thread.
 */
export class TokenSource {
  private token: string | undefined;

  constructor(
    initial: string | undefined,
    private readonly provider: (() => Promise<string>) | undefined,
    private readonly now: () => number,
  ) {
    this.token = initial;
  }

  /** current returns the token, asking the provider when there is none or it expires within 1 s. */
  async current(): Promise<string | undefined> {
    const exp = this.token === undefined ? undefined : jwtExpiry(this.token);
    const stale = this.token === undefined || (exp !== undefined && exp <= this.now() + 1000);
    if (stale && this.provider) this.token = await this.provider();
    return this.token;
  }

  /** fresh asks the provider for a new token (undefined without a provider). */
  async fresh(): Promise<string | undefined> {
    if (!this.provider) return undefined;
    this.token = await this.provider();
    return this.token;
  }

  /** refreshIn is the delay until a refresh is due, or undefined when none can or needs to be done. */
  refreshIn(leadMs: number): number | undefined {
    if (!this.provider || this.token === undefined) return undefined;
    return refreshDelay(jwtExpiry(this.token), this.now(), leadMs);
  }
}
