// StreamHubClient: one logical connection to a hub that survives reconnects.

import { fullJitterDelay } from './backoff.js';
import { needsNewToken, shouldReconnect } from './closecodes.js';
import { decodeFrame, encodeCommand, type FrameData } from './codec.js';
import { Counters, type CounterSnapshot } from './counters.js';
import { Emitter } from './emitter.js';
import { toStreamEvent } from './events.js';
import { ProtocolError } from './errors.js';
import type {
  ClientEvents,
  ClientOptions,
  ConnectOptions,
  Recovery,
  Status,
  StatusChange,
  Transport,
  WebSocketConstructor,
  WebSocketLike,
} from './options.js';
import { Requests } from './requests.js';
import { healthURL, SseStream, sseURL, type FetchLike } from './sse.js';
import {
  Entry,
  Registry,
  subscribeCommand,
  validateSubscribe,
  type SubscribeOptions,
  type Subscription,
} from './subscriptions.js';
import { TokenSource } from './token.js';
import { SUBPROTOCOLS, type BatchFrame, type ClientCommand, type Encoding, type Hello, type ServerFrame } from './types.js';

const DEFAULT_MAX_FRAME_BYTES = 4096;

/**
 * StreamHubClient keeps one logical connection to a StreamHub hub: it
 * authenticates, resubscribes everything after each reconnect (offering the
 * last seen positions as `resume`), answers heartbeats, and reconnects with
 * full-jitter backoff according to the close-code rule.
 *
 * When a WebSocket cannot connect while the hub answers plain HTTP (a proxy
 * that blocks upgrades), it falls back to Server-Sent Events by itself: one
 * fetch-based stream per subscription, the token in the Authorization
 * header, resumed with Last-Event-ID. The fallback lasts until close();
 * `transport` and each 'status' event say which transport is in use. Over
 * SSE, ping() is not available (there is no way back to the hub).
 *
 * It is used from one JavaScript thread; listeners run synchronously inside
 * the WebSocket's message handler and should be quick.
 */
/** Answers that may pass by themselves: the subscribe is asked again. */
const TRANSIENT_CODES = new Set(['internal', 'rate_limited']);
/** How often a subscribe refused transiently is sent on one connection. */
const TRANSIENT_TRIES = 6;

export class StreamHubClient {
  private readonly emitter: Emitter<ClientEvents>;
  private readonly counters: Counters;
  private readonly registry = new Registry();
  private readonly requests = new Requests();
  private readonly WS: WebSocketConstructor;
  private readonly fetchImpl: FetchLike | undefined;
  private readonly now: () => number;
  private readonly opts: ClientOptions;

  private urls: readonly string[] = [];
  // The hub of the current (or last) connection attempt.
  private url = '';
  // Index into urls of the hub the next socket goes to: each new socket
  // goes to the hub after the previous one's, so a hub that went away is
  // not the first one tried again.
  private nextUrl = 0;
  private conn: ConnectOptions = {};
  private tokens = new TokenSource(undefined, undefined, Date.now);
  private ws: WebSocketLike | undefined;
  private encoding: Encoding = 'json';
  private hello: Hello | undefined;
  private statusValue: Status = 'closed';
  private nextId = 0;
  private attempt = 0;
  private liveSince: number | undefined;
  // When the last live connection was lost, and the attempts since; unset while live.
  private downSince: number | undefined;
  private downAttempts = 0;
  private userClosed = false;
  private everLive = false;
  private connectWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  // The SSE fallback: the transport in use, one stream per subscription
  // while on SSE, and the last event id of each (its resume position).
  private mode: Transport = 'websocket';
  private readonly streams = new Map<Entry, SseStream>();
  private readonly lastIds = new Map<Entry, string>();
  private sseToken: string | undefined;
  private sseGen = 0;

  constructor(opts: ClientOptions = {}) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    const ws = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!ws) throw new Error('streamhub: no WebSocket implementation; pass ClientOptions.WebSocket');
    this.WS = ws;
    this.fetchImpl =
      opts.fetch === null ? undefined : (opts.fetch ?? (globalThis.fetch ? (globalThis.fetch.bind(globalThis) as unknown as FetchLike) : undefined));
    this.counters = new Counters(this.now);
    this.emitter = new Emitter<ClientEvents>((err) => {
      // A throwing listener must not break the client; report it once, async.
      setTimeout(() => {
        throw err;
      }, 0);
    });
  }

  /** status is the current connection status. */
  get status(): Status {
    return this.statusValue;
  }

  /** transport is how the client reaches the hub: 'websocket', or 'sse' after the fallback. */
  get transport(): Transport {
    return this.mode;
  }

  /** serverHello is the hello of the current connection, if any. */
  get serverHello(): Hello | undefined {
    return this.hello;
  }

  /** on registers a listener; the returned function removes it. */
  on<K extends keyof ClientEvents>(name: K, fn: (payload: ClientEvents[K]) => void): () => void {
    return this.emitter.on(name, fn);
  }

  /** stats returns the counters (events/s, gaps, conflated, latencies). */
  stats(): CounterSnapshot {
    return this.counters.snapshot();
  }

  /**
   * connect opens the connection. It resolves when the connection is first
   * live (hello received, authenticated if required) and rejects when the
   * client is closed before that (a do-not-reconnect close code, close(), or
   * auth required with no token). Reconnects after that are automatic.
   *
   * url may list several hubs of one deployment: the first socket goes to
   * the first, and every reconnect to the next one in turn, so a hub that
   * went away is tried last. Subscriptions resume on any of them.
   */
  connect(url: string | readonly string[], opts: ConnectOptions = {}): Promise<void> {
    if (this.statusValue !== 'closed') {
      return Promise.reject(new Error('streamhub: connect called while not closed'));
    }
    const urls = typeof url === 'string' ? [url] : [...url];
    if (urls.length === 0) return Promise.reject(new Error('streamhub: connect needs at least one URL'));
    this.urls = urls;
    this.nextUrl = 0;
    this.conn = opts;
    this.tokens = new TokenSource(opts.token, opts.tokenProvider, this.now);
    this.userClosed = false;
    this.everLive = false;
    this.attempt = 0;
    this.mode = opts.transport === 'sse' ? 'sse' : 'websocket';
    this.lastIds.clear();
    const p = new Promise<void>((resolve, reject) => {
      this.connectWaiter = { resolve, reject };
    });
    this.setStatus({ status: 'connecting' });
    this.open();
    return p;
  }

  /** close closes the connection for good (code 1000) and stops reconnecting. Subscriptions stay registered for a later connect. */
  close(): void {
    this.userClosed = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.ws) {
      this.abort(1000, 'client closed');
    } else if (this.streams.size > 0) {
      this.abortStreams();
      this.onSocketClosed(1000, 'client closed');
    } else if (this.statusValue !== 'closed') {
      this.finish(1000, 'client closed');
    }
  }

  /**
   * subscribe registers patterns with options; it is sent now when live and
   * again after every reconnect. Throws a ProtocolError for input the hub
   * would refuse anyway (subject count or shape, maxRate with another policy).
   */
  subscribe(subjects: readonly string[], opts: SubscribeOptions = {}): Subscription {
    validateSubscribe(subjects, opts);
    const entry = new Entry([...subjects], { ...opts }, (e) => this.unsubscribeEntry(e));
    this.registry.add(entry);
    if (this.statusValue === 'live') {
      if (this.mode === 'sse') this.openStream(entry);
      else this.sendSubscribe(entry);
    }
    return entry;
  }

  /** ping sends a client ping and resolves on the hub's pong. */
  ping(): Promise<void> {
    return this.request({ op: 'ping' });
  }

  // ---- sockets ---------------------------------------------------------

  private open(): void {
    if (this.mode === 'sse') {
      this.openSse();
      return;
    }
    const encoding = this.conn.encoding ?? 'json';
    let ws: WebSocketLike;
    try {
      ws = new this.WS(this.pickUrl(), [SUBPROTOCOLS[encoding]]);
    } catch (err) {
      this.emitter.emit('error', err instanceof Error ? err : new Error(String(err)));
      this.onSocketClosed(1006, 'constructor failed');
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.hello = undefined;
    let opened = false;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.armDeadline(this.opts.helloTimeoutMs ?? 10_000, 4002, 'no hello');
    };
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.onData(ev.data as FrameData);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      if (!opened && (this.conn.transport ?? 'auto') === 'auto' && this.fetchImpl) this.probeFallback(ws, ev.code, ev.reason);
      else this.onSocketClosed(ev.code, ev.reason);
    };
    ws.onerror = () => {
      // A close event always follows; it carries the code.
    };
  }

  /** pickUrl returns the hub for the next connection attempt and moves on to the one after. */
  private pickUrl(): string {
    this.url = this.urls[this.nextUrl % this.urls.length] as string;
    this.nextUrl = (this.nextUrl + 1) % this.urls.length;
    return this.url;
  }

  /**
   * probeFallback handles a WebSocket that never opened: when the hub still
   * answers plain HTTP (/healthz), something between blocks WebSockets, and
   * the reconnect goes over SSE; when it does not, the hub is down, and the
   * reconnect tries the WebSocket again.
   */
  private probeFallback(ws: WebSocketLike, code: number, reason: string): void {
    this.detach(ws);
    this.ws = undefined;
    this.clearConnTimers();
    const fetchImpl = this.fetchImpl!;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 5000);
    fetchImpl(healthURL(this.url), { headers: {}, signal: ctl.signal })
      .then((res) => res.ok)
      .catch(() => false)
      .then((hubUp) => {
        clearTimeout(timer);
        if (this.userClosed || this.statusValue === 'closed') return;
        if (hubUp) {
          this.mode = 'sse';
          // SSE goes first to the hub that answered.
          this.nextUrl = Math.max(0, this.urls.indexOf(this.url));
        }
        this.onSocketClosed(code, hubUp ? `${reason || 'WebSocket blocked'}; falling back to SSE` : reason);
      });
  }

  // ---- SSE ---------------------------------------------------------------

  private openSse(): void {
    this.pickUrl();
    this.hello = undefined;
    const gen = ++this.sseGen;
    this.tokens
      .current()
      .then((token) => {
        if (gen !== this.sseGen || this.userClosed) return;
        this.sseToken = token;
        if (this.registry.all().length === 0) {
          this.goLive();
          return;
        }
        this.armDeadline(this.opts.helloTimeoutMs ?? 10_000, 4002, 'no hello');
        for (const e of this.registry.all()) this.openStream(e);
      })
      .catch((err: unknown) => {
        if (gen !== this.sseGen || this.userClosed) return;
        this.emitter.emit('error', asError(err, 'token provider failed'));
        this.onSocketClosed(4005, 'token provider failed');
      });
  }

  /** openStream opens the SSE stream of one subscription, resuming from its last event id. */
  private openStream(e: Entry): void {
    const fetchImpl = this.fetchImpl;
    if (!fetchImpl) return;
    const headers: Record<string, string> = {};
    if (this.sseToken) headers['Authorization'] = `Bearer ${this.sseToken}`;
    const last = this.lastIds.get(e);
    if (last !== undefined && this.opts.resume !== false) headers['Last-Event-ID'] = last;
    const stream: SseStream = new SseStream(
      sseURL(this.url, e.subjects, e.options),
      headers,
      fetchImpl,
      {
        frame: (f, id) => {
          if (this.streams.get(e) !== stream) return;
          if (id !== undefined) this.lastIds.set(e, id);
          this.onSseFrame(e, f);
        },
        alive: () => {
          if (this.streams.get(e) === stream && this.hello) this.armWatchdog();
        },
        closed: (code, reason) => {
          if (this.streams.get(e) !== stream) return;
          this.streams.delete(e);
          // The streams are one connection: when one ends, all reconnect.
          this.abortStreams();
          this.onSocketClosed(code, reason);
        },
      },
      this.conn.tokenProvider !== undefined,
    );
    this.streams.set(e, stream);
  }

  private onSseFrame(e: Entry, frame: ServerFrame): void {
    switch (frame.op) {
      case 'hello':
        if (this.hello) return; // every stream says hello; the first makes the connection live
        this.hello = frame;
        this.encoding = 'json';
        this.emitter.emit('hello', frame);
        this.armWatchdog();
        this.goLive();
        break;
      case 'ok':
        e.markReady();
        break;
      case 'batch':
        this.onBatch(frame);
        break;
      case 'error':
        this.onError(frame.code, frame.message, undefined);
        break;
      default:
        break;
    }
  }

  private abortStreams(): void {
    this.sseGen++;
    for (const s of this.streams.values()) s.abort();
    this.streams.clear();
  }

  /** abort drops the current socket at once and handles it as closed with code. */
  private abort(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws) {
      if (this.mode === 'sse' && (this.streams.size > 0 || this.hello)) {
        this.abortStreams();
        this.onSocketClosed(code, reason);
      }
      return;
    }
    this.detach(ws);
    try {
      ws.close(code, reason);
    } catch {
      // Closing an already closing socket may throw in some implementations.
    }
    this.onSocketClosed(code, reason);
  }

  private detach(ws: WebSocketLike): void {
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
  }

  private onSocketClosed(code: number, reason: string): void {
    if (this.ws) this.detach(this.ws);
    this.ws = undefined;
    this.hello = undefined;
    this.clearConnTimers();
    this.requests.rejectAll(`connection closed (${code})`);
    const willReconnect = !this.userClosed && shouldReconnect(code);
    this.emitter.emit('close', { code, reason, willReconnect });
    if (willReconnect) {
      this.scheduleReconnect(code, reason);
    } else {
      this.finish(code, reason);
    }
  }

  private finish(code: number, reason: string): void {
    this.liveSince = undefined;
    this.downSince = undefined;
    this.downAttempts = 0;
    this.setStatus({ status: 'closed', code, reason });
    const w = this.connectWaiter;
    this.connectWaiter = undefined;
    if (w && !this.everLive) w.reject(new Error(`streamhub: closed before live (${code} ${reason})`));
  }

  private scheduleReconnect(code: number, reason: string): void {
    const stable = this.opts.stableMs ?? 5000;
    if (this.liveSince !== undefined && this.now() - this.liveSince >= stable) this.attempt = 0;
    if (this.liveSince !== undefined) this.downSince = this.now();
    if (this.downSince !== undefined) this.downAttempts++;
    this.liveSince = undefined;
    const attempt = this.attempt++;
    const delayMs = fullJitterDelay(attempt, this.opts.backoff, this.opts.random);
    this.counters.onReconnect();
    this.setStatus({ status: 'reconnecting', code, reason, attempt, delayMs });
    const wantToken = needsNewToken(code);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.userClosed) return;
      if (wantToken && this.conn.tokenProvider) {
        this.tokens
          .fresh()
          .then(() => {
            if (!this.userClosed) this.open();
          })
          .catch((err: unknown) => {
            if (this.userClosed) return;
            this.emitter.emit('error', asError(err, 'token provider failed'));
            this.scheduleReconnect(code, reason);
          });
      } else {
        this.open();
      }
    }, delayMs);
  }

  // ---- frames ----------------------------------------------------------

  private onData(data: FrameData): void {
    this.armWatchdog();
    let frame: ServerFrame;
    try {
      frame = decodeFrame(data);
    } catch (err) {
      this.emitter.emit('error', asError(err, 'decode failed'));
      return;
    }
    switch (frame.op) {
      case 'hello':
        this.onHello(frame);
        break;
      case 'batch':
        this.onBatch(frame);
        break;
      case 'ok':
        this.requests.resolve(frame.id);
        break;
      case 'pong':
        if (typeof frame.id === 'number') this.requests.resolve(frame.id);
        break;
      case 'error':
        this.onError(frame.code, frame.message, frame.id);
        break;
      case 'ping':
        this.send({ op: 'pong' });
        break;
      case 'notice':
        this.emitter.emit('notice', frame);
        break;
      default:
        // Unknown server ops are ignored for forward compatibility.
        break;
    }
  }

  private onHello(h: Hello): void {
    this.hello = h;
    const proto = this.ws?.protocol ?? '';
    this.encoding = proto === SUBPROTOCOLS.msgpack ? 'msgpack' : proto === SUBPROTOCOLS.json ? 'json' : h.encoding;
    this.armWatchdog();
    this.emitter.emit('hello', h);
    if (!h.auth_required) {
      this.goLive();
      return;
    }
    const ws = this.ws;
    this.tokens
      .current()
      .then((token) => {
        if (this.ws !== ws) return;
        if (token === undefined) {
          this.emitter.emit('error', new ProtocolError('auth_required', 'the hub requires a token and none was given'));
          this.userClosed = true;
          this.abort(1000, 'auth required');
          return;
        }
        this.request({ op: 'auth', token })
          .then(() => {
            if (this.ws === ws) this.goLive();
          })
          .catch((err: unknown) => {
            // A refused auth is normally followed by the hub's 4502 close.
            if (!(err instanceof ProtocolError && err.code === 'disconnected')) {
              this.emitter.emit('error', asError(err, 'auth failed'));
            }
          });
      })
      .catch((err: unknown) => {
        if (this.ws !== ws) return;
        this.emitter.emit('error', asError(err, 'token provider failed'));
        this.abort(4005, 'token provider failed');
      });
  }

  private goLive(): void {
    this.liveSince = this.now();
    this.everLive = true;
    this.setStatus({ status: 'live' });
    const w = this.connectWaiter;
    this.connectWaiter = undefined;
    w?.resolve();
    if (this.hello?.auth_required) this.scheduleRefresh();
    if (this.mode === 'websocket') for (const e of this.registry.all()) this.sendSubscribe(e);
    if (this.downSince !== undefined) {
      const r: Recovery = { downtimeMs: this.now() - this.downSince, attempts: this.downAttempts };
      this.downSince = undefined;
      this.downAttempts = 0;
      this.emitter.emit('recovered', r);
    }
  }

  private onBatch(b: BatchFrame): void {
    const received = this.now();
    for (const g of b.gaps ?? []) {
      this.counters.onGap(g);
      this.emitter.emit('gap', g);
    }
    for (const w of b.events ?? []) {
      const ev = toStreamEvent(w, b.sent, received);
      this.counters.onEvent(ev);
      this.emitter.emit('event', ev);
      this.registry.dispatch(ev);
    }
  }

  private onError(code: string, message: string, id: number | undefined): void {
    const err = new ProtocolError(code, message, id);
    if (id !== undefined && this.requests.reject(id, err)) return;
    this.emitter.emit('error', err);
  }

  // ---- commands --------------------------------------------------------

  /** request sends a command with a fresh id and settles on its ok/error. */
  private request(cmd: DistributiveOmit<Exclude<ClientCommand, { op: 'pong' }>, 'id'>): Promise<void> {
    const id = ++this.nextId;
    return this.requestWithId(id, { ...cmd, id } as ClientCommand);
  }

  private requestWithId(id: number, cmd: ClientCommand): Promise<void> {
    if (!this.ws || !this.hello) {
      return Promise.reject(new ProtocolError('disconnected', 'not connected', id));
    }
    const answer = this.requests.wait(id, cmd.op, this.opts.requestTimeoutMs ?? 10_000);
    this.send(cmd);
    return answer;
  }

  private send(cmd: ClientCommand): void {
    const ws = this.ws;
    if (!ws) return;
    try {
      ws.send(encodeCommand(cmd, this.encoding));
    } catch (err) {
      this.emitter.emit('error', asError(err, 'send failed'));
    }
  }

  private sendSubscribe(e: Entry, resume = true, tries = 0): void {
    const id = ++this.nextId;
    const ws = this.ws;
    const positions = this.opts.resume === false || !resume ? [] : this.counters.recentPositions();
    const max = this.hello?.limits?.max_frame_bytes || DEFAULT_MAX_FRAME_BYTES;
    const cmd = subscribeCommand(id, e, positions, max);
    if (!resume) cmd.snapshot = true;
    this.requestWithId(id, cmd).then(
      () => e.markReady(),
      (err: ProtocolError) => {
        if (err.code === 'disconnected' || err.code === 'timeout') return; // resent after reconnect
        if (err.code === 'insufficient_state' && resume) {
          // What was missed is no longer stored: start again from a snapshot.
          this.sendSubscribe(e, false);
          return;
        }
        if (TRANSIENT_CODES.has(err.code)) {
          // The hub could not serve it just now (its history read failed):
          // ask again, never giving the subscription up nor trading a
          // resume for a snapshot; after a few tries move to another hub.
          if (this.ws !== ws) return; // resent on the next connection
          if (tries + 1 >= TRANSIENT_TRIES) {
            this.abort(1011, 'hub keeps failing a subscribe');
            return;
          }
          setTimeout(() => {
            if (this.ws === ws && this.statusValue === 'live') this.sendSubscribe(e, resume, tries + 1);
          }, 100 * 2 ** tries);
          return;
        }
        this.registry.remove(e);
        e.fail(err);
        this.emitter.emit('error', err);
      },
    );
  }

  private async unsubscribeEntry(e: Entry): Promise<void> {
    const unused = this.registry.remove(e);
    const stream = this.streams.get(e);
    this.lastIds.delete(e);
    if (stream) {
      this.streams.delete(e);
      stream.abort();
      return;
    }
    if (unused.length === 0 || this.statusValue !== 'live') return;
    try {
      await this.request({ op: 'unsubscribe', subjects: unused });
    } catch (err) {
      if (err instanceof ProtocolError && (err.code === 'not_subscribed' || err.code === 'disconnected')) return;
      throw err;
    }
  }

  // ---- tokens ----------------------------------------------------------

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    const delay = this.tokens.refreshIn(this.opts.refreshLeadMs ?? 60_000);
    if (delay === undefined) return;
    const ws = this.ws;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refresh(ws);
    }, delay);
  }

  private async refresh(ws: WebSocketLike | undefined): Promise<void> {
    if (this.ws !== ws) return;
    try {
      const token = await this.tokens.fresh();
      if (this.ws !== ws || token === undefined) return;
      await this.request({ op: 'refresh', token });
      if (this.ws === ws) this.scheduleRefresh();
    } catch (err) {
      // The hub closes with 4004 at expiry; the reconnect fetches a new token.
      if (this.ws === ws) this.emitter.emit('error', asError(err, 'token refresh failed'));
    }
  }

  // ---- timers and status ----------------------------------------------

  // One deadline per socket: first the wait for hello, then the heartbeat
  // watchdog (2 × heartbeat_ms without any frame closes with 4003).
  private armWatchdog(): void {
    const hb = this.hello?.heartbeat_ms;
    if (hb && hb > 0) this.armDeadline(2 * hb, 4003, 'heartbeat timeout');
  }

  private armDeadline(ms: number, code: number, reason: string): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => this.abort(code, reason), ms);
  }

  private clearConnTimers(): void {
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.refreshTimer);
    this.deadlineTimer = undefined;
    this.refreshTimer = undefined;
  }

  private setStatus(s: StatusChange): void {
    const changed = s.status !== this.statusValue;
    this.statusValue = s.status;
    if (changed || s.status === 'reconnecting') this.emitter.emit('status', { ...s, transport: this.mode });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function asError(err: unknown, what: string): Error {
  if (err instanceof Error) return err;
  return new Error(`streamhub: ${what}: ${String(err)}`);
}
