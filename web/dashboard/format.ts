// Formatting helpers for the dashboard; pure functions.

/** pctChange formats the change from first to last as a signed percentage. */
export function pctChange(first: number, last: number): string {
  if (!Number.isFinite(first) || !Number.isFinite(last) || first === 0) return '—';
  const p = ((last - first) / first) * 100;
  const s = Math.abs(p) < 0.005 ? '0.00' : p.toFixed(2);
  return `${p > 0 && s !== '0.00' ? '+' : ''}${s === '-0.00' ? '0.00' : s}%`;
}

/** fmtDuration formats ms as "4s", "2m 05s" or "1h 02m"; negative or invalid as "—". */
export function fmtDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;
const GROUPED = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/**
 * fmtDecimal groups the thousands of a decimal string ("12345.60" →
 * "12,345.60") without going through a float: every digit after the point
 * is kept, since the source's digits are its precision (a venue's tick
 * size, an asset's decimals). Other numeric input (exponents, numbers) is
 * shown with at most maxDecimals digits after the point; anything else as "—".
 */
export function fmtDecimal(v: string | number, maxDecimals = 8): string {
  const m = typeof v === 'string' ? DECIMAL.exec(v.trim()) : null;
  if (m) {
    const [, sign = '', int = '0', frac] = m;
    return `${sign}${GROUPED.format(BigInt(int))}${frac ? `.${frac}` : ''}`;
  }
  const n = typeof v === 'number' ? v : v.trim() === '' ? Number.NaN : Number(v);
  if (!Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { maximumFractionDigits: maxDecimals });
}

// One formatter per precision: the chart's price axis formats often.
const PRICE_FORMATS = new Map<number, Intl.NumberFormat>();

/** fmtPrice formats a price number with exactly precision (0 to 8) digits after the point. */
export function fmtPrice(n: number, precision: number): string {
  if (!Number.isFinite(n)) return '—';
  const p = Math.max(0, Math.min(8, Math.floor(precision) || 0));
  let f = PRICE_FORMATS.get(p);
  if (!f) {
    f = new Intl.NumberFormat('en-US', { minimumFractionDigits: p, maximumFractionDigits: p });
    PRICE_FORMATS.set(p, f);
  }
  return f.format(n);
}

/** decimalsOf counts the digits after the point of a decimal string (at most 8). */
export function decimalsOf(s: string): number {
  const i = s.indexOf('.');
  return i < 0 ? 0 : Math.min(8, s.length - i - 1);
}

/** fmtSpan names a length of time roughly: "45 s", "5 min", "2 h". */
export function fmtSpan(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** fmtUsd formats a decimal string amount of dollars compactly ($1.25M). */
export function fmtUsd(v: string | number): string {
  const n = typeof v === 'number' ? v : Number.parseFloat(v);
  if (!Number.isFinite(n)) return '—';
  const abs = Math.abs(n);
  if (abs >= 1e9) return `$${(n / 1e9).toFixed(2)}B`;
  if (abs >= 1e6) return `$${(n / 1e6).toFixed(2)}M`;
  if (abs >= 1e3) return `$${(n / 1e3).toFixed(1)}k`;
  return `$${n.toFixed(2)}`;
}

/** fmtUsdExact formats a USD amount in full with cents ($1,250,000.00). */
export function fmtUsdExact(v: string | number): string {
  const n = typeof v === 'number' ? v : Number.parseFloat(v);
  if (!Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { style: 'currency', currency: 'USD' });
}

/** shortHash shortens a hex hash or address to 0x1234…abcd. */
export function shortHash(h: string | undefined): string {
  if (!h) return '—';
  return h.length > 14 ? `${h.slice(0, 6)}…${h.slice(-4)}` : h;
}

/** fmtMs formats a latency in ms; under half a millisecond is "<1 ms" (stamps are whole ms). */
export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms >= 0 && ms < 0.5) return '<1 ms';
  return `${Math.round(ms)} ms`;
}

/** fmtRate formats events per second. */
export function fmtRate(n: number): string {
  return `${n >= 100 ? Math.round(n) : n.toFixed(1)}/s`;
}

/** fmtInt formats an integer with thousands separators. */
export function fmtInt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  return Math.round(n).toLocaleString('en-US');
}
