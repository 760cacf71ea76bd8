// Error types of the StreamHub client.

/** Stable error codes of protocol v1, plus client-side codes. */
export type ErrorCode =
  | 'bad_request'
  | 'unknown_op'
  | 'invalid_subject'
  | 'invalid_option'
  | 'too_many_subscriptions'
  | 'not_subscribed'
  | 'forbidden'
  | 'rate_limited'
  | 'unsupported_frame'
  | 'auth_required'
  | 'insufficient_state'
  | 'internal'
  // Client-side codes: never sent by the hub.
  | 'disconnected'
  | 'timeout'
  | 'decode_failed'
  | (string & {});

/**
 * ProtocolError is an `error` frame from the hub (code, message and the id of
 * the command it answers), or a client-side failure of a request with one of
 * the client codes (`disconnected`, `timeout`, `decode_failed`).
 */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  readonly id: number | undefined;

  constructor(code: ErrorCode, message: string, id?: number) {
    super(`streamhub: ${code}: ${message}`);
    this.name = 'ProtocolError';
    this.code = code;
    this.id = id;
  }
}
