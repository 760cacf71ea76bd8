// The dashboard: builds the page, logs in, subscribes and routes events.

import {
  fullJitterDelay,
  ProtocolError,
  StreamHubClient,
  type ConnectOptions,
  type Encoding,
  type StreamEvent,
  type Subscription,
} from '../client/index.js';
import { ChainPanel } from './chain.js';
import { ChartPanel } from './chart.js';
import { h } from './dom.js';
import { fmtDuration } from './format.js';
import { DEFAULT_FILTER, FilterBar, specsFor, type FilterState } from './filter.js';
import { JobsPanel } from './jobs.js';
import { HubLatency } from './latency.js';
import { demoToken, exchangeKey, HttpError, KeyForm } from './login.js';
import { MarketBoard } from './market.js';
import { StatusBar } from './statusbar.js';

/** Settings of the dashboard; missing fields take the defaults. */
export interface DashboardOptions {
  /** The client (default: a new StreamHubClient). */
  client?: StreamHubClient;
  /** WebSocket URL (default ws(s)://<page host>/v1/ws). */
  url?: string;
  /** Wire encoding (default json; ?encoding=msgpack in the page URL). */
  encoding?: Encoding;
  /** max_rate of tick subscriptions, per subject (default 4/s). */
  tickRate?: number;
  /** fetch for the token endpoints (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Storage for the filter (default localStorage when available). */
  storage?: Pick<Storage, 'getItem' | 'setItem'>;
}

const FILTER_KEY = 'streamhub.filter';

/** Dashboard owns the page's panels and the client's subscriptions. */
export class Dashboard {
  readonly client: StreamHubClient;
  readonly market: MarketBoard;
  readonly chain: ChainPanel;
  readonly jobs: JobsPanel;
  readonly status: StatusBar;
  private readonly chart: ChartPanel;
  private readonly filter: FilterBar;
  private readonly keyForm: KeyForm;
  private readonly hubLatency = new HubLatency();
  private readonly subs = new Map<string, Subscription>();
  private readonly url: string;
  private readonly encoding: Encoding;
  private readonly tickRate: number;
  private readonly fetchFn: typeof fetch;
  private readonly storage: Pick<Storage, 'getItem' | 'setItem'> | undefined;
  private applied: FilterState;
  private access: 'demo' | 'open' | 'key' | undefined;
  private lastDemoRecovery = 0;
  private frame = 0;
  private timers: ReturnType<typeof setInterval>[] = [];
  private stopped = false;

  constructor(
    root: HTMLElement,
    opts: DashboardOptions = {},
  ) {
    this.client = opts.client ?? new StreamHubClient();
    const loc = globalThis.location;
    this.url = opts.url ?? `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/v1/ws`;
    this.encoding = opts.encoding ?? 'json';
    this.tickRate = opts.tickRate && opts.tickRate > 0 ? opts.tickRate : 4;
    this.fetchFn = opts.fetch ?? ((...a) => globalThis.fetch(...a));
    this.storage = opts.storage ?? safeLocalStorage();

    this.status = new StatusBar();
    this.market = new MarketBoard((row) => {
      this.market.select(row.key);
      void this.chart.open(row).catch((err: unknown) => this.status.notice(`chart: ${String(err)}`));
    });
    this.chart = new ChartPanel(() => this.market.select(undefined));
    this.chain = new ChainPanel();
    this.jobs = new JobsPanel();
    this.applied = this.loadFilter();
    this.filter = new FilterBar(this.applied, (f) => this.applyFilter(f));
    this.keyForm = new KeyForm((key) => this.loginWithKey(key));

    root.replaceChildren(
      h(
        'header',
        { class: 'top' },
        h('h1', {}, 'StreamHub'),
        this.status.el,
      ),
      this.filter.el,
      this.keyForm.el,
      h(
        'main',
        { class: 'grid' },
        h('div', { class: 'col col-main' }, this.chart.el, this.market.el),
        h('div', { class: 'col col-side' }, this.chain.el, this.jobs.el),
      ),
    );
    this.wire();
  }

  /** start logs in and connects; it returns once the first connect attempt is under way. */
  async start(): Promise<void> {
    this.status.setAccess('pending');
    this.applyFilter(this.applied);
    const demo = await this.tryDemoToken();
    if (this.stopped) return;
    if (demo) {
      this.connectDemo(demo);
    } else {
      this.access = 'open';
      this.status.setAccess('open');
      this.connect({});
    }
  }

  private connectDemo(token: string): void {
    this.access = 'demo';
    this.status.setAccess('demo');
    this.connect({
      token,
      tokenProvider: async () => {
        const t = await demoToken(this.fetchFn);
        if (!t) throw new Error('demo mode was turned off');
        return t.token;
      },
    });
  }

  // recoverDemo handles a demo token refused by a restarted hub (for example
  // one with a new signing secret, close 4502): it fetches a fresh demo token
  // and connects again, at most once per 30 s. Other access modes keep the
  // close-code rule (no automatic reconnect).
  private recoverDemo(): boolean {
    const now = Date.now();
    if (this.access !== 'demo' || this.stopped || now - this.lastDemoRecovery < 30_000) return false;
    this.lastDemoRecovery = now;
    void this.tryDemoToken().then((t) => {
      if (!t || this.stopped || this.client.status !== 'closed') return;
      this.connectDemo(t);
      const off = this.client.on('status', (s) => {
        if (s.status === 'live') this.status.notice('Reconnected with a new demo token.', 5000);
        if (s.status === 'live' || s.status === 'closed') off();
      });
    });
    return true;
  }

  /** stop closes the connection and stops the page's timers. */
  stop(): void {
    this.stopped = true;
    this.client.close();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.frame) cancelAnimationFrame(this.frame);
  }

  /** flush renders pending market updates now (also done once per frame). */
  flush(): void {
    this.frame = 0;
    this.market.flush();
  }

  private wire(): void {
    const c = this.client;
    c.on('status', (s) => {
      const detail = s.code !== undefined ? `close ${s.code}${s.reason ? ` ${s.reason}` : ''}` : undefined;
      this.status.setStatus(s.status, detail);
      this.status.setTransport(s.transport);
      if (s.status === 'closed' && s.code === 4502 && this.recoverDemo()) {
        this.status.notice('Demo token refused; getting a new one…');
      } else if (s.status === 'closed' && s.code !== undefined && s.code !== 1000) {
        this.status.notice(`Disconnected: ${detail ?? ''}. Reload the page to reconnect.`, 0);
      }
    });
    c.on('event', (e) => this.route(e));
    c.on('recovered', (r) => this.status.notice(`Reconnected after ${fmtDuration(r.downtimeMs)}.`, 5000));
    c.on('error', (err) => {
      if (err instanceof ProtocolError && err.code === 'auth_required') {
        this.status.setAccess('pending');
        this.keyForm.show();
        return;
      }
      this.status.notice(err.message);
    });
    this.timers.push(
      setInterval(() => this.status.setCounters(c.stats(), this.hubLatency.ms), 500),
      setInterval(() => {
        this.chain.tick();
        this.jobs.sweep();
      }, 1000),
    );
  }

  private route(e: StreamEvent): void {
    this.hubLatency.observe(e);
    switch (e.kind) {
      case 'tick': {
        const row = this.market.update(e);
        if (row) this.chart.push(row);
        this.scheduleFrame();
        break;
      }
      case 'block':
        this.chain.block(e);
        break;
      case 'transfer':
        this.chain.transfer(e);
        break;
      case 'reorg':
        this.chain.reorg(e);
        break;
      case 'job':
        this.jobs.update(e);
        break;
      case 'other':
        break;
    }
  }

  private scheduleFrame(): void {
    if (this.frame || typeof requestAnimationFrame !== 'function') return;
    this.frame = requestAnimationFrame(() => this.flush());
  }

  private connect(opts: Omit<ConnectOptions, 'encoding'>): void {
    this.client.connect(this.url, { ...opts, encoding: this.encoding }).catch(() => {
      // Reported through the 'status' and 'error' events.
    });
  }

  // tryDemoToken asks for a demo token until the hub gives a definite answer:
  // a token, or 404 (no demo mode). Network errors (hub not up yet) retry
  // with the client's backoff; other HTTP errors give up on demo access.
  private async tryDemoToken(): Promise<string | null> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const t = await demoToken(this.fetchFn);
        return t ? t.token : null;
      } catch (err) {
        if (err instanceof HttpError) {
          this.status.notice(`Demo access unavailable (HTTP ${err.status}).`);
          return null;
        }
        this.status.setStatus('reconnecting', 'waiting for the hub');
        await new Promise((r) => setTimeout(r, fullJitterDelay(attempt) + 100));
      }
    }
    return null;
  }

  private async loginWithKey(key: string): Promise<void> {
    const first = await exchangeKey(key, this.fetchFn);
    this.access = 'key';
    this.status.setAccess('key');
    this.client.close();
    this.connect({
      token: first.token,
      tokenProvider: async () => (await exchangeKey(key, this.fetchFn)).token,
    });
  }

  private applyFilter(f: FilterState): void {
    const prev = this.applied;
    const specs = specsFor(f, this.tickRate);
    const want = new Set(specs.map((s) => s.key));
    // Subscribe the new set first, then drop the old: patterns kept by both
    // are never unsubscribed on the hub.
    for (const s of specs) {
      if (this.subs.has(s.key)) continue;
      try {
        const sub = this.client.subscribe(s.subjects, {
          ...(s.maxRate ? { maxRate: s.maxRate } : {}),
          ...(s.snapshot ? { snapshot: true } : {}),
        });
        this.subs.set(s.key, sub);
        sub.ready.catch((err: unknown) => {
          this.subs.delete(s.key);
          this.status.notice(`${s.subjects.join(' ')}: ${err instanceof Error ? err.message : String(err)}`);
        });
      } catch (err) {
        this.status.notice(err instanceof Error ? err.message : String(err));
      }
    }
    for (const [key, sub] of this.subs) {
      if (want.has(key)) continue;
      this.subs.delete(key);
      sub.unsubscribe().catch((err: unknown) => this.status.notice(String(err)));
    }
    if (prev.ticks && !f.ticks) {
      this.market.clear();
      this.chart.close();
    }
    if (prev.chain && !f.chain) this.chain.clear();
    if (prev.jobs && !f.jobs) this.jobs.clear();
    this.applied = f;
    try {
      this.storage?.setItem(FILTER_KEY, JSON.stringify(f));
    } catch {
      // Storage full or denied: the filter is then per page load.
    }
  }

  private loadFilter(): FilterState {
    try {
      const raw = this.storage?.getItem(FILTER_KEY);
      if (!raw) return { ...DEFAULT_FILTER };
      const v = JSON.parse(raw) as Partial<FilterState>;
      return {
        ticks: v.ticks !== false,
        chain: v.chain !== false,
        jobs: v.jobs !== false,
        patterns: typeof v.patterns === 'string' ? v.patterns : '',
      };
    } catch {
      return { ...DEFAULT_FILTER };
    }
  }
}

function safeLocalStorage(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}
