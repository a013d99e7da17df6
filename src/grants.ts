// The two calls the lab makes with a session's refresh token: renew the
// access token (RFC 6749 §6) and revoke the refresh token on sign-out
// (RFC 7009). Both go to the session's own provider and client (see
// ISessionClient), never to the current settings. Loaded on first use, with
// oidc-client-ts.
import { SigninResponse } from 'oidc-client-ts';

import { OidcClients } from './oidc';
import { ISecrets, ISessionClient } from './storedsession';

/** Renew the access token with the refresh token, at the session's token endpoint. */
export async function refreshGrant(
  clients: OidcClients,
  secrets: ISecrets
): Promise<SigninResponse> {
  const client = await clients.forSession(secrets.client);
  return client.useRefreshToken({
    // oidc-client-ts bounds a refresh only by this argument, not by its
    // requestTimeoutInSeconds setting: without it a provider that never
    // answers holds the refresh (and the refresh lock of every tab) forever.
    timeoutInSeconds: client.settings.requestTimeoutInSeconds,
    state: {
      refresh_token: secrets.refreshToken!,
      id_token: secrets.idToken ?? undefined,
      session_state: null,
      scope: secrets.scope ?? undefined,
      profile: secrets.profile
    } as any
  });
}

/** Revoke a refresh token at the revocation endpoint of the session's provider. */
export async function revokeRefreshToken(
  clients: OidcClients,
  session: ISessionClient,
  refreshToken: string
): Promise<void> {
  const client = await clients.forSession(session);
  await client.revokeToken(refreshToken, 'refresh_token');
}
