#!/usr/bin/env node
// End-to-end test of the dashboard in a real headless Chromium (system
// Chromium, driven by playwright-core; no browser download).
//
// Environment:
//   HUB_URL      base URL of a hub with demo feeds, e.g. http://127.0.0.1:18080 (required)
//   HUB_CMD      optional shell command line that starts that hub; when set, this
//                script starts it, waits for /healthz, and also runs the restart
//                check (SIGTERM to the hub's process group, then start it again)
//   CHROMIUM     Chromium executable (default /usr/bin/chromium)
//   SCREENSHOT   where to save the 1280×800 screenshot (default ../docs/dashboard.png
//                relative to web/)
//   SCREENSHOT_MOBILE  optional path for a 390×844 screenshot
//   HUB_LOG      file for the hub's output when HUB_CMD is set (default: a temp file)
//   E2E_TIMEOUT_MS  hard limit for the whole run (default 300000)
//   CHART_MIN_SPAN_S  seconds of data the large chart must hold before its
//                window is checked and the screenshot taken (default 65, so
//                that a 1 min window can roll; more for a fuller screenshot)
//
// Prints one line per check and a closing "N passed, N failed" line; exits 1
// on any failure.

import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { cellsFit, chartFollows, phoneHashes, placeholderFits, reorgLayout, ROLL_MIN_SPAN_S, setViewport } from './layout.mjs';
import { poll, sleep } from './poll.mjs';

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const HUB_URL = (env.HUB_URL ?? '').replace(/\/+$/, '');
const HUB_CMD = env.HUB_CMD ?? '';
const CHROMIUM = env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = resolve(webDir, env.SCREENSHOT || '../docs/dashboard.png');
const SCREENSHOT_MOBILE = env.SCREENSHOT_MOBILE ? resolve(webDir, env.SCREENSHOT_MOBILE) : '';
const HUB_LOG = env.HUB_LOG || join(tmpdir(), `streamhub-e2e-hub-${process.pid}.log`);
const TOTAL_TIMEOUT_MS = Number(env.E2E_TIMEOUT_MS) || 300_000;
const CHART_MIN_SPAN_S = Number(env.CHART_MIN_SPAN_S) || 65;

const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Console messages Chromium itself logs while the hub is down on purpose.
const EXPECTED_WHILE_DOWN = [/WebSocket connection to .* failed/i, /Failed to load resource/i, /ERR_CONNECTION_REFUSED/i];

let passed = 0;
let failed = 0;
let hub; // the child process started from HUB_CMD, if any
let browser;
const hubTail = [];

function log(line) {
  process.stdout.write(`${line}\n`);
}

/** check runs one named check; a failure is recorded and returned as false. */
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    log(`ok   - ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    return true;
  } catch (err) {
    failed++;
    log(`FAIL - ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s): ${err instanceof Error ? err.message : String(err)}`);
    return false;
  }
}

function skip(name, why) {
  log(`skip - ${name}: ${why}`);
}

// ---- the hub -----------------------------------------------------------

function startHub() {
  const out = createWriteStream(HUB_LOG, { flags: 'a' });
  const child = spawn('sh', ['-c', HUB_CMD], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk) => {
    if (!out.writableEnded) out.write(chunk);
    for (const line of String(chunk).split('\n')) {
      if (!line) continue;
      hubTail.push(line);
      if (hubTail.length > 40) hubTail.shift();
    }
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  // 'close' comes after the child's stdout and stderr are drained; 'exit'
  // may come before their last chunks.
  child.on('close', () => out.end());
  return child;
}

/** stopHub sends SIGTERM to the hub's process group, then SIGKILL after 20 s. */
async function stopHub(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const group = -child.pid;
  try {
    process.kill(group, 'SIGTERM');
  } catch {
    return;
  }
  const done = await Promise.race([child.exited, sleep(20_000).then(() => null)]);
  if (!done) {
    log('hub did not exit 20 s after SIGTERM; sending SIGKILL');
    try {
      process.kill(group, 'SIGKILL');
    } catch {
      // already gone
    }
    await Promise.race([child.exited, sleep(5_000)]);
  }
}

async function healthy() {
  const res = await fetch(`${HUB_URL}/healthz`, { signal: AbortSignal.timeout(2000) });
  return res.ok;
}

async function waitHealthy(timeoutMs) {
  await poll(`${HUB_URL}/healthz`, timeoutMs, async () => {
    if (hub && hub.exitCode !== null) throw new Error(`hub exited with code ${hub.exitCode}`);
    return healthy();
  }, 300);
}

// ---- the page ----------------------------------------------------------

const STATUS = '[data-testid="status"]';
const TICK_ROWS = '[data-testid^="tick-row-"]';

async function statusText(page) {
  return (await page.textContent(STATUS, { timeout: 2000 }))?.trim();
}

async function waitStatus(page, want, timeoutMs) {
  await poll(`status "${want}"`, timeoutMs, async () => (await statusText(page)) === want, 100);
}

async function lastPrices(page) {
  return page.$$eval(TICK_ROWS, (rows) =>
    Object.fromEntries(rows.map((r) => [r.getAttribute('data-testid'), r.querySelector('[data-testid="last"]')?.textContent ?? ''])),
  );
}

/** pricesChange waits for rows, then for at least one last price to change within windowMs. */
async function pricesChange(page, windowMs, rowsTimeoutMs) {
  await poll('market rows with prices', rowsTimeoutMs, async () => {
    const p = await lastPrices(page);
    return Object.values(p).some((v) => v !== '');
  });
  const before = await lastPrices(page);
  const changed = await poll(`a price change within ${windowMs} ms`, windowMs, async () => {
    const now = await lastPrices(page);
    return Object.keys(now).find((k) => before[k] !== undefined && now[k] !== before[k]);
  }, 100);
  return { rows: Object.keys(before).length, changed };
}

async function main() {
  if (!HUB_URL) {
    failed++;
    log('FAIL - configuration: HUB_URL is not set (e.g. HUB_URL=http://127.0.0.1:18080)');
    return;
  }
  log(`# hub ${HUB_URL}${HUB_CMD ? ` (started by this script; log ${HUB_LOG})` : ''}, chromium ${CHROMIUM}`);

  if (HUB_CMD) {
    hub = startHub();
    if (!(await check('hub starts and /healthz answers', () => waitHealthy(120_000)))) return;
  } else if (!(await check('hub /healthz answers', () => waitHealthy(10_000)))) {
    return;
  }

  browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, headless: true, timeout: 60_000 });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));

  const loaded = await check('dashboard loads and goes live', async () => {
    const res = await page.goto(`${HUB_URL}/`, { waitUntil: 'load', timeout: 30_000 });
    if (!res || res.status() !== 200) throw new Error(`GET / answered ${res?.status()}`);
    await page.waitForSelector(STATUS, { timeout: 10_000 });
    await waitStatus(page, 'live', 20_000);
  });
  if (!loaded) {
    log(`# page status: ${await statusText(page).catch(() => '?')}; console: ${JSON.stringify(consoleErrors)}`);
    return;
  }

  await check('prices change within 5 s', async () => {
    const r = await pricesChange(page, 5_000, 20_000);
    log(`#   ${r.rows} market rows, ${r.changed} changed`);
  });

  // Opened early on purpose: the chart must not keep the few seconds of data
  // it opened with (checked below, once the hub has run a while).
  await check('clicking a market row opens the large chart', async () => {
    await page.click(`${TICK_ROWS} >> nth=0`);
    await page.waitForSelector('[data-testid="chart"] canvas', { timeout: 10_000 });
  });

  await check('blocks appear in the chain panel', async () => {
    await page.waitForSelector('[data-testid="block-row"]', { timeout: 30_000 });
  });

  await check('job progress advances and a job reaches done or failed within 60 s', async () => {
    await page.waitForSelector('[data-testid="job-row"]', { timeout: 20_000 });
    const el = await page.waitForSelector('[data-testid="job-row"][data-state="done"], [data-testid="job-row"][data-state="failed"]', {
      timeout: 60_000,
    });
    log(`#   ${await el.getAttribute('data-job')} is ${await el.getAttribute('data-state')}`);
  });

  await check('status bar shows latency and events/s', async () => {
    await poll('counters', 5_000, async () => {
      const lat = await page.textContent('[data-testid="counter-latency"]');
      const eps = await page.textContent('[data-testid="counter-eps"]');
      return /\d+ ms/.test(lat ?? '') && /[1-9]/.test(eps ?? '');
    });
    // Time in the hub, measured on events no max_rate holds back (chain, jobs).
    await poll('the "in hub" counter', 10_000, async () => /^(<1|[\d,]+) ms$/.test((await page.textContent('[data-testid="counter-hub-latency"]')) ?? ''));
    const label = await page.$eval('[data-testid="counter-hub-latency"]', (el) => el.previousElementSibling?.textContent);
    if (label !== 'in hub') throw new Error(`hub latency labelled ${JSON.stringify(label)}`);
  });

  await check('1440×900: reorg notices never push the Jobs panel down, and show their age', () => reorgLayout(page, log));

  await check('no price, amount or hash cut off at 1440 and 1280 px', async () => {
    await setViewport(page, 1440, 900);
    await cellsFit(page);
    await setViewport(page, 1280, 800);
    await cellsFit(page);
  });

  await check('390×844: layout fits, nothing cut off, hashes on one line shortened in the middle, placeholder in full', async () => {
    await setViewport(page, 390, 844);
    try {
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      if (width > 390) throw new Error(`page is ${width} px wide at a 390 px viewport`);
      await phoneHashes(page);
      await cellsFit(page);
      await placeholderFits(page);
      if (SCREENSHOT_MOBILE) {
        mkdirSync(dirname(SCREENSHOT_MOBILE), { recursive: true });
        await page.screenshot({ path: SCREENSHOT_MOBILE });
      }
    } finally {
      await setViewport(page, 1280, 800);
    }
  });

  await check(`large chart follows the data: ${CHART_MIN_SPAN_S} s of it shown${CHART_MIN_SPAN_S >= ROLL_MIN_SPAN_S ? ', then a 1 min window rolls' : ''}`, () => chartFollows(page, CHART_MIN_SPAN_S, log));

  await check(`screenshot saved to ${SCREENSHOT}`, async () => {
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: SCREENSHOT });
  });

  await check('no console errors', async () => {
    if (consoleErrors.length > 0) throw new Error(consoleErrors.slice(0, 5).join(' | '));
  });

  await check('msgpack encoding: the dashboard receives ticks', async () => {
    const p2 = await context.newPage();
    const errs = [];
    p2.on('pageerror', (e) => errs.push(e.message));
    p2.on('console', (m) => m.type() === 'error' && errs.push(m.text()));
    try {
      await p2.goto(`${HUB_URL}/?encoding=msgpack`, { waitUntil: 'load', timeout: 30_000 });
      await waitStatus(p2, 'live', 20_000);
      await pricesChange(p2, 5_000, 20_000);
      if (errs.length) throw new Error(errs.slice(0, 3).join(' | '));
    } finally {
      await p2.close();
    }
  });

  await check('WebSocket blocked: the dashboard falls back to SSE, says so, and receives ticks and blocks', async () => {
    const blocked = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    // As behind a proxy that refuses upgrades: every WebSocket fails before it opens.
    await blocked.addInitScript(() => {
      window.WebSocket = class BlockedWebSocket {
        constructor(url) {
          this.url = url;
          this.readyState = 0;
          this.protocol = '';
          this.binaryType = 'blob';
          this.onopen = this.onmessage = this.onclose = this.onerror = null;
          setTimeout(() => {
            this.readyState = 3;
            this.onerror?.({});
            this.onclose?.({ code: 1006, reason: '' });
          }, 20);
        }
        send() {
          throw new Error('not open');
        }
        close() {
          this.readyState = 3;
        }
      };
    });
    const p3 = await blocked.newPage();
    const errs = [];
    let sseRequests = 0;
    p3.on('pageerror', (e) => errs.push(e.message));
    p3.on('console', (m) => m.type() === 'error' && errs.push(m.text()));
    p3.on('request', (r) => {
      if (new URL(r.url()).pathname === '/v1/sse') sseRequests++;
    });
    try {
      await p3.goto(`${HUB_URL}/`, { waitUntil: 'load', timeout: 30_000 });
      await waitStatus(p3, 'live', 30_000);
      if (!(await p3.isVisible('[data-testid="transport"]'))) throw new Error('the status bar does not say SSE');
      await pricesChange(p3, 10_000, 20_000);
      await p3.waitForSelector('[data-testid="block-row"]', { timeout: 30_000 });
      if (sseRequests === 0) throw new Error('no request to /v1/sse');
      log(`#   ${sseRequests} SSE streams opened`);
      if (errs.length) throw new Error(errs.slice(0, 3).join(' | '));
    } finally {
      await blocked.close();
    }
  });

  if (!HUB_CMD) {
    skip('hub restart: reconnecting, then live again without reload', 'HUB_CMD is not set');
    return;
  }

  await check('hub restart: reconnecting, then live again, data flows without reload', async () => {
    await page.evaluate(() => {
      window.__e2eMarker = 'before-restart';
    });
    const errorsBefore = consoleErrors.length;
    await stopHub(hub);
    await waitStatus(page, 'reconnecting', 15_000);
    hub = startHub();
    await waitHealthy(120_000);
    await waitStatus(page, 'live', 30_000);
    const marker = await page.evaluate(() => window.__e2eMarker);
    if (marker !== 'before-restart') throw new Error('the page was reloaded');
    await pricesChange(page, 10_000, 20_000);
    const unexpected = consoleErrors.slice(errorsBefore).filter((t) => !EXPECTED_WHILE_DOWN.some((re) => re.test(t)));
    if (unexpected.length) throw new Error(`console errors after restart: ${unexpected.slice(0, 5).join(' | ')}`);
    const reconnects = await page.textContent('[data-testid="counter-reconnects"]');
    log(`#   reconnects shown: ${reconnects}`);
  });
}

const watchdog = setTimeout(() => {
  log(`FAIL - whole run: over E2E_TIMEOUT_MS=${TOTAL_TIMEOUT_MS}`);
  failed++;
  void finish();
}, TOTAL_TIMEOUT_MS);

let finishing = false;
async function finish() {
  if (finishing) return;
  finishing = true;
  clearTimeout(watchdog);
  await browser?.close().catch(() => {});
  await stopHub(hub);
  if (failed > 0 && hubTail.length > 0) {
    log('# last lines of the hub log:');
    for (const l of hubTail) log(`#   ${l}`);
  }
  log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
}

process.on('SIGINT', () => {
  failed++;
  void finish();
});

main()
  .catch((err) => {
    failed++;
    log(`FAIL - unexpected error: ${err instanceof Error ? err.stack : String(err)}`);
  })
  .finally(finish);
