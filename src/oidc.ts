// oidc-client-ts configured like CARTO's Auth0 tenant: authorization code +
// PKCE (S256), state, nonce, the `audience` parameter on authorize and token
// requests and the `organization` parameter for SSO. RFC 6749, RFC 7636.
// OidcClients is the one place that builds a client: sign-in, refresh and
// revocation all ask it.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import {
  InMemoryWebStorage,
  OidcClient,
  WebStorageStateStore
} from 'oidc-client-ts';

import { tokenProbe } from './probe';
import { apiUrl } from './request';
import { ICartoSettings } from './settings';
import { Transport } from './transport';

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
    apiUrl('proxy/raw', serverSettings) +
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

/** What one client is for; see {@link OidcClients.create}. */
export interface IClientRequest {
  readonly settings: ICartoSettings;
  /** Redirect URI of this attempt; default: the `redirectUri` setting. */
  readonly redirectUri?: string;
  /** SSO organization of a sign-in attempt. */
  readonly organization?: string;
  /** The token endpoint whose route decides (refresh: the session's own); default: the setting. */
  readonly tokenUrl?: string;
  /** Probe the provider even when the route is known (a sign-in reports a provider that is down). */
  readonly checkAlive?: boolean;
}

/**
 * Builds every OidcClient of the lab: picks the route of its token requests
 * (browser or the server's proxy) with the transport's probe, then
 * configures the client for it.
 */
export class OidcClients {
  constructor(
    private _transport: Transport,
    private _serverSettings?: ServerConnection.ISettings
  ) {}

  async create(request: IClientRequest): Promise<OidcClient> {
    const { settings } = request;
    const viaServer = await this._transport.viaServer(
      request.tokenUrl ?? settings.tokenUrl,
      tokenProbe(settings),
      request.checkAlive ?? false
    );
    return createOidcClient({
      settings,
      redirectUri: request.redirectUri ?? settings.redirectUri,
      viaServer,
      organization: request.organization,
      serverSettings: this._serverSettings
    });
  }
}

/**
 * One in-memory store for the whole page, so that an attempt started by one
 * client (e.g. the paste dialog) can be completed by another.
 */
const STATE_STORAGE = new InMemoryWebStorage();
