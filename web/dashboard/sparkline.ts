// A small canvas sparkline: cheaper than one chart library instance per row.

/**
 * drawSparkline draws values as a line scaled to the canvas, green when the
 * last value is at or above the first, red otherwise. It does nothing when
 * the canvas has no 2D context (e.g. in tests) or fewer than two values.
 */
export function drawSparkline(canvas: HTMLCanvasElement, values: readonly number[]): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const dpr = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth || 96;
  const hgt = canvas.clientHeight || 24;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(hgt * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(hgt * dpr);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  if (values.length < 2) return;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const span = max - min || 1;
  const first = values[0] ?? 0;
  const last = values[values.length - 1] ?? 0;
  ctx.strokeStyle = last >= first ? '#3fb950' : '#f85149';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = (i / (values.length - 1)) * (w - 2) + 1;
    const y = hgt - 2 - ((v - min) / span) * (hgt - 4);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
}
