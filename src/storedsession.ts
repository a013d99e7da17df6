// What a session is once signed in: the record persisted in lab state and
// shared with other tabs (no clear-text secret), the sealed token material,
// and the public view of both.
import type { UserProfile } from 'oidc-client-ts';

import { ICartoSessionInfo, ICartoUser } from './tokens';
import { ISealed } from './vault';

/** Token material: only ever stored sealed. */
export interface ISecrets {
  readonly accessToken: string;
  readonly refreshToken: string | null;
  readonly idToken: string | null;
  readonly scope: string | null;
  readonly profile: UserProfile;
}

/** What is persisted (lab state) and shared (other tabs): no clear-text secret. */
export interface IStoredSession {
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
