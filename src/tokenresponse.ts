// A token response turned into the session: the user from the token's
// claims, the API base URL from discovery (first sign-in only), the token
// material sealed. Loaded on first use (discovery brings js-yaml).
import type { SigninResponse } from 'oidc-client-ts';
import { TranslationBundle } from '@jupyterlab/translation';
import { UUID } from '@lumino/coreutils';

import { discoverApiBaseUrl } from './discovery';
import { ICartoSettings } from './settings';
import {
  ISecrets,
  ISessionClient,
  IStoredSession,
  sessionClientOf
} from './storedsession';
import { ICartoUser } from './tokens';
import { Transport } from './transport';
import { ISealed } from './vault';

/** What {@link sessionFromResponse} needs besides the response. */
export interface ISessionFromResponseOptions {
  /** The settings of the sign-in (discovery, and the client a new session keeps). */
  readonly settings: ICartoSettings;
  readonly transport: Transport;
  readonly trans: TranslationBundle;
  /** Seal the secrets, bound to the session's clear fields. */
  readonly seal: (
    secrets: ISecrets,
    clearFields: Omit<IStoredSession, 'sealed'>
  ) => Promise<ISealed>;
}

/** The session a token response makes. */
export interface ISessionFromResponse {
  readonly stored: IStoredSession;
  readonly secrets: ISecrets;
  /** Why discovery failed (the session is signed in all the same), or null. */
  readonly discoveryError: string | null;
}

/**
 * The session after a sign-in (no `before`) or after a refresh of `before`
 * (whose identity, discovery and client it keeps, and the refresh token of
 * `current` when the answer brings none).
 *
 * @param current - the token material the tab holds now, or null.
 */
export async function sessionFromResponse(
  response: SigninResponse,
  before: IStoredSession | undefined,
  current: ISecrets | null,
  options: ISessionFromResponseOptions
): Promise<ISessionFromResponse> {
  const { settings, trans } = options;
  const now = Date.now();
  const expiresIn = lifetimeSeconds(response);
  // A refresh keeps the client of the sign-in, whatever the settings say now.
  const client = before
    ? current?.client
    : withFoundRoute(sessionClientOf(settings), options.transport);
  if (!client) {
    throw new Error('A refreshed session needs the client it was issued by.');
  }
  const secrets: ISecrets = {
    accessToken: response.access_token,
    // Without rotation a refresh answer carries no refresh token: keep ours.
    refreshToken:
      response.refresh_token ??
      (before ? (current?.refreshToken ?? null) : null),
    idToken: response.id_token ?? current?.idToken ?? null,
    scope: response.scope ?? null,
    profile: response.profile ?? current?.profile,
    client
  };
  const claims = {
    ...(decodeJwtPayload(response.access_token) ?? {}),
    ...response.profile
  };
  const email = String(
    claims.email ??
      claims['https://carto.com/email'] ??
      before?.user.email ??
      ''
  );
  const user: ICartoUser = {
    email,
    name: String(claims.name ?? email),
    org:
      typeof claims.org_id === 'string'
        ? claims.org_id
        : (before?.user.org ?? null)
  };
  let apiBaseUrl = before?.apiBaseUrl ?? null;
  let region = before?.region ?? null;
  let discoveryError: string | null = null;
  if (!before) {
    try {
      const found = await discoverApiBaseUrl(
        settings,
        secrets.accessToken,
        options.transport
      );
      apiBaseUrl = found.apiBaseUrl;
      region = found.region;
    } catch (error) {
      discoveryError = trans.__(
        'Signed in, but the CARTO API base URL could not be found: %1',
        error instanceof Error ? error.message : String(error)
      );
    }
  }
  const fields: Omit<IStoredSession, 'sealed'> = {
    v: 1,
    sessionId: before?.sessionId ?? UUID.uuid4(),
    user,
    obtainedAt: now,
    expiresAt: now + expiresIn * 1000,
    apiBaseUrl,
    region,
    canRefresh: !!secrets.refreshToken
  };
  const stored: IStoredSession = {
    ...fields,
    sealed: await options.seal(secrets, fields)
  };
  return { stored, secrets, discoveryError };
}

/**
 * The client of a new session with the route its sign-in found to the token
 * endpoint (when the setting is auto). Other tabs that adopt the session then
 * refresh by that route at once, instead of each sending the provider a
 * probe first (a refresh request with a made-up token, which the provider
 * refuses): one request per refresh reaches the provider, however many tabs.
 */
function withFoundRoute(
  client: ISessionClient,
  transport: Transport
): ISessionClient {
  const route =
    client.tokenTransport === 'auto'
      ? transport.routeOf(client.tokenUrl)
      : undefined;
  return route ? { ...client, tokenTransport: route } : client;
}

/** Lifetime assumed for a token when neither the answer nor the token says. */
export const DEFAULT_LIFETIME_SECONDS = 3600;

/**
 * How long the access token lasts from now, in seconds: `expires_in`, else
 * the token's own `exp - iat` (a span on the provider's clock, so a clock
 * that is off changes nothing), else {@link DEFAULT_LIFETIME_SECONDS}. The
 * token's `exp` is never compared with this browser's clock.
 */
export function lifetimeSeconds(
  response: Pick<SigninResponse, 'expires_in' | 'access_token'>
): number {
  if (
    typeof response.expires_in === 'number' &&
    Number.isFinite(response.expires_in)
  ) {
    return response.expires_in;
  }
  const claims = decodeJwtPayload(response.access_token);
  const exp = Number(claims?.exp);
  const iat = Number(claims?.iat);
  if (Number.isFinite(exp) && Number.isFinite(iat) && exp > iat) {
    return exp - iat;
  }
  return DEFAULT_LIFETIME_SECONDS;
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
