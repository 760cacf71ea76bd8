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

/** shortHash shortens a hex hash or address to 0x1234…abcd. */
export function shortHash(h: string | undefined): string {
  if (!h) return '—';
  return h.length > 14 ? `${h.slice(0, 6)}…${h.slice(-4)}` : h;
}

/** fmtMs formats a latency in ms. */
export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
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
