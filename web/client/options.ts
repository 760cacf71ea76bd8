// Public option, status and event types of StreamHubClient.

import type { BackoffOptions } from './backoff.js';
import type { FetchLike } from './sse.js';
import type { Encoding, Gap, Hello, NoticeFrame, StreamEvent } from './types.js';

/** The part of the browser WebSocket the client uses (injectable for tests). */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor, such as globalThis.WebSocket. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Connection status as shown to users. */
export type Status = 'connecting' | 'live' | 'reconnecting' | 'closed';

/** How the client reaches the hub: a WebSocket, or the Server-Sent Events fallback. */
export type Transport = 'websocket' | 'sse';

/** Payload of the 'status' event. */
export interface StatusChange {
  status: Status;
  /** Close code that caused reconnecting/closed. */
  code?: number;
  reason?: string;
  /** Reconnect attempt number (0-based) and its delay, when reconnecting. */
  attempt?: number;
  delayMs?: number;
  /** The transport in use (or next attempted): 'sse' once the client fell back from a blocked WebSocket. */
  transport?: Transport;
}

/** Payload of the 'close' event, one per socket. */
export interface CloseInfo {
  code: number;
  reason: string;
  willReconnect: boolean;
}

/** Payload of the 'recovered' event. */
export interface Recovery {
  /** Time from losing the previous connection to being live again, in ms. */
  downtimeMs: number;
  /** Reconnect attempts it took. */
  attempts: number;
}

/** Events of StreamHubClient. */
export type ClientEvents = {
  event: StreamEvent;
  gap: Gap;
  status: StatusChange;
  hello: Hello;
  close: CloseInfo;
  /** Live again after a reconnect; subscriptions have just been resent (with resume positions). */
  recovered: Recovery;
  /** Unsolicited notices of the hub, such as upstream_reconnected (see NoticeFrame). */
  notice: NoticeFrame;
  /** Errors not tied to a pending request (unsolicited error frames, refused subscriptions, decode failures, token refresh failures). */
  error: Error;
};

/** Settings of StreamHubClient; zero or missing fields take the defaults. */
export interface ClientOptions {
  /** WebSocket implementation (default globalThis.WebSocket). */
  WebSocket?: WebSocketConstructor;
  /** fetch implementation for the SSE fallback and its probe (default globalThis.fetch); null disables the fallback. */
  fetch?: FetchLike | null;
  /** Reconnect backoff (default base 250 ms, cap 10 s, full jitter). */
  backoff?: BackoffOptions;
  /** Random source in [0, 1) for the jitter (default Math.random). */
  random?: () => number;
  /** Clock in Unix ms (default Date.now). */
  now?: () => number;
  /** How long a command waits for ok/error (default 10 s). */
  requestTimeoutMs?: number;
  /** How long to wait for hello after the socket opens (default 10 s). */
  helloTimeoutMs?: number;
  /** Refresh the token this long before its exp claim (default 60 s). */
  refreshLeadMs?: number;
  /** A connection live this long resets the backoff (default 5 s). */
  stableMs?: number;
  /** Send last seen (epoch, seq) per subject in subscribe.resume (default true). */
  resume?: boolean;
}

/** Options of connect. */
export interface ConnectOptions {
  /** Browser token sent in `auth` when hello says auth_required. */
  token?: string;
  /** Returns a fresh token: used when none is set, on refresh and after close 4004. */
  tokenProvider?: () => Promise<string>;
  /** Wire encoding (default json). */
  encoding?: Encoding;
  /**
   * 'auto' (default): WebSocket, falling back to SSE when the WebSocket
   * cannot connect but the hub answers HTTP; 'websocket' never falls back;
   * 'sse' uses SSE from the start.
   */
  transport?: 'auto' | Transport;
}
