// oidc-client-ts configured like CARTO's Auth0 tenant: authorization code +
// PKCE (S256), state, nonce, the `audience` parameter on authorize and token
// requests and the `organization` parameter for SSO. RFC 6749, RFC 7636.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import {
  InMemoryWebStorage,
  OidcClient,
  WebStorageStateStore
} from 'oidc-client-ts';

import { ICartoSettings } from './settings';

/** Options of {@link createOidcClient}. */
export interface IOidcClientOptions {
  readonly settings: ICartoSettings;
  /** Redirect URI of this attempt (local callback, Jupyter callback or code page). */
  readonly redirectUri: string;
  /** Send token requests through the Jupyter server's proxy. */
  readonly viaServer: boolean;
  /** SSO organization for this attempt. */
  readonly organization?: string;
  readonly serverSettings?: ServerConnection.ISettings;
}

/** The URL of the Jupyter server's pass-through proxy for a provider URL. */
export function proxiedUrl(
  target: string,
  serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return (
    URLExt.join(serverSettings.baseUrl, 'carto-auth', 'proxy', 'raw') +
    URLExt.objectToQueryString({ url: target })
  );
}

/** The `_xsrf` cookie Jupyter checks on state-changing requests. */
function xsrfToken(): string {
  const match = document.cookie.match('\\b_xsrf=([^;]*)\\b');
  return match ? decodeURIComponent(match[1]) : '';
}

/**
 * An OidcClient for one sign-in attempt or refresh. Its state store lives in
 * this page's memory only: PKCE verifiers and nonces never touch storage.
 */
export function createOidcClient(options: IOidcClientOptions): OidcClient {
  const { settings, redirectUri, viaServer, organization } = options;
  const route = (url: string) =>
    viaServer ? proxiedUrl(url, options.serverSettings) : url;
  const extraQueryParams: Record<string, string> = {
    audience: settings.audience
  };
  if (organization) {
    extraQueryParams.organization = organization;
  }
  return new OidcClient({
    authority: settings.issuer,
    metadata: {
      issuer: settings.issuer,
      authorization_endpoint: settings.authorizeUrl,
      token_endpoint: route(settings.tokenUrl),
      revocation_endpoint: settings.revocationUrl
        ? route(settings.revocationUrl)
        : undefined
    },
    client_id: settings.clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: settings.scope,
    extraQueryParams,
    extraTokenParams: { audience: settings.audience },
    loadUserInfo: false,
    requestTimeoutInSeconds: 30,
    staleStateAgeInSeconds: settings.signInTimeoutSeconds,
    stateStore: new WebStorageStateStore({
      prefix: 'carto-auth.',
      store: STATE_STORAGE
    }),
    fetchRequestCredentials: viaServer ? 'same-origin' : 'omit',
    extraHeaders: viaServer ? { 'X-XSRFToken': xsrfToken } : {}
  });
}

/**
 * One in-memory store for the whole page, so that an attempt started by one
 * client (e.g. the paste dialog) can be completed by another.
 */
const STATE_STORAGE = new InMemoryWebStorage();
