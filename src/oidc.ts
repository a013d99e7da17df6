// oidc-client-ts configured like CARTO's Auth0 tenant: authorization code +
// PKCE (S256), state, nonce, the `audience` parameter on authorize and token
// requests and the `organization` parameter for SSO. RFC 6749, RFC 7636.
// OidcClients is the one place that builds a client: sign-in from the
// settings, refresh and revocation from the session's own client only.
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
import { ISessionClient, sessionClientOf } from './storedsession';
import { Transport } from './transport';

/** What only a sign-in attempt needs. */
export interface ISignInAttempt {
  readonly settings: ICartoSettings;
  /** Redirect URI of this attempt (local callback, Jupyter callback or code page). */
  readonly redirectUri: string;
  /** SSO organization for this attempt. */
  readonly organization?: string;
}

/** Options of {@link createOidcClient}. */
export interface IOidcClientOptions {
  /** The provider and client: a sign-in's from its settings, a refresh's the session's. */
  readonly client: ISessionClient;
  /** A sign-in attempt; none for refresh and revocation. */
  readonly signIn?: ISignInAttempt;
  /** Send token requests through the Jupyter server's proxy. */
  readonly viaServer: boolean;
  readonly serverSettings?: ServerConnection.ISettings;
  /** Bound on each request, in seconds (the `requestTimeoutSeconds` setting). */
  readonly timeoutSeconds?: number;
}

/** The default bound on a request to the identity provider, in seconds. */
export const REQUEST_TIMEOUT_SECONDS = 30;

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
  const { client, signIn, viaServer } = options;
  const route = (url: string) =>
    viaServer ? proxiedUrl(url, options.serverSettings) : url;
  const extraQueryParams: Record<string, string> = {
    audience: client.audience
  };
  if (signIn?.organization) {
    extraQueryParams.organization = signIn.organization;
  }
  return new OidcClient({
    authority: client.issuer,
    metadata: {
      issuer: client.issuer,
      authorization_endpoint: signIn?.settings.authorizeUrl,
      token_endpoint: route(client.tokenUrl),
      revocation_endpoint: client.revocationUrl
        ? route(client.revocationUrl)
        : undefined
    },
    client_id: client.clientId,
    // A refresh (RFC 6749 §6) and a revocation send no redirect URI.
    redirect_uri: signIn?.redirectUri ?? '',
    response_type: 'code',
    scope: client.scope,
    extraQueryParams,
    extraTokenParams: { audience: client.audience },
    loadUserInfo: false,
    requestTimeoutInSeconds: options.timeoutSeconds ?? REQUEST_TIMEOUT_SECONDS,
    staleStateAgeInSeconds: signIn?.settings.signInTimeoutSeconds,
    stateStore: new WebStorageStateStore({
      prefix: 'carto-auth.',
      store: STATE_STORAGE
    }),
    fetchRequestCredentials: viaServer ? 'same-origin' : 'omit',
    extraHeaders: viaServer ? { 'X-XSRFToken': xsrfToken } : {}
  });
}

/** What a sign-in client is for; see {@link OidcClients.create}. */
export interface IClientRequest {
  readonly settings: ICartoSettings;
  /** Redirect URI of this attempt; default: the `redirectUri` setting. */
  readonly redirectUri?: string;
  /** SSO organization of a sign-in attempt. */
  readonly organization?: string;
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
    private _serverSettings?: ServerConnection.ISettings,
    private _timeoutSeconds: () => number = () => REQUEST_TIMEOUT_SECONDS
  ) {}

  /** A client for a sign-in attempt, from the settings of the attempt. */
  async create(request: IClientRequest): Promise<OidcClient> {
    const { settings } = request;
    const client = sessionClientOf(settings);
    return createOidcClient({
      client,
      signIn: {
        settings,
        redirectUri: request.redirectUri ?? settings.redirectUri,
        organization: request.organization
      },
      viaServer: await this._viaServer(client, request.checkAlive ?? false),
      serverSettings: this._serverSettings,
      timeoutSeconds: this._timeoutSeconds()
    });
  }

  /**
   * A client for the refresh or revocation of a session: built from the
   * session's own client only (endpoints, client id, audience, transport),
   * never from the current settings.
   */
  async forSession(client: ISessionClient): Promise<OidcClient> {
    return createOidcClient({
      client,
      viaServer: await this._viaServer(client, false),
      serverSettings: this._serverSettings,
      timeoutSeconds: this._timeoutSeconds()
    });
  }

  private _viaServer(
    client: ISessionClient,
    checkAlive: boolean
  ): Promise<boolean> {
    return this._transport.viaServer(
      client.tokenUrl,
      tokenProbe(client),
      checkAlive,
      client.tokenTransport
    );
  }
}

/**
 * One in-memory store for the whole page, so that an attempt started by one
 * client (e.g. the paste dialog) can be completed by another.
 */
const STATE_STORAGE = new InMemoryWebStorage();
