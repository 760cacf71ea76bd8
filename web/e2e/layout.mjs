// Browser checks of the dashboard's layout and chart, measured in the page:
// bounding boxes, scroll widths, and the chart's own report of its range.
// Each takes a playwright Page showing a live dashboard and throws on failure.

import { poll } from './poll.mjs';

const JOBS_PANEL = 'section[aria-label="Jobs"]';

/** setViewport resizes the page and waits until its layout has the new width. */
export async function setViewport(page, width, height) {
  await page.setViewportSize({ width, height });
  await poll(`a ${width}×${height} layout`, 5_000, () =>
    page.evaluate(
      (w) => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(window.innerWidth === w)))),
      width,
    ),
  );
}

/**
 * reorgLayout, at 1440×900 with the chain panel full (8 blocks, 6
 * transfers): adding a dozen reorg notices at once must not move the Jobs
 * panel by a pixel, its heading and first rows stay in view, the newest
 * notice shows with a count of the others, and ages advance. The notices are
 * given to the page's own ChainPanel (window.streamhub), forking below the
 * listed blocks, with random heads; they spread over the last 3 minutes, so they are still
 * there for the screenshot.
 */
export async function reorgLayout(page, log) {
  await setViewport(page, 1440, 900);
  await page.evaluate(() => window.scrollTo(0, 0));
  await poll('8 blocks and 6 large transfers', 40_000, () =>
    page.evaluate(
      () => document.querySelectorAll('[data-testid="block-row"]').length >= 8 && document.querySelectorAll('[data-testid="transfer-row"]').length >= 6,
    ),
  );
  const jobsTop = () => page.$eval(JOBS_PANEL, (el) => el.getBoundingClientRect().top);
  const r = await page.evaluate((sel) => {
    const jobs = document.querySelector(sel);
    const before = jobs.getBoundingClientRect().top;
    const heights = [...document.querySelectorAll('[data-testid="block-row"]')].map((e) => Number(e.dataset.height));
    const below = Math.min(...heights) - 10; // no listed block is marked replaced
    const hex = () => `0x${Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, '0')).join('')}`;
    const now = Date.now();
    for (let i = 11; i >= 0; i--) {
      const ts = now - i * 15_000;
      const data = { network: 'eth', depth: 1 + (i % 3), fork_height: below - 40 * i, old_head: hex(), new_head: hex(), ts };
      globalThis.streamhub.chain.reorg({ kind: 'reorg', subject: 'chain.eth.reorg', epoch: 1, seq: 1, ts, ingest: ts, sent: ts, received: now, critical: true, data });
    }
    return {
      before,
      after: jobs.getBoundingClientRect().top,
      viewport: window.innerHeight,
      shown: document.querySelectorAll('[data-testid="reorg-row"]').length,
      more: document.querySelector('[data-testid="reorg-more"]')?.textContent ?? '',
    };
  }, JOBS_PANEL);
  log(`#   Jobs panel top ${r.before.toFixed(0)} px before 12 reorgs, ${r.after.toFixed(0)} px after; "${r.more}"`);
  if (Math.abs(r.after - r.before) > 0.5) throw new Error(`the Jobs panel moved from ${r.before} to ${r.after} px`);
  // Its heading and about two job rows must be visible.
  if (r.after > r.viewport - 150) throw new Error(`the Jobs panel starts at ${r.after} px of a ${r.viewport} px viewport`);
  if (r.shown !== 1) throw new Error(`${r.shown} reorg notices shown at once, want 1`);
  const more = /^\+(\d+) earlier$/.exec(r.more);
  if (!more || Number(more[1]) < 11) throw new Error(`count of the other notices: "${r.more}", want "+11 earlier" or more`);

  const age = () => page.textContent('[data-testid="reorg-row"] [data-testid="reorg-age"]');
  const first = await age();
  await poll(`the newest notice's age to advance from "${first}"`, 5_000, async () => {
    const now = await age();
    return /^\d+s ago$/.test(now ?? '') && now !== first;
  });
  await page.click('[data-testid="reorg-more"]');
  const ages = await page.$$eval('[data-testid="reorg-row"] [data-testid="reorg-age"]', (els) => els.map((e) => e.textContent));
  if (ages.length < 12 || !ages.some((a) => /^2m \d\ds ago$/.test(a))) throw new Error(`expanded notices' ages: ${ages.join(', ')}`);
  await page.click('[data-testid="reorg-more"]');
  const back = await jobsTop();
  if (Math.abs(back - r.before) > 0.5) throw new Error(`after collapsing, the Jobs panel is at ${back} px, not ${r.before}`);
}

/**
 * phoneHashes: every visible shortened hash (block hashes and reorg heads
 * at least) is on one line, not clipped, shortened in the middle
 * (0x1234…abcd) and carries the full value as its title.
 */
export async function phoneHashes(page) {
  const r = await page.evaluate(() => {
    const problems = [];
    let seen = 0;
    let inReorgs = 0;
    for (const el of document.querySelectorAll('[data-testid="hash"]')) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue; // hidden on phones (transfer addresses)
      seen++;
      if (el.closest('[data-testid="reorg-row"]')) inReorgs++;
      const text = el.textContent ?? '';
      const fontPx = parseFloat(getComputedStyle(el).fontSize);
      if (box.height >= 2 * fontPx) problems.push(`${text} wraps (${box.height.toFixed(0)} px tall)`);
      if (el.scrollWidth > el.clientWidth) problems.push(`${text} is clipped (${el.scrollWidth} > ${el.clientWidth} px)`);
      if (box.right > window.innerWidth) problems.push(`${text} ends at ${box.right} px`);
      if (!/^0x[0-9a-f]{4}…[0-9a-f]{4}$/i.test(text)) problems.push(`"${text}" is not shortened in the middle`);
      if (!el.title || el.title.length <= text.length) problems.push(`${text} has no full value in its title`);
    }
    return { problems, seen, inReorgs };
  });
  if (r.inReorgs < 2) throw new Error(`${r.inReorgs} hashes visible in reorg notices, want their 2 heads`);
  if (r.problems.length) throw new Error(`${r.problems.length} of ${r.seen} hashes: ${r.problems.slice(0, 4).join('; ')}`);
}

// The cells of the market board and the chain panel: numbers and hashes that
// must show in full.
const CELLS = '.board tbody td, .block > span, .transfer > span';

/** cellsFit: no visible cell of the board or the chain panel is clipped. */
export async function cellsFit(page) {
  const r = await page.evaluate((sel) => {
    const clipped = [];
    let seen = 0;
    for (const el of document.querySelectorAll(sel)) {
      if (el.clientWidth === 0) continue; // hidden at this width
      seen++;
      if (el.scrollWidth > el.clientWidth) clipped.push(`"${el.textContent}" (${el.scrollWidth} > ${el.clientWidth} px)`);
    }
    return { clipped, seen };
  }, CELLS);
  if (r.seen === 0) throw new Error('no board or chain cells to measure');
  if (r.clipped.length) throw new Error(`${r.clipped.length} of ${r.seen} cells clipped at ${page.viewportSize()?.width} px: ${r.clipped.slice(0, 4).join('; ')}`);
}

/** placeholderFits: the empty patterns field shows its whole placeholder. */
export async function placeholderFits(page) {
  const r = await page.$eval('[data-testid="filter-patterns"]', (el) => {
    const cs = getComputedStyle(el);
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = cs.font;
    return {
      value: el.value,
      placeholder: el.placeholder,
      needs: ctx.measureText(el.placeholder).width,
      has: el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight),
      right: el.getBoundingClientRect().right,
      viewport: window.innerWidth,
    };
  });
  if (r.value !== '') throw new Error(`the patterns field holds "${r.value}": its placeholder is not shown`);
  if (!r.placeholder) throw new Error('the patterns field has no placeholder');
  if (r.needs > r.has) throw new Error(`placeholder "${r.placeholder}" needs ${r.needs.toFixed(0)} px, the field shows ${r.has.toFixed(0)} px`);
  if (r.right > r.viewport) throw new Error(`the patterns field ends at ${r.right} px`);
}

/** The data chartFollows needs to see a 1 min window roll, in seconds. */
export const ROLL_MIN_SPAN_S = 64;

// chartState reads the range the chart reports showing and the range of its
// data (Unix seconds, from the host's data attributes).
function chartState(page) {
  return page.$eval('[data-testid="chart"]', (el) => ({
    from: Number(el.dataset.visibleFrom),
    to: Number(el.dataset.visibleTo),
    dataFrom: Number(el.dataset.dataFrom),
    dataTo: Number(el.dataset.dataTo),
  }));
}

/**
 * chartFollows: once the chart (opened early) holds minSpanS seconds of
 * data, it shows them all up to the newest point (the default window is
 * 5 min); then, given ROLL_MIN_SPAN_S of data, with the 1 min button it shows
 * the last minute and moves with the data. Bars are one a second, so edges
 * may differ by a couple of seconds.
 */
export async function chartFollows(page, minSpanS, log) {
  const slack = 3;
  await poll('the chart to report what it shows', 5_000, async () => {
    const s = await chartState(page);
    return Number.isFinite(s.from) && Number.isFinite(s.dataTo);
  });
  await poll(`${minSpanS} s of chart data`, (minSpanS + 90) * 1000, async () => {
    const s = await chartState(page);
    return s.dataTo - s.dataFrom >= minSpanS;
  }, 500);
  const want = (s, windowS) => Math.max(s.dataFrom, s.dataTo - windowS);
  const showsWindow = async (windowS) => {
    const s = await chartState(page);
    return Math.abs(s.from - want(s, windowS)) <= slack && Math.abs(s.to - s.dataTo) <= slack && s;
  };
  const s = await poll('the chart to show its data up to the newest point', 5_000, () => showsWindow(300));
  log(`#   chart shows ${s.to - s.from} s of ${s.dataTo - s.dataFrom} s of data`);
  if (minSpanS < ROLL_MIN_SPAN_S) return;
  await page.click('[data-testid="chart-window-60"]');
  const one = await poll('a 1 min window ending at the newest point', 5_000, () => showsWindow(60));
  await poll('the 1 min window to move with the data', 10_000, async () => {
    const now = await showsWindow(60);
    return now && now.to >= one.to + 2;
  });
  await page.click('[data-testid="chart-window-300"]');
  await poll('the 5 min window back', 5_000, () => showsWindow(300));
}
