// The sign-in flows: a popup whose redirect comes back through the Jupyter
// server (CARTO's fixed localhost callback, relayed) or through a page the
// Jupyter server serves (a user's own SPA client), and the access-code paste
// flow for remote servers. Each attempt is bounded in time and cancellable.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { ErrorResponse, ErrorTimeout, SigninResponse } from 'oidc-client-ts';

import { CartoAuthError, isFetchNetworkError } from './errors';
import { createOidcClient } from './oidc';
import { callbackUrlFor, parsePaste } from './paste';
import { ICartoSettings } from './settings';
import { IHttpRequest, Transport } from './transport';

/** What the paste dialog is shown with. */
export interface IPastePrompt {
  /** The provider page to open (again) to get a code. */
  readonly authorizeUrl: string;
  /** Whether the new tab could not be opened by the lab itself. */
  readonly tabBlocked: boolean;
  /** Why the previous paste failed, already translated, or null. */
  readonly error: string | null;
  /** The previous input, to keep in the field. */
  readonly value: string;
}

/** Shows the paste dialog; resolves with the pasted text, or null if cancelled. */
export type AskForCode = (prompt: IPastePrompt) => Promise<string | null>;

/** Dependencies of the flows. */
export interface ISignInFlowsOptions {
  readonly transport: Transport;
  readonly trans: TranslationBundle;
  readonly askForCode: AskForCode;
  readonly serverSettings?: ServerConnection.ISettings;
}

/** Whether a redirect URI points at this machine's loopback interface. */
export function isLoopbackRedirect(uri: string): boolean {
  try {
    const host = new URL(uri).hostname;
    return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
  } catch {
    return false;
  }
}

/**
 * Whether a redirect URI is the callback page this Jupyter server serves
 * (a user's own SPA client), rather than a localhost port to relay.
 */
export function servedByJupyter(uri: string, baseUrl: string): boolean {
  try {
    const base = new URL(baseUrl, window.location.href);
    const target = new URL(uri);
    return (
      target.origin === base.origin && target.pathname.startsWith(base.pathname)
    );
  } catch {
    return false;
  }
}

/**
 * Whether the browser runs on the machine that runs Jupyter, so a redirect
 * to localhost reaches the Jupyter server's relay.
 */
export function browserIsOnServerMachine(): boolean {
  return isLoopbackRedirect(window.location.href);
}

/**
 * Runs sign-in attempts.
 */
export class SignInFlows {
  constructor(private _options: ISignInFlowsOptions) {}

  /**
   * Sign in with a popup window. The window is opened before anything is
   * awaited, so the click that started the attempt still counts as a user
   * gesture for popup blockers.
   */
  async popup(
    settings: ICartoSettings,
    organization: string,
    signal: AbortSignal
  ): Promise<SigninResponse> {
    const { trans } = this._options;
    const popup = window.open(
      '',
      'jupyterlab-carto-auth-signin',
      'popup,width=520,height=720'
    );
    if (!popup) {
      throw new CartoAuthError(
        'popup_blocked',
        trans.__(
          'The browser blocked the CARTO sign-in window. Allow pop-ups for this site, or paste an access code instead.'
        ),
        true
      );
    }
    const cleanups: (() => void)[] = [() => popup.close()];
    try {
      const client = await this._client(
        settings,
        settings.redirectUri,
        organization
      );
      const request = await client.createSigninRequest({});
      const stateId = request.state.id;
      let callback: Promise<string>;
      if (
        !servedByJupyter(settings.redirectUri, this._serverSettings().baseUrl)
      ) {
        const relay = await this._startRelay(settings.redirectUri, stateId);
        let relayOpen = true; // the server forgets an attempt once it answered
        cleanups.push(() => relayOpen && void this._cancelRelay(relay));
        callback = this._pollRelay(relay, settings.redirectUri, signal).finally(
          () => (relayOpen = false)
        );
      } else {
        callback = waitForCallbackPage(stateId, signal);
      }
      popup.location.href = request.url;
      const url = await bounded(
        Promise.race([callback, this._watchPopup(popup, signal)]),
        settings.signInTimeoutSeconds,
        signal,
        trans
      );
      return await this._complete(() => client.processSigninResponse(url));
    } finally {
      for (const cleanup of cleanups) {
        cleanup();
      }
    }
  }

  /**
   * Sign in by pasting the access code that the provider's code page shows.
   * The dialog stays open on a wrong code, with the reason shown.
   */
  async paste(
    settings: ICartoSettings,
    organization: string,
    signal: AbortSignal
  ): Promise<SigninResponse> {
    const { trans } = this._options;
    const redirectUri = settings.accessCodeRedirectUri;
    const client = await this._client(settings, redirectUri, organization);
    const request = await client.createSigninRequest({});
    const stateId = request.state.id;
    const tab = window.open(request.url, '_blank');
    if (tab) {
      tab.opener = null; // the provider's page gets no handle on the lab
    }
    const started = Date.now();
    let prompt: IPastePrompt = {
      authorizeUrl: request.url,
      tabBlocked: !tab,
      error: null,
      value: ''
    };
    const deadline = Date.now() + settings.signInTimeoutSeconds * 1000;
    for (;;) {
      const value = await this._options.askForCode(prompt);
      if (value === null || signal.aborted) {
        throw new CartoAuthError('cancelled', trans.__('Sign-in cancelled.'));
      }
      if (Date.now() > deadline) {
        throw new CartoAuthError(
          'timeout',
          trans.__(
            'This sign-in attempt has expired. Click Sign in to CARTO to start a new one.'
          )
        );
      }
      const parsed = parsePaste(value, stateId);
      let error: string;
      if (parsed.kind === 'code' && USED_CODES.has(parsed.code)) {
        error = trans.__(
          'This access code was already used: each code works once. Open the CARTO page again (link above) for a new one.'
        );
      } else if (parsed.kind === 'code') {
        try {
          // Keep the attempt's state on failure, so another paste can follow.
          const response = await this._complete(() =>
            client.processSigninResponse(
              callbackUrlFor(redirectUri, parsed.code, stateId),
              undefined,
              false
            )
          );
          USED_CODES.add(parsed.code);
          return response;
        } catch (e) {
          if (!(e instanceof CartoAuthError) || e.code !== 'invalid_code') {
            throw e;
          }
          const lifetime = settings.accessCodeLifetimeSeconds;
          error =
            Date.now() - started > lifetime * 1000
              ? trans.__(
                  'This access code has expired: codes are valid for about %1 seconds. Open the CARTO page again (link above) for a new one.',
                  lifetime
                )
              : trans.__(
                  'CARTO did not accept this access code. Copy the whole code from the CARTO page opened for this sign-in, and paste it again.'
                );
        }
      } else if (parsed.kind === 'denied') {
        throw this._denied(parsed.error, parsed.description);
      } else if (parsed.reason === 'empty') {
        error = trans.__('Paste the access code shown on the CARTO page.');
      } else if (parsed.reason === 'wrong_attempt') {
        error = trans.__(
          'That address belongs to another sign-in attempt. Use the CARTO page opened for this dialog (link above).'
        );
      } else {
        error = trans.__(
          'That is not an access code. Copy the whole code shown on the CARTO page, or its full address.'
        );
      }
      prompt = { ...prompt, error, value };
    }
  }

  /** An OidcClient whose token requests go by the right route. */
  private async _client(
    settings: ICartoSettings,
    redirectUri: string,
    organization: string
  ) {
    const viaServer = await this._options.transport.viaServer(
      settings.tokenUrl,
      tokenProbe(settings),
      true
    );
    return createOidcClient({
      settings,
      redirectUri,
      viaServer,
      organization,
      serverSettings: this._options.serverSettings
    });
  }

  /** Run oidc-client-ts's code exchange, turning its errors into user-facing ones. */
  private async _complete(
    exchange: () => Promise<SigninResponse>
  ): Promise<SigninResponse> {
    const { trans } = this._options;
    try {
      return await exchange();
    } catch (error) {
      if (error instanceof CartoAuthError) {
        throw error;
      }
      if (error instanceof ErrorResponse) {
        if (error.error === 'invalid_grant') {
          throw new CartoAuthError(
            'invalid_code',
            trans.__(
              'CARTO did not accept this access code: it is wrong, has expired, or was already used. Paste the code from the page opened for this attempt, or start again with Sign in to CARTO.'
            )
          );
        }
        throw this._denied(error.error ?? '', error.error_description ?? '');
      }
      if (error instanceof ErrorTimeout) {
        throw new CartoAuthError(
          'timeout',
          trans.__(
            'The CARTO sign-in service did not answer in time. Try again.'
          )
        );
      }
      if (isFetchNetworkError(error)) {
        throw new CartoAuthError(
          'network',
          trans.__(
            'Could not reach the CARTO sign-in service. Check your network connection and the CARTO settings, then try again.'
          )
        );
      }
      if (error instanceof Error && /No matching state/i.test(error.message)) {
        throw new CartoAuthError(
          'wrong_attempt',
          trans.__(
            'This sign-in answer belongs to another attempt. Start again with Sign in to CARTO.'
          )
        );
      }
      throw new CartoAuthError(
        'bad_response',
        trans.__(
          'The CARTO sign-in service sent an answer that could not be used (%1). Try again.',
          error instanceof Error ? error.message : String(error)
        )
      );
    }
  }

  private _denied(error: string, description: string): CartoAuthError {
    const { trans } = this._options;
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

  private async _startRelay(
    redirectUri: string,
    state: string
  ): Promise<string> {
    const { trans } = this._options;
    const settings = this._serverSettings();
    const response = await this._serverRequest(
      URLExt.join(settings.baseUrl, 'carto-auth', 'relay'),
      {
        method: 'POST',
        body: JSON.stringify({ redirect_uri: redirectUri, state })
      }
    );
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

  private async _pollRelay(
    attempt: string,
    redirectUri: string,
    signal: AbortSignal
  ): Promise<string> {
    const { trans } = this._options;
    const url = URLExt.join(
      this._serverSettings().baseUrl,
      'carto-auth',
      'relay',
      attempt
    );
    while (!signal.aborted) {
      const response = await this._serverRequest(
        url + '?wait=20',
        { method: 'GET' },
        signal
      );
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

  private async _cancelRelay(attempt: string): Promise<void> {
    const url = URLExt.join(
      this._serverSettings().baseUrl,
      'carto-auth',
      'relay',
      attempt
    );
    await this._serverRequest(url, { method: 'DELETE' }).catch(() => undefined);
  }

  /** Rejects when the user closes the popup before the callback arrived. */
  private _watchPopup(popup: Window, signal: AbortSignal): Promise<never> {
    const { trans } = this._options;
    return new Promise((_, reject) => {
      const timer = setInterval(() => {
        if (signal.aborted) {
          clearInterval(timer);
        } else if (popup.closed) {
          clearInterval(timer);
          // Grace period: the callback may be on its way as the window closes.
          setTimeout(
            () =>
              reject(
                new CartoAuthError(
                  'popup_closed',
                  trans.__(
                    'The CARTO sign-in window was closed before sign-in finished. Click Sign in to CARTO to try again, or paste an access code.'
                  ),
                  true
                )
              ),
            1500
          );
        }
      }, 400);
    });
  }

  private async _serverRequest(
    url: string,
    init: RequestInit,
    signal?: AbortSignal
  ): Promise<Response> {
    try {
      return await ServerConnection.makeRequest(
        url,
        { ...init, signal: signal ?? AbortSignal.timeout(35000) },
        this._serverSettings()
      );
    } catch (error) {
      if (signal?.aborted) {
        throw new CartoAuthError(
          'cancelled',
          this._options.trans.__('Sign-in cancelled.')
        );
      }
      throw new CartoAuthError(
        'network',
        this._options.trans.__(
          'The Jupyter server did not answer (%1).',
          String(error)
        )
      );
    }
  }

  private _serverSettings(): ServerConnection.ISettings {
    return this._options.serverSettings ?? ServerConnection.makeSettings();
  }
}

/**
 * Wait for the callback page served by Jupyter (own SPA client) to announce
 * its URL on the extension's BroadcastChannel.
 */
function waitForCallbackPage(
  stateId: string,
  signal: AbortSignal
): Promise<string> {
  return new Promise((resolve, reject) => {
    const channel = new BroadcastChannel('jupyterlab-carto-auth');
    const onMessage = (event: MessageEvent) => {
      if (event.origin !== window.location.origin) {
        return;
      }
      const data = event.data;
      if (
        data?.type !== 'carto-auth:callback' ||
        typeof data.url !== 'string'
      ) {
        return;
      }
      if (new URL(data.url).searchParams.get('state') !== stateId) {
        return;
      }
      done();
      resolve(data.url);
    };
    const done = () => {
      channel.close();
      window.removeEventListener('message', onMessage);
    };
    channel.onmessage = onMessage;
    window.addEventListener('message', onMessage);
    signal.addEventListener('abort', () => {
      done();
      reject(new CartoAuthError('cancelled', 'cancelled'));
    });
  });
}

/**
 * A refresh with a token that cannot exist: the provider answers
 * invalid_grant, and whether the browser can read that answer tells the
 * route. No code is spent, nothing is created.
 */
export function tokenProbe(settings: ICartoSettings): IHttpRequest {
  return {
    url: settings.tokenUrl,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: settings.clientId,
      refresh_token: 'cors-probe'
    }).toString(),
    timeoutMs: 10000
  };
}

/**
 * Codes this page has already exchanged: authorization codes work once
 * (RFC 6749 §4.1.2), so a second paste of one is answered without asking the
 * provider, with its own message.
 */
const USED_CODES = new Set<string>();

/** Bound a wait by the sign-in time limit and the attempt's abort signal. */
function bounded<T>(
  promise: Promise<T>,
  seconds: number,
  signal: AbortSignal,
  trans: TranslationBundle
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new CartoAuthError(
            'timeout',
            trans.__(
              'The CARTO sign-in did not finish within %1 seconds. Click Sign in to CARTO to try again, or paste an access code.',
              seconds
            ),
            true
          )
        ),
      seconds * 1000
    );
    const onAbort = () =>
      reject(new CartoAuthError('cancelled', trans.__('Sign-in cancelled.')));
    signal.addEventListener('abort', onAbort);
    promise.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    });
  });
}
