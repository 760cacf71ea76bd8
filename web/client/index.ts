// Package entry of the StreamHub TypeScript client (ES module).
//
//   import { StreamHubClient } from '@streamhub/web/client';
//   const c = new StreamHubClient();
//   c.on('event', (e) => { if (e.kind === 'tick') console.log(e.data.last); });
//   c.subscribe(['ticks.>'], { maxRate: 4 });
//   await c.connect('wss://hub.example/v1/ws', { tokenProvider: fetchToken });

export { StreamHubClient } from './client.js';
export type {
  ClientEvents,
  ClientOptions,
  CloseInfo,
  ConnectOptions,
  Recovery,
  Status,
  StatusChange,
  Transport,
  WebSocketConstructor,
  WebSocketLike,
} from './options.js';
export type { Subscription, SubscribeOptions } from './subscriptions.js';
export { ProtocolError, type ErrorCode } from './errors.js';
export { CloseCode, shouldReconnect, needsNewToken } from './closecodes.js';
export { backoffCeiling, fullJitterDelay, type BackoffOptions } from './backoff.js';
export { matchSubject, kindOf } from './subject.js';
export { jwtExpiry } from './token.js';
export { EventParser, sseURL, type FetchLike } from './sse.js';
export type { CounterSnapshot } from './counters.js';
export * from './types.js';
