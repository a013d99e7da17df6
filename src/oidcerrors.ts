// What oidc-client-ts and the identity provider throw during a code
// exchange or a refresh, turned into CartoAuthErrors whose messages say what
// to do.
import { TranslationBundle } from '@jupyterlab/translation';
import { ErrorResponse, ErrorTimeout, SigninResponse } from 'oidc-client-ts';

import { CartoAuthError, isFetchNetworkError } from './errors';

/** Run oidc-client-ts's code exchange, turning its errors into user-facing ones. */
export async function completeExchange(
  exchange: () => Promise<SigninResponse>,
  trans: TranslationBundle
): Promise<SigninResponse> {
  try {
    return await exchange();
  } catch (error) {
    throw exchangeError(error, trans);
  }
}

/** The CartoAuthError for a failed code exchange (RFC 6749 §5.2 errors included). */
export function exchangeError(
  error: unknown,
  trans: TranslationBundle
): CartoAuthError {
  if (error instanceof CartoAuthError) {
    return error;
  }
  if (error instanceof ErrorResponse) {
    if (error.error === 'invalid_grant') {
      return new CartoAuthError(
        'invalid_code',
        trans.__(
          'CARTO did not accept this access code: it is wrong, has expired, or was already used. Paste the code from the page opened for this attempt, or start again with Sign in to CARTO.'
        )
      );
    }
    if (isServerFailure(error)) {
      return new CartoAuthError(
        'provider',
        trans.__(
          'The CARTO sign-in service failed (%1). Try again in a few minutes.',
          error.error_description || error.error || ''
        )
      );
    }
    return deniedError(error.error ?? '', error.error_description ?? '', trans);
  }
  if (isNotJson(error)) {
    return new CartoAuthError(
      'bad_response',
      trans.__(
        'The CARTO sign-in service sent an answer that is not JSON. Try again in a few minutes; if it goes on, check the Token URL setting.'
      )
    );
  }
  if (error instanceof ErrorTimeout) {
    return new CartoAuthError(
      'timeout',
      trans.__('The CARTO sign-in service did not answer in time. Try again.')
    );
  }
  if (isFetchNetworkError(error)) {
    return new CartoAuthError(
      'network',
      trans.__(
        'Could not reach the CARTO sign-in service. Check your network connection and the CARTO settings, then try again.'
      )
    );
  }
  if (error instanceof Error && /No matching state/i.test(error.message)) {
    return new CartoAuthError(
      'wrong_attempt',
      trans.__(
        'This sign-in answer belongs to another attempt. Start again with Sign in to CARTO.'
      )
    );
  }
  return new CartoAuthError(
    'bad_response',
    trans.__(
      'The CARTO sign-in service sent an answer that could not be used (%1). Try again.',
      error instanceof Error ? error.message : String(error)
    )
  );
}

/** The CartoAuthError for an authorization error (RFC 6749 §4.1.2.1). */
export function deniedError(
  error: string,
  description: string,
  trans: TranslationBundle
): CartoAuthError {
  if (error === 'access_denied') {
    return new CartoAuthError(
      'denied',
      trans.__('Sign-in to CARTO was cancelled or denied on the CARTO page.')
    );
  }
  return new CartoAuthError(
    'provider',
    trans.__(
      'The CARTO sign-in service refused the request: %1. Check the CARTO settings.',
      description || error
    )
  );
}

/** RFC 6749 errors that say the provider itself failed, not the request. */
const SERVER_ERRORS = new Set(['server_error', 'temporarily_unavailable']);

function isServerFailure(error: ErrorResponse): boolean {
  return SERVER_ERRORS.has(error.error ?? '');
}

/** Whether oidc-client-ts could not read the answer as JSON. */
function isNotJson(error: unknown): boolean {
  return (
    error instanceof SyntaxError ||
    (error instanceof Error &&
      /^Invalid response Content-Type/.test(error.message))
  );
}

/**
 * The CartoAuthError for a failed refresh (RFC 6749 §6). `session_ended`
 * when the provider no longer accepts the refresh token (`invalid_grant`:
 * revoked, expired or already used), so that retrying cannot help; any
 * other code is a failure that may pass, whose message is a short reason for
 * "Could not renew the CARTO session (…)".
 */
export function refreshError(
  error: unknown,
  trans: TranslationBundle,
  timeoutSeconds: number
): CartoAuthError {
  if (error instanceof CartoAuthError) {
    return error;
  }
  if (error instanceof ErrorResponse) {
    if (error.error === 'invalid_grant') {
      return new CartoAuthError(
        'session_ended',
        trans.__(
          'CARTO ended your session: the sign-in was revoked or has expired. Sign in to CARTO again.'
        )
      );
    }
    const detail = error.error_description || error.error || '';
    return isServerFailure(error)
      ? new CartoAuthError(
          'provider',
          trans.__('the CARTO sign-in service failed: %1', detail)
        )
      : new CartoAuthError(
          'provider',
          trans.__('the CARTO sign-in service refused the request: %1', detail)
        );
  }
  if (error instanceof ErrorTimeout) {
    return new CartoAuthError(
      'timeout',
      trans.__(
        'the CARTO sign-in service did not answer within %1 s',
        timeoutSeconds
      )
    );
  }
  if (isNotJson(error)) {
    return new CartoAuthError(
      'bad_response',
      trans.__('the CARTO sign-in service sent an answer that is not JSON')
    );
  }
  if (isFetchNetworkError(error)) {
    return new CartoAuthError(
      'network',
      trans.__('the CARTO sign-in service could not be reached')
    );
  }
  return new CartoAuthError(
    'bad_response',
    error instanceof Error ? error.message : String(error)
  );
}
