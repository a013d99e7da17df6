// Public service of the extension: the CARTO session other extensions can use.
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

/**
 * Where the session is in its life.
 */
export type CartoSessionStatus =
  'signed-out' | 'signing-in' | 'signed-in' | 'error';

/**
 * Who is signed in (from the ID token and access token claims).
 */
export interface ICartoUser {
  /** E-mail address of the CARTO user. */
  readonly email: string;
  /** Display name; the e-mail address when the provider gives none. */
  readonly name: string;
  /** SSO organization (`org_id` claim), or null. */
  readonly org: string | null;
}

/**
 * A snapshot of the session: everything but the token material, so it is
 * safe to log, render or persist as is.
 */
export interface ICartoSessionInfo {
  readonly status: CartoSessionStatus;
  readonly user: ICartoUser | null;
  /** Access token expiry, epoch milliseconds (UTC), or null. */
  readonly expiresAt: number | null;
  /** CARTO API base URL of the user's region, once known. */
  readonly apiBaseUrl: string | null;
  /** Short region name derived from the API base URL, once known. */
  readonly region: string | null;
  /** Whether a refresh token is held (renewal without user action). */
  readonly canRefresh: boolean;
  /** The last error, already phrased for a user, or null. */
  readonly error: string | null;
}

/**
 * Options of a sign-in attempt.
 */
export interface ISignInOptions {
  /** `popup` (browser on the Jupyter machine) or `paste` (remote server). */
  readonly method?: 'popup' | 'paste';
  /** SSO organization; defaults to the `organization` setting. */
  readonly organization?: string;
}

/**
 * The CARTO session of this JupyterLab.
 *
 * The session keeps refresh tokens inside the browser; only access tokens are
 * handed out, through {@link ICartoSession.getAccessToken}.
 */
export interface ICartoSession {
  /** The current session, without secrets. */
  readonly info: ICartoSessionInfo;
  /** Emitted whenever {@link ICartoSession.info} changes (sign-in, refresh, sign-out, error). */
  readonly changed: ISignal<ICartoSession, ICartoSessionInfo>;
  /**
   * Emitted when the access token will expire soon and cannot be renewed
   * without the user (no refresh token, or refresh failed); the argument is
   * the number of seconds left.
   */
  readonly expiring: ISignal<ICartoSession, number>;
  /** The SSO organization of the settings (empty: none). */
  readonly organization: string;
  /** The sign-in time limit of the settings, in seconds. */
  readonly signInTimeoutSeconds: number;
  /** Resolves once the stored session (if any) has been restored. */
  readonly ready: Promise<void>;
  /**
   * A valid access token, refreshed first when it is valid for less than
   * `minTtlSeconds` (default 30; at most half the token lifetime is
   * promised), or null when signed out.
   */
  getAccessToken(minTtlSeconds?: number): Promise<string | null>;
  /** Run a sign-in; resolves when signed in, rejects with a user-facing error. */
  signIn(options?: ISignInOptions): Promise<void>;
  /** Cancel a sign-in that is under way. */
  cancelSignIn(): void;
  /** Sign out in every tab and revoke the refresh token at the provider. */
  signOut(): Promise<void>;
}

/**
 * The CARTO session token.
 */
export const ICartoSession = new Token<ICartoSession>(
  'jupyterlab-carto-auth:ICartoSession',
  'The CARTO session: who is signed in, and an always-fresh access token.'
);

/**
 * The kernels the CARTO session is handed to.
 */
export interface ICartoKernels {
  /** Why some kernels could not be attached, one sentence each. */
  readonly problems: string[];
  /** Emitted when {@link ICartoKernels.problems} changes. */
  readonly problemsChanged: ISignal<ICartoKernels, void>;
  /** Number of kernels attached now. */
  readonly attachedCount: number;
}

/**
 * The kernel bridge token.
 */
export const ICartoKernels = new Token<ICartoKernels>(
  'jupyterlab-carto-auth:ICartoKernels',
  'The notebook and console kernels that receive the CARTO session.'
);
