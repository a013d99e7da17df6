// Errors a user can act on. Every failure of a sign-in, refresh or discovery
// ends as a CartoAuthError whose message is already translated and says what
// to do; `code` lets callers (and the kernel protocol) branch on the kind.

/** Kinds of failure, matching the comm protocol's error codes where they overlap. */
export type CartoErrorCode =
  | 'cancelled'
  | 'timeout'
  | 'network'
  | 'denied'
  | 'popup_blocked'
  | 'popup_closed'
  | 'port_busy'
  | 'invalid_code'
  | 'wrong_attempt'
  | 'provider'
  | 'bad_response'
  /** The provider no longer accepts the session's refresh token (revoked, expired). */
  | 'session_ended';

/**
 * A failure phrased for a user. Never carries token material.
 */
export class CartoAuthError extends Error {
  constructor(
    readonly code: CartoErrorCode,
    message: string,
    /** Whether the access-code paste flow is a sensible next step. */
    readonly offerPaste = false
  ) {
    super(message);
    this.name = 'CartoAuthError';
  }
}

/** Whether an error is the browser's opaque "network or CORS" failure of fetch. */
export function isFetchNetworkError(error: unknown): boolean {
  return (
    error instanceof TypeError ||
    (error instanceof Error &&
      /Failed to fetch|NetworkError|Load failed/i.test(error.message))
  );
}
