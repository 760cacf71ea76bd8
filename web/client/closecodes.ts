// The close-code rule of protocol v1, applied in one place.

/** Close codes the hub uses (protocol spec, "Close codes"). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  NoStatus: 1005,
  Abnormal: 1006,
  MessageTooBig: 1009,
  Shutdown: 4000,
  SlowConsumer: 4001,
  WriteFailed: 4002,
  HeartbeatTimeout: 4003,
  TokenExpired: 4004,
  Internal: 4005,
  ProtocolError: 4500,
  AuthFailed: 4502,
  AuthTimeout: 4503,
} as const;

/**
 * shouldReconnect applies the rule: 4000–4499 reconnect, 4500–4999 do not;
 * 1000 (normal) and 1009 (message too big) do not; 1001 (going away) and
 * 1006 (abnormal, e.g. the hub vanished or the upgrade failed) do. Among the
 * other standard codes, the transient server conditions 1005 (no status),
 * 1011 (internal error), 1012 (service restart), 1013 (try again later) and
 * 1014 (bad gateway) reconnect; everything else does not.
 */
export function shouldReconnect(code: number): boolean {
  if (code >= 4000 && code <= 4499) return true;
  if (code >= 4500 && code <= 4999) return false;
  switch (code) {
    case 1001:
    case 1005:
    case 1006:
    case 1011:
    case 1012:
    case 1013:
    case 1014:
      return true;
    default:
      return false;
  }
}

/** needsNewToken reports whether a close asks for a fresh token first (4004). */
export function needsNewToken(code: number): boolean {
  return code === CloseCode.TokenExpired;
}
