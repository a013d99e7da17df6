// What a session is once signed in: the record persisted in lab state and
// shared with other tabs (no clear-text secret), the sealed token material,
// and the public view of both.
import type { UserProfile } from 'oidc-client-ts';

import type { ICartoSettings } from './settings';
import { ICartoSessionInfo, ICartoUser } from './tokens';
import { ISealed } from './vault';

/**
 * The provider and client a session was issued by, from the settings of its
 * sign-in. Refresh (RFC 6749 §6) and revocation (RFC 7009) use these and
 * never the current settings: whoever can write settings (kernel code can,
 * through the REST API) must not be able to send the refresh token elsewhere.
 * Kept inside the sealed material, so an edited workspace file cannot change
 * them either.
 */
export interface ISessionClient {
  readonly issuer: string;
  readonly clientId: string;
  readonly tokenUrl: string;
  /** Empty: the session's refresh token is not revoked on sign-out. */
  readonly revocationUrl: string;
  readonly audience: string;
  /** The scope requested at sign-in. */
  readonly scope: string;
  /**
   * How token requests travel: the setting at sign-in, or (setting auto) the
   * route the sign-in found, so that other tabs need no route probe.
   */
  readonly tokenTransport: 'auto' | 'browser' | 'server';
}

/** The provider and client of a sign-in made with these settings. */
export function sessionClientOf(settings: ICartoSettings): ISessionClient {
  return {
    issuer: settings.issuer,
    clientId: settings.clientId,
    tokenUrl: settings.tokenUrl,
    revocationUrl: settings.revocationUrl,
    audience: settings.audience,
    scope: settings.scope,
    tokenTransport: settings.tokenTransport
  };
}

/** Token material: only ever stored sealed. */
export interface ISecrets {
  readonly accessToken: string;
  readonly refreshToken: string | null;
  readonly idToken: string | null;
  readonly scope: string | null;
  readonly profile: UserProfile;
  /** Where refresh and revocation go. */
  readonly client: ISessionClient;
}

/** What is persisted (lab state) and shared (other tabs): no clear-text secret. */
export interface IStoredSession {
  readonly v: 1;
  /** Identifies one sign-in; refreshes keep it. */
  readonly sessionId: string;
  readonly user: ICartoUser;
  readonly obtainedAt: number;
  readonly expiresAt: number;
  readonly apiBaseUrl: string | null;
  readonly region: string | null;
  readonly canRefresh: boolean;
  readonly sealed: ISealed;
}

/** The public view of no session. */
export const SIGNED_OUT: ICartoSessionInfo = {
  status: 'signed-out',
  user: null,
  expiresAt: null,
  apiBaseUrl: null,
  region: null,
  canRefresh: false,
  error: null
};

/** The public view of a stored session. */
export function infoOf(stored: IStoredSession): ICartoSessionInfo {
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

/** How long the access token of a session was issued for, in ms (0: none). */
export function lifetimeOf(stored: IStoredSession | null): number {
  return stored ? stored.expiresAt - stored.obtainedAt : 0;
}
