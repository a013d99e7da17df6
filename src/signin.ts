// The sign-in flows: a popup whose redirect comes back through the Jupyter
// server (CARTO's fixed localhost callback, relayed) or through a page the
// Jupyter server serves (a user's own SPA client), and the access-code paste
// flow for remote servers. Each attempt is bounded in time and cancellable.
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { SigninResponse } from 'oidc-client-ts';

import { CartoAuthError } from './errors';
import { OidcClients } from './oidc';
import { completeExchange, deniedError } from './oidcerrors';
import {
  AskForCode,
  callbackUrlFor,
  IPastePrompt,
  parsePaste,
  pasteProblem
} from './paste';
import { watchPopup } from './popup';
import { servedByJupyter } from './redirect';
import { RelayClient } from './relay';
import { callbackChannelName } from './scope';
import { ICartoSettings, urlSettingTitles } from './settings';

/** Dependencies of the flows. */
export interface ISignInFlowsOptions {
  readonly clients: OidcClients;
  readonly trans: TranslationBundle;
  readonly askForCode: AskForCode;
  readonly serverSettings?: ServerConnection.ISettings;
}

/**
 * Runs sign-in attempts.
 */
export class SignInFlows {
  constructor(private _options: ISignInFlowsOptions) {
    this._relay = new RelayClient(_options.trans, _options.serverSettings);
  }

  /**
   * Sign in in a popup window, opened by the caller at the user's click (see
   * `openSignInPopup`) and closed here when the attempt ends.
   */
  async popup(
    popup: Window,
    settings: ICartoSettings,
    organization: string,
    signal: AbortSignal
  ): Promise<SigninResponse> {
    const { trans } = this._options;
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
        const relay = await this._relay.start(settings.redirectUri, stateId);
        let relayOpen = true; // the server forgets an attempt once it answered
        cleanups.push(() => relayOpen && void this._relay.cancel(relay));
        callback = this._relay
          .poll(relay, settings.redirectUri, signal)
          .finally(() => (relayOpen = false));
      } else {
        callback = waitForCallbackPage(
          stateId,
          signal,
          this._serverSettings().baseUrl
        );
      }
      popup.location.href = request.url;
      const url = await bounded(
        Promise.race([callback, watchPopup(popup, signal, trans)]),
        settings.signInTimeoutSeconds,
        signal,
        trans
      );
      return await completeExchange(
        () => client.processSigninResponse(url),
        trans
      );
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
          const response = await completeExchange(
            () =>
              client.processSigninResponse(
                callbackUrlFor(redirectUri, parsed.code, stateId),
                undefined,
                false
              ),
            trans
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
        throw deniedError(parsed.error, parsed.description, trans);
      } else {
        error = pasteProblem(parsed, trans);
      }
      prompt = { ...prompt, error, value };
    }
  }

  /** An OidcClient for this attempt, once the provider answered the probe. */
  private _client(
    settings: ICartoSettings,
    redirectUri: string,
    organization: string
  ) {
    // A URL setting refused along with its default is empty (checkUrlSettings).
    const redirectKey =
      redirectUri === settings.redirectUri
        ? 'redirectUri'
        : 'accessCodeRedirectUri';
    for (const key of [
      'issuer',
      'authorizeUrl',
      'tokenUrl',
      redirectKey
    ] as const) {
      if (!settings[key]) {
        throw new CartoAuthError(
          'bad_response',
          this._options.trans.__(
            'The CARTO setting "%1" has no usable URL. Set it to an https address (http only for localhost) in Settings → CARTO sign-in.',
            urlSettingTitles(this._options.trans)[key]
          )
        );
      }
    }
    return this._options.clients.create({
      settings,
      redirectUri,
      organization,
      checkAlive: true
    });
  }

  private _serverSettings(): ServerConnection.ISettings {
    return this._options.serverSettings ?? ServerConnection.makeSettings();
  }

  private _relay: RelayClient;
}

/**
 * Wait for the callback page served by Jupyter (own SPA client) to announce
 * its URL on this server's callback channel ({@link callbackChannelName}): the
 * page is on the lab's origin, and the sign-in window has no `opener` to post
 * to. Another server on the origin (another user's, under JupyterHub) hears
 * nothing of it.
 */
function waitForCallbackPage(
  stateId: string,
  signal: AbortSignal,
  baseUrl: string
): Promise<string> {
  return new Promise((resolve, reject) => {
    const channel = new BroadcastChannel(callbackChannelName(baseUrl));
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
    const done = () => channel.close();
    channel.onmessage = onMessage;
    signal.addEventListener('abort', () => {
      done();
      reject(new CartoAuthError('cancelled', 'cancelled'));
    });
  });
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
