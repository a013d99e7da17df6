// The client of the server's callback relay (`carto-auth/relay`): the
// Jupyter server listens on CARTO's fixed localhost redirect URI for one
// attempt and hands the callback's query to the lab by long-polling.
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';

import { CartoAuthError } from './errors';
import { requestAPI } from './request';

/**
 * One relay attempt at a time per call of {@link RelayClient.start}.
 */
export class RelayClient {
  constructor(
    private _trans: TranslationBundle,
    private _serverSettings?: ServerConnection.ISettings
  ) {}

  /** Ask the server to listen on `redirectUri` for `state`; the attempt id. */
  async start(redirectUri: string, state: string): Promise<string> {
    const trans = this._trans;
    const response = await this._request('relay', {
      method: 'POST',
      body: JSON.stringify({ redirect_uri: redirectUri, state })
    });
    const payload = await response.json().catch(() => ({}));
    if (response.status === 409) {
      throw new CartoAuthError(
        'port_busy',
        payload.message ??
          trans.__('The local sign-in port is in use by another program.'),
        true
      );
    }
    if (!response.ok || typeof payload.attempt !== 'string') {
      throw new CartoAuthError(
        'bad_response',
        trans.__(
          'The Jupyter server could not receive the CARTO sign-in callback (%1). Is jupyterlab-carto-auth enabled on the server? You can paste an access code instead.',
          payload.message ?? response.status
        ),
        true
      );
    }
    return payload.attempt;
  }

  /** Wait for the callback of an attempt; its full URL on `redirectUri`. */
  async poll(
    attempt: string,
    redirectUri: string,
    signal: AbortSignal
  ): Promise<string> {
    const trans = this._trans;
    while (!signal.aborted) {
      const response = await this._request(
        `relay/${attempt}?wait=20`,
        { method: 'GET' },
        signal
      );
      if (response.status === 404) {
        // The server listens for one attempt at a time: a sign-in started in
        // another tab or window of this server took over the port. That one
        // signs this lab in too (tabs share the session): no error to show.
        throw new CartoAuthError(
          'cancelled',
          trans.__(
            'Another CARTO sign-in started on this Jupyter server (another tab or window) and replaced this one.'
          )
        );
      }
      const payload = await response.json().catch(() => ({}));
      if (payload.status === 'done') {
        const callback = new URL(redirectUri);
        callback.search = payload.query;
        return callback.href;
      }
      if (payload.status !== 'pending') {
        throw new CartoAuthError(
          'timeout',
          trans.__('The CARTO sign-in did not finish in time. Try again.'),
          true
        );
      }
    }
    throw new CartoAuthError('cancelled', trans.__('Sign-in cancelled.'));
  }

  /** Stop listening for an attempt; never fails. */
  async cancel(attempt: string): Promise<void> {
    await this._request(`relay/${attempt}`, { method: 'DELETE' }).catch(
      () => undefined
    );
  }

  private _request(
    endpoint: string,
    init: RequestInit,
    signal?: AbortSignal
  ): Promise<Response> {
    return requestAPI(
      endpoint,
      { ...init, signal: signal ?? AbortSignal.timeout(35000) },
      this._serverSettings,
      this._trans
    );
  }
}
