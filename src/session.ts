// The CARTO session: sign-in, persistence in lab state (token material
// sealed), refresh before expiry with one refresh at a time across tabs,
// cross-tab sync, and sign-out.
import { IStateDB } from '@jupyterlab/statedb';
import { TranslationBundle } from '@jupyterlab/translation';
import { ServerConnection } from '@jupyterlab/services';
import { PromiseDelegate, UUID } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';
import { SigninResponse, UserProfile } from 'oidc-client-ts';

import { discoverApiBaseUrl } from './discovery';
import { CartoAuthError } from './errors';
import { createOidcClient } from './oidc';
import { ICartoSettings, PluginIDs } from './settings';
import {
  AskForCode,
  SignInFlows,
  browserIsOnServerMachine,
  isLoopbackRedirect,
  servedByJupyter,
  tokenProbe
} from './signin';
import {
  ICartoSession,
  ICartoSessionInfo,
  ICartoUser,
  ISignInOptions
} from './tokens';
import { Transport } from './transport';
import { ISealed, LatestSession, Vault } from './vault';

/** Lab state key of the session. */
export const STATE_KEY = `${PluginIDs.session}`;

/** Token material: only ever stored sealed. */
interface ISecrets {
  readonly accessToken: string;
  readonly refreshToken: string | null;
  readonly idToken: string | null;
  readonly scope: string | null;
  readonly profile: UserProfile;
}

/** What is persisted (lab state) and shared (other tabs): no clear-text secret. */
interface IStoredSession {
  readonly v: 1;
  /** Identifies one sign-in; refreshes keep it. */
  readonly sessionId: string;
  readonly clientId: string;
  readonly tokenUrl: string;
  readonly user: ICartoUser;
  readonly obtainedAt: number;
  readonly expiresAt: number;
  readonly apiBaseUrl: string | null;
  readonly region: string | null;
  readonly canRefresh: boolean;
  readonly sealed: ISealed;
}

type TabMessage =
  | { type: 'session'; stored: IStoredSession }
  | { type: 'signed-out' }
  | { type: 'hello' };

const SIGNED_OUT: ICartoSessionInfo = {
  status: 'signed-out',
  user: null,
  expiresAt: null,
  apiBaseUrl: null,
  region: null,
  canRefresh: false,
  error: null
};

/** Options of {@link CartoSession}. */
export interface ICartoSessionOptions {
  readonly state: IStateDB;
  readonly trans: TranslationBundle;
  readonly settings: ICartoSettings;
  readonly askForCode: AskForCode;
  readonly serverSettings?: ServerConnection.ISettings;
}

/**
 * The lab's CARTO session.
 */
export class CartoSession implements ICartoSession {
  constructor(options: ICartoSessionOptions) {
    this._state = options.state;
    this._trans = options.trans;
    this._settings = options.settings;
    this._serverSettings = options.serverSettings;
    this._transport = new Transport(() => this._settings.tokenTransport);
    this._flows = new SignInFlows({
      transport: this._transport,
      trans: options.trans,
      askForCode: options.askForCode,
      serverSettings: options.serverSettings
    });
    this._channel = new BroadcastChannel('jupyterlab-carto-auth-session');
    this._channel.onmessage = event => void this._onTabMessage(event.data);
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
    const forget = !settings.rememberSession && this._settings.rememberSession;
    this._settings = settings;
    if (forget) {
      void this._state.remove(STATE_KEY);
    } else if (settings.rememberSession && this._stored) {
      void this._state.save(STATE_KEY, this._stored as any);
    }
  }

  /**
   * Restore the session: from another open tab, else (with `rememberSession`)
   * from what was saved. Call once the application is restored.
   *
   * Lab state is saved to the workspace with a debounce, so right after a
   * sign-in or sign-out a reload can find it stale. This browser's sealed copy
   * in IndexedDB is written before either completes, so it decides: a lab
   * state session is only restored when that copy agrees, and a sign-out is
   * never undone by a late workspace save.
   */
  async restore(): Promise<void> {
    try {
      this._post({ type: 'hello' });
      if (!this._settings.rememberSession) {
        await this._state.remove(STATE_KEY);
        return;
      }
      const saved = (await this._state.fetch(STATE_KEY)) as
        IStoredSession | undefined;
      const latest = await this._latest.read<IStoredSession>();
      if (!latest || latest.v !== 1) {
        if (saved) {
          await this._state.remove(STATE_KEY); // signed out since it was saved
        }
        return;
      }
      const newest =
        saved?.v === 1 &&
        saved.sessionId === latest.sessionId &&
        saved.expiresAt > latest.expiresAt
          ? saved
          : latest;
      if (!this._stored) {
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
    const want = Math.min(minTtlSeconds * 1000, this._lifetime() / 2);
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
    try {
      const method = options.method ?? this._defaultMethod();
      const response =
        method === 'paste'
          ? await this._flows.paste(
              settings,
              organization,
              attempt.controller.signal
            )
          : await this._flows.popup(
              settings,
              organization,
              attempt.controller.signal
            );
      await this._signedIn(response);
      attempt.promise.resolve();
    } catch (error) {
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
          ...(this._stored ? this._infoOf(this._stored) : SIGNED_OUT),
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
    this._post({ type: 'signed-out' });
    if (secrets?.refreshToken && stored && this._settings.revocationUrl) {
      await this._revoke(secrets.refreshToken).catch(error =>
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
    const run = async () => {
      // Another tab may have refreshed while this one waited for the lock.
      const latest = await this._latest.read<IStoredSession>();
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
        this._stored.expiresAt - Date.now() >
          Math.max(this._margin(), minValidMs)
      ) {
        return;
      }
      await this._doRefresh();
    };
    if (navigator.locks) {
      await navigator.locks.request('jupyterlab-carto-auth-refresh', run);
    } else {
      await run();
    }
  }

  dispose(): void {
    this._channel.close();
    this._clearTimers();
  }

  private async _doRefresh(): Promise<void> {
    const stored = this._stored!;
    const secrets = this._secrets!;
    try {
      const viaServer = await this._transport.viaServer(
        stored.tokenUrl,
        tokenProbe(this._settings)
      );
      const client = createOidcClient({
        settings: this._settings,
        redirectUri: this._settings.redirectUri,
        viaServer,
        serverSettings: this._serverSettings
      });
      const response = await client.useRefreshToken({
        state: {
          refresh_token: secrets.refreshToken!,
          id_token: secrets.idToken ?? undefined,
          session_state: null,
          scope: secrets.scope ?? undefined,
          profile: secrets.profile
        } as any
      });
      await this._signedIn(response, stored);
    } catch (error) {
      const left = Math.max(
        0,
        Math.round((stored.expiresAt - Date.now()) / 1000)
      );
      const message = this._trans.__(
        'Could not renew the CARTO session (%1). The current access token stays valid for %2 more seconds; sign in again before then.',
        error instanceof Error ? error.message : String(error),
        left
      );
      this._setInfo({ ...this._info, error: message });
      this._warnExpiring(stored);
      // Try again while the old token lasts (and once more at its expiry).
      this._schedule(
        Math.min(30_000, Math.max(1_000, (stored.expiresAt - Date.now()) / 3))
      );
      throw error;
    }
  }

  /** Turn a token response into the session, and share it. */
  private async _signedIn(
    response: SigninResponse,
    previous?: IStoredSession
  ): Promise<void> {
    const now = Date.now();
    const expiresIn = response.expires_in ?? 3600;
    const secrets: ISecrets = {
      accessToken: response.access_token,
      // Without rotation a refresh answer carries no refresh token: keep ours.
      refreshToken:
        response.refresh_token ??
        (previous ? (this._secrets?.refreshToken ?? null) : null),
      idToken: response.id_token ?? this._secrets?.idToken ?? null,
      scope: response.scope ?? null,
      profile: response.profile ?? this._secrets?.profile
    };
    const claims = {
      ...(decodeJwtPayload(response.access_token) ?? {}),
      ...response.profile
    };
    const email = String(
      claims.email ??
        claims['https://carto.com/email'] ??
        previous?.user.email ??
        ''
    );
    const user: ICartoUser = {
      email,
      name: String(claims.name ?? email),
      org:
        typeof claims.org_id === 'string'
          ? claims.org_id
          : (previous?.user.org ?? null)
    };
    let apiBaseUrl = previous?.apiBaseUrl ?? null;
    let region = previous?.region ?? null;
    let discoveryError: string | null = null;
    if (!previous) {
      try {
        const found = await discoverApiBaseUrl(
          this._settings,
          secrets.accessToken,
          this._transport
        );
        apiBaseUrl = found.apiBaseUrl;
        region = found.region;
      } catch (error) {
        discoveryError = this._trans.__(
          'Signed in, but the CARTO API base URL could not be found: %1',
          error instanceof Error ? error.message : String(error)
        );
      }
    }
    const stored: IStoredSession = {
      v: 1,
      sessionId: previous?.sessionId ?? UUID.uuid4(),
      clientId: this._settings.clientId,
      tokenUrl: this._settings.tokenUrl,
      user,
      obtainedAt: now,
      expiresAt: now + expiresIn * 1000,
      apiBaseUrl,
      region,
      canRefresh: !!secrets.refreshToken,
      sealed: await this._vault.seal(secrets)
    };
    this._secrets = secrets;
    await this._commit(stored, discoveryError);
    this._post({ type: 'session', stored });
  }

  /**
   * Adopt a stored session (from lab state, another tab or the shared
   * record), refreshing it when due unless called under the refresh lock.
   */
  private async _adopt(
    stored: IStoredSession,
    refreshIfDue = true
  ): Promise<void> {
    if (stored.expiresAt <= Date.now() && !stored.canRefresh) {
      return;
    }
    const secrets = await this._vault.open<ISecrets>(stored.sealed);
    if (!secrets) {
      return; // another browser's session: its key is not here
    }
    this._secrets = secrets;
    await this._commit(stored, null);
    if (refreshIfDue && this._needsRefresh()) {
      await this.refresh().catch(() => undefined);
    }
  }

  private async _commit(
    stored: IStoredSession,
    error: string | null
  ): Promise<void> {
    this._stored = stored;
    this._setInfo({ ...this._infoOf(stored), error });
    this._scheduleFor(stored);
    await this._latest.write(stored).catch(() => undefined);
    if (this._settings.rememberSession) {
      await this._state.save(STATE_KEY, stored as any);
    }
  }

  private async _forget(): Promise<void> {
    this._clearTimers();
    this._stored = null;
    this._secrets = null;
    this._setInfo(SIGNED_OUT);
    await this._latest.write(null).catch(() => undefined);
    await this._state.remove(STATE_KEY);
  }

  private async _onTabMessage(message: TabMessage): Promise<void> {
    if (message?.type === 'hello') {
      if (this._stored) {
        this._post({ type: 'session', stored: this._stored });
      }
    } else if (message?.type === 'session') {
      if (
        !this._stored ||
        message.stored.expiresAt >= this._stored.expiresAt ||
        message.stored.sessionId !== this._stored.sessionId
      ) {
        await this._adopt(message.stored);
      }
    } else if (message?.type === 'signed-out') {
      await this._forget();
    }
  }

  private _post(message: TabMessage): void {
    this._channel.postMessage(message);
  }

  private _infoOf(stored: IStoredSession): ICartoSessionInfo {
    return {
      status: 'signed-in',
      user: stored.user,
      expiresAt: stored.expiresAt,
      apiBaseUrl: stored.apiBaseUrl,
      region: stored.region,
      canRefresh: stored.canRefresh,
      error: null
    };
  }

  private _setInfo(info: ICartoSessionInfo): void {
    this._info = info;
    this._changed.emit(info);
  }

  private _lifetime(): number {
    return this._stored ? this._stored.expiresAt - this._stored.obtainedAt : 0;
  }

  /** When to act before expiry: the margin setting, at most a quarter of the lifetime. */
  private _margin(): number {
    return Math.min(
      this._settings.refreshMarginSeconds * 1000,
      this._lifetime() / 4
    );
  }

  private _needsRefresh(): boolean {
    return (
      !!this._stored && this._stored.expiresAt - Date.now() <= this._margin()
    );
  }

  private _scheduleFor(stored: IStoredSession): void {
    this._schedule(stored.expiresAt - this._margin() - Date.now());
  }

  private _schedule(delay: number): void {
    this._clearTimers();
    const stored = this._stored;
    if (!stored) {
      return;
    }
    this._timer = window.setTimeout(
      () => {
        if (stored.canRefresh) {
          void this.refresh().catch(() => undefined);
        } else {
          this._warnExpiring(stored);
        }
      },
      Math.max(0, delay)
    );
    if (stored.expiresAt > Date.now()) {
      this._expiryTimer = window.setTimeout(
        () => void this._expired(stored),
        stored.expiresAt - Date.now()
      );
    }
  }

  /** Tell the user, once per token, that it ends soon and cannot be renewed. */
  private _warnExpiring(stored: IStoredSession): void {
    if (this._warnedFor === stored.expiresAt) {
      return;
    }
    this._warnedFor = stored.expiresAt;
    this._expiring.emit(
      Math.max(0, Math.round((stored.expiresAt - Date.now()) / 1000))
    );
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

  private _clearTimers(): void {
    window.clearTimeout(this._timer);
    window.clearTimeout(this._expiryTimer);
  }

  private async _revoke(refreshToken: string): Promise<void> {
    const viaServer = await this._transport.viaServer(
      this._settings.tokenUrl,
      tokenProbe(this._settings)
    );
    const client = createOidcClient({
      settings: this._settings,
      redirectUri: this._settings.redirectUri,
      viaServer,
      serverSettings: this._serverSettings
    });
    await client.revokeToken(refreshToken, 'refresh_token');
  }

  private _defaultMethod(): 'popup' | 'paste' {
    const method = this._settings.signInMethod;
    if (method !== 'auto') {
      return method;
    }
    // The localhost callback only reaches this Jupyter server when the browser
    // runs on the same machine; a callback page served by Jupyter always does.
    const redirect = this._settings.redirectUri;
    const baseUrl = (this._serverSettings ?? ServerConnection.makeSettings())
      .baseUrl;
    return servedByJupyter(redirect, baseUrl) ||
      !isLoopbackRedirect(redirect) ||
      browserIsOnServerMachine()
      ? 'popup'
      : 'paste';
  }

  private _state: IStateDB;
  private _trans: TranslationBundle;
  private _settings: ICartoSettings;
  private _serverSettings?: ServerConnection.ISettings;
  private _transport: Transport;
  private _flows: SignInFlows;
  private _channel: BroadcastChannel;
  private _vault = new Vault();
  private _latest = new LatestSession();
  private _info: ICartoSessionInfo = SIGNED_OUT;
  private _stored: IStoredSession | null = null;
  private _secrets: ISecrets | null = null;
  private _attempt: {
    controller: AbortController;
    promise: PromiseDelegate<void>;
  } | null = null;
  private _timer = 0;
  private _warnedFor = 0;
  private _expiryTimer = 0;
  private _ready = new PromiseDelegate<void>();
  private _changed = new Signal<this, ICartoSessionInfo>(this);
  private _expiring = new Signal<this, number>(this);
}

/** The claims of a JWT, without verifying it (display only), or null. */
export function decodeJwtPayload(
  token: string
): Record<string, unknown> | null {
  const parts = token.split('.');
  if (parts.length !== 3) {
    return null;
  }
  try {
    const json = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/'));
    const value = JSON.parse(decodeURIComponent(escape(json)));
    return value && typeof value === 'object' ? value : null;
  } catch {
    return null;
  }
}
