// The CARTO session: the state machine behind ICartoSession (signed out,
// signing in, signed in, failed) and its API. It delegates each job:
// persistence.ts keeps the session across reloads, tabsync.ts across tabs,
// refresh.ts times its renewal; the sign-in flows, the token endpoint calls,
// their transport and the token response (with discovery) load on first use.
import { ServerConnection } from '@jupyterlab/services';
import { IStateDB } from '@jupyterlab/statedb';
import { TranslationBundle } from '@jupyterlab/translation';
import { PromiseDelegate } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';
import type { SigninResponse } from 'oidc-client-ts';

import { CartoAuthError } from './errors';
import type { OidcClients } from './oidc';
import { AskForCode } from './paste';
import { SessionPersistence } from './persistence';
import { openSignInPopup } from './popup';
import { defaultSignInMethod } from './redirect';
import { RefreshScheduler, withRefreshLock } from './refresh';
import { ServerScope } from './scope';
import { ICartoSettings } from './settings';
import type { SignInFlows } from './signin';
import {
  infoOf,
  ISecrets,
  IStoredSession,
  lifetimeOf,
  SIGNED_OUT
} from './storedsession';
import { TabSync } from './tabsync';
import { ICartoSession, ICartoSessionInfo, ISignInOptions } from './tokens';
import type { Transport } from './transport';

/** Options of {@link CartoSession}. */
export interface ICartoSessionOptions {
  readonly state: IStateDB;
  readonly trans: TranslationBundle;
  readonly settings: ICartoSettings;
  readonly askForCode: AskForCode;
  readonly serverSettings?: ServerConnection.ISettings;
  /** The server whose browser stores, channels and locks this session uses. */
  readonly scope: ServerScope;
}

/**
 * The lab's CARTO session.
 */
export class CartoSession implements ICartoSession {
  constructor(options: ICartoSessionOptions) {
    this._trans = options.trans;
    this._settings = options.settings;
    this._askForCode = options.askForCode;
    this._serverSettings = options.serverSettings;
    this._scope = options.scope;
    this._persistence = new SessionPersistence(
      options.state,
      () => this._settings.rememberSession,
      options.scope
    );
    this._tabs = new TabSync({
      scope: options.scope,
      current: () => this._stored,
      adopt: (stored, key) => this._adopt(stored, true, key),
      key: () => this._persistence.sharedKey(),
      signedOut: () => this._forget()
    });
    this._scheduler = new RefreshScheduler({
      marginSeconds: () => this._settings.refreshMarginSeconds,
      refresh: () => this.refresh(),
      expired: stored => this._expired(stored),
      warn: secondsLeft => this._expiring.emit(secondsLeft)
    });
  }

  get info(): ICartoSessionInfo {
    return this._info;
  }

  get changed(): ISignal<this, ICartoSessionInfo> {
    return this._changed;
  }

  get expiring(): ISignal<this, number> {
    return this._expiring;
  }

  /** The provider ended the session (refresh token revoked or expired): the message. */
  get ended(): ISignal<this, string> {
    return this._ended;
  }

  get ready(): Promise<void> {
    return this._ready.promise;
  }

  get organization(): string {
    return this._settings.organization;
  }

  get signInTimeoutSeconds(): number {
    return this._settings.signInTimeoutSeconds;
  }

  /** The current settings. */
  get settings(): ICartoSettings {
    return this._settings;
  }

  /** Apply changed settings. */
  updateSettings(settings: ICartoSettings): void {
    const before = this._settings.rememberSession;
    this._settings = settings;
    this._persistence.rememberChanged(before, this._stored);
  }

  /**
   * Restore the session: from another open tab, else (with `rememberSession`)
   * from what was saved (see {@link SessionPersistence.restore}). Call once
   * the application is restored.
   */
  async restore(): Promise<void> {
    try {
      this._tabs.hello();
      const newest = await this._persistence.restore();
      if (newest && !this._stored) {
        await this._adopt(newest);
      }
    } catch (error) {
      console.warn(
        'jupyterlab-carto-auth: could not restore the session',
        String(error)
      );
    } finally {
      this._ready.resolve();
    }
  }

  async getAccessToken(minTtlSeconds = 30): Promise<string | null> {
    if (!this._secrets || !this._stored) {
      return null;
    }
    // A token can never promise more than part of its own lifetime.
    const want = Math.min(minTtlSeconds * 1000, lifetimeOf(this._stored) / 2);
    if (this._stored.expiresAt - Date.now() > want) {
      return this._secrets.accessToken;
    }
    if (this._stored.canRefresh) {
      await this.refresh(want).catch(() => undefined);
    }
    return this._stored && this._stored.expiresAt > Date.now()
      ? this._secrets!.accessToken
      : null;
  }

  async signIn(options: ISignInOptions = {}): Promise<void> {
    if (this._attempt) {
      return this._attempt.promise.promise;
    }
    const attempt = {
      controller: new AbortController(),
      promise: new PromiseDelegate<void>()
    };
    this._attempt = attempt;
    attempt.promise.promise.catch(() => undefined);
    const previous = this._info;
    this._setInfo({ ...this._info, status: 'signing-in', error: null });
    const settings = this._settings;
    const organization = options.organization ?? settings.organization;
    let popup: Window | null = null;
    try {
      const method =
        options.method ??
        defaultSignInMethod(settings, this._serverSettingsOrDefault().baseUrl);
      // Opened before anything is awaited, so that the click that started the
      // attempt still counts as a user gesture for popup blockers.
      popup = method === 'popup' ? openSignInPopup(this._trans) : null;
      const flows = await this._signInFlows();
      const signal = attempt.controller.signal;
      const response = popup
        ? await flows.popup(popup, settings, organization, signal)
        : await flows.paste(settings, organization, signal);
      await this._signedIn(response, undefined, settings);
      attempt.promise.resolve();
    } catch (error) {
      popup?.close();
      const failure =
        error instanceof CartoAuthError
          ? error
          : new CartoAuthError('bad_response', String(error));
      if (failure.code === 'cancelled') {
        this._setInfo({
          ...previous,
          status:
            previous.status === 'signing-in' ? 'signed-out' : previous.status
        });
      } else {
        this._setInfo({
          ...(this._stored ? infoOf(this._stored) : SIGNED_OUT),
          status: this._stored ? 'signed-in' : 'error',
          error: failure.message
        });
      }
      attempt.promise.reject(failure);
    } finally {
      this._attempt = null;
    }
    return attempt.promise.promise;
  }

  cancelSignIn(): void {
    this._attempt?.controller.abort();
  }

  async signOut(): Promise<void> {
    const secrets = this._secrets;
    const stored = this._stored;
    await this._forget();
    this._tabs.signedOut();
    if (secrets?.refreshToken && stored && secrets.client.revocationUrl) {
      const refreshToken = secrets.refreshToken;
      await (async () => {
        const { revokeRefreshToken } = await import('./grants');
        const clients = await this._clients();
        await revokeRefreshToken(clients, secrets.client, refreshToken);
      })().catch(error =>
        console.warn('jupyterlab-carto-auth: revocation failed', String(error))
      );
    }
  }

  /**
   * Refresh the access token if it expires within the refresh margin (or
   * within `minValidMs`), once across all tabs: the tab that holds
   * the lock refreshes; a tab that waited for it adopts that result instead
   * of refreshing again.
   */
  async refresh(minValidMs = 0): Promise<void> {
    if (!this._stored?.canRefresh) {
      return;
    }
    const sessionId = this._stored.sessionId;
    await withRefreshLock(this._scope, async () => {
      // Another tab may have refreshed while this one waited for the lock.
      const latest = await this._persistence.latest();
      if (
        latest &&
        latest.sessionId === sessionId &&
        latest.expiresAt > (this._stored?.expiresAt ?? 0)
      ) {
        await this._adopt(latest, false);
      }
      if (
        !this._stored ||
        this._stored.sessionId !== sessionId ||
        !this._secrets ||
        !this._scheduler.isDue(this._stored, minValidMs)
      ) {
        return;
      }
      await this._doRefresh();
    });
  }

  dispose(): void {
    this._tabs.dispose();
    this._scheduler.clear();
  }

  private async _doRefresh(): Promise<void> {
    const stored = this._stored!;
    const secrets = this._secrets!;
    try {
      const { refreshGrant } = await import('./grants');
      const response = await refreshGrant(await this._clients(), secrets);
      await this._signedIn(response, stored);
    } catch (error) {
      const { refreshError } = await import('./oidcerrors');
      const failure = refreshError(
        error,
        this._trans,
        this._settings.requestTimeoutSeconds
      );
      if (failure.code === 'session_ended') {
        // Retrying cannot help: end the session here and in every tab, say so once.
        if (this._stored?.sessionId === stored.sessionId) {
          await this._forget();
          this._tabs.signedOut();
          this._setInfo({ ...SIGNED_OUT, error: failure.message });
          this._ended.emit(failure.message);
        }
        throw failure;
      }
      const left = Math.max(
        0,
        Math.round((stored.expiresAt - Date.now()) / 1000)
      );
      const message = this._trans.__(
        'Could not renew the CARTO session (%1). The current access token stays valid for %2 more seconds; sign in again before then.',
        failure.message,
        left
      );
      this._setInfo({ ...this._info, error: message });
      this._scheduler.retry(stored, this._stored);
      throw failure;
    }
  }

  /** Turn a token response into the session, and share it. */
  private async _signedIn(
    response: SigninResponse,
    previous?: IStoredSession,
    settings = this._settings
  ): Promise<void> {
    const { sessionFromResponse } = await import('./tokenresponse');
    const { stored, secrets, discoveryError } = await sessionFromResponse(
      response,
      previous,
      this._secrets,
      {
        settings,
        transport: await this._transport(),
        trans: this._trans,
        seal: (value, fields) => this._persistence.seal(value, fields)
      }
    );
    this._secrets = secrets;
    await this._commit(stored, discoveryError);
    this._tabs.shareSession(stored);
  }

  /**
   * Adopt a stored session (from lab state, another tab or the shared
   * record), refreshing it when due unless called under the refresh lock.
   */
  private async _adopt(
    stored: IStoredSession,
    refreshIfDue = true,
    key?: CryptoKey | null
  ): Promise<void> {
    if (stored.expiresAt <= Date.now() && !stored.canRefresh) {
      return;
    }
    const secrets = await this._persistence.open(stored, key);
    if (!secrets) {
      return; // another browser's session: its key is not here
    }
    this._secrets = secrets;
    await this._commit(stored, null);
    if (refreshIfDue && this._scheduler.needsRefresh(this._stored)) {
      await this.refresh().catch(() => undefined);
    }
  }

  private async _commit(
    stored: IStoredSession,
    error: string | null
  ): Promise<void> {
    this._stored = stored;
    this._setInfo({ ...infoOf(stored), error });
    this._scheduler.scheduleFor(stored);
    await this._persistence.save(stored);
  }

  private async _forget(): Promise<void> {
    this._scheduler.clear();
    this._stored = null;
    this._secrets = null;
    this._setInfo(SIGNED_OUT);
    await this._persistence.clear();
  }

  private _setInfo(info: ICartoSessionInfo): void {
    this._info = info;
    this._changed.emit(info);
  }

  /**
   * The access token has expired. With a refresh token the session can still
   * be renewed: try once more; otherwise, or if that fails, sign out locally
   * and say why.
   */
  private async _expired(stored: IStoredSession): Promise<void> {
    if (this._stored !== stored) {
      return;
    }
    if (stored.canRefresh) {
      try {
        await this.refresh();
        if (this._stored && this._stored.expiresAt > Date.now()) {
          return;
        }
      } catch {
        // reported below
      }
    }
    if (this._stored?.sessionId !== stored.sessionId) {
      return;
    }
    await this._forget();
    this._setInfo({
      ...SIGNED_OUT,
      error: this._trans.__('The CARTO session has expired. Sign in again.')
    });
  }

  /** The one OidcClient factory of this session (loads oidc-client-ts). */
  private async _clients(): Promise<OidcClients> {
    const { OidcClients } = await import('./oidc');
    const transport = await this._transport();
    this._oidc ??= new OidcClients(
      transport,
      this._serverSettings,
      () => this._settings.requestTimeoutSeconds
    );
    return this._oidc;
  }

  /** How token requests travel (loaded with the first one). */
  private async _transport(): Promise<Transport> {
    const { Transport } = await import('./transport');
    this._transportOnce ??= new Transport(
      () => this._settings.tokenTransport,
      this._serverSettings
    );
    return this._transportOnce;
  }

  /** The sign-in flows (loaded with the first sign-in). */
  private async _signInFlows(): Promise<SignInFlows> {
    const { SignInFlows } = await import('./signin');
    this._flows ??= new SignInFlows({
      clients: await this._clients(),
      trans: this._trans,
      askForCode: this._askForCode,
      serverSettings: this._serverSettings
    });
    return this._flows;
  }

  private _serverSettingsOrDefault(): ServerConnection.ISettings {
    return this._serverSettings ?? ServerConnection.makeSettings();
  }

  private _trans: TranslationBundle;
  private _settings: ICartoSettings;
  private _askForCode: AskForCode;
  private _serverSettings?: ServerConnection.ISettings;
  private _transportOnce: Transport | null = null;
  private _scope: ServerScope;
  private _persistence: SessionPersistence;
  private _tabs: TabSync;
  private _scheduler: RefreshScheduler;
  private _oidc: OidcClients | null = null;
  private _flows: SignInFlows | null = null;
  private _info: ICartoSessionInfo = SIGNED_OUT;
  private _stored: IStoredSession | null = null;
  private _secrets: ISecrets | null = null;
  private _attempt: {
    controller: AbortController;
    promise: PromiseDelegate<void>;
  } | null = null;
  private _ready = new PromiseDelegate<void>();
  private _changed = new Signal<this, ICartoSessionInfo>(this);
  private _expiring = new Signal<this, number>(this);
  private _ended = new Signal<this, string>(this);
}
