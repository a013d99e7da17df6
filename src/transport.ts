// How requests reach CARTO's identity provider and account APIs: straight
// from the browser when the provider allows this origin (CORS), otherwise
// through the Jupyter server extension, which forwards only to configured
// CARTO hosts and requires Jupyter's own auth and XSRF token.
import { ServerConnection } from '@jupyterlab/services';

import { CartoAuthError, isFetchNetworkError } from './errors';
import { requestAPI } from './request';

/** A minimal HTTP response. */
export interface IHttpResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** One HTTP request to an identity provider or CARTO API. */
export interface IHttpRequest {
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Bound on the whole request, in milliseconds. */
  readonly timeoutMs: number;
}

/** Send a request from the browser. Throws TypeError on network or CORS failure. */
export async function browserFetch(req: IHttpRequest): Promise<IHttpResponse> {
  const response = await fetch(req.url, {
    method: req.method,
    headers: req.headers,
    body: req.body,
    credentials: 'omit',
    cache: 'no-store',
    redirect: 'error',
    signal: AbortSignal.timeout(req.timeoutMs)
  });
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    body: await response.text()
  };
}

/** Send a request through the Jupyter server's allow-listed proxy. */
export async function serverFetch(
  req: IHttpRequest,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<IHttpResponse> {
  const response = await requestAPI(
    'proxy',
    {
      method: 'POST',
      body: JSON.stringify({
        url: req.url,
        method: req.method,
        headers: req.headers ?? {},
        body: req.body
      }),
      signal: AbortSignal.timeout(req.timeoutMs + 5000)
    },
    settings
  );
  const text = await response.text();
  let payload: any;
  try {
    payload = JSON.parse(text);
  } catch {
    throw new CartoAuthError(
      'bad_response',
      `The Jupyter server's CARTO proxy answered ${response.status} without JSON. Is jupyterlab-carto-auth installed and enabled on the server (jupyter server extension list)?`
    );
  }
  if (!response.ok) {
    throw new CartoAuthError(
      response.status === 504 || payload.error === 'network'
        ? 'network'
        : 'provider',
      String(payload.message ?? payload.error ?? response.statusText)
    );
  }
  return {
    status: Number(payload.status),
    contentType: String(payload.content_type ?? ''),
    body: String(payload.body ?? '')
  };
}

/**
 * Chooses the browser or the server for each host, remembering the choice.
 */
export class Transport {
  constructor(
    private _mode: () => 'auto' | 'browser' | 'server',
    private _serverSettings?: ServerConnection.ISettings
  ) {}

  /**
   * Whether requests to this URL's origin go through the server.
   *
   * `probe` is a harmless request whose answer tells whether the browser may
   * read responses from that origin (CORS); default: a GET of the URL. The
   * route is remembered per origin; with `checkAlive` the probe runs anyway,
   * so that a provider that is down is reported before a sign-in starts.
   * `mode` defaults to the setting (a session's refresh passes its own).
   */
  async viaServer(
    url: string,
    probe?: IHttpRequest,
    checkAlive = false,
    mode = this._mode()
  ): Promise<boolean> {
    const origin = new URL(url).origin;
    const known = this._viaServer.get(origin);
    if (!checkAlive && (mode !== 'auto' || known !== undefined)) {
      return mode === 'auto' ? known! : mode === 'server';
    }
    const request = probe ?? { url, method: 'GET', timeoutMs: 10000 };
    const host = new URL(url).host;
    const down = (reason: string) =>
      new CartoAuthError(
        'network',
        `The CARTO sign-in service at ${host} is not reachable (${reason}). Check your network connection, or try again later.`
      );
    if (mode !== 'server') {
      try {
        const response = await browserFetch(request);
        if (response.status >= 500) {
          throw down(`HTTP ${response.status}`);
        }
        this._viaServer.set(origin, false);
        return false;
      } catch (error) {
        if (error instanceof CartoAuthError || mode === 'browser') {
          throw error instanceof CartoAuthError ? error : down(String(error));
        }
        // The browser may not read this origin, or cannot reach it: ask the server.
      }
    }
    let response: IHttpResponse;
    try {
      response = await serverFetch(request, this._serverSettings);
    } catch (error) {
      throw down(error instanceof Error ? error.message : String(error));
    }
    if (response.status >= 500) {
      throw down(`HTTP ${response.status}`);
    }
    this._viaServer.set(origin, true);
    return true;
  }

  /** The route found for this URL's origin, if a request or probe found one. */
  routeOf(url: string): 'browser' | 'server' | undefined {
    const known = this._viaServer.get(new URL(url).origin);
    return known === undefined ? undefined : known ? 'server' : 'browser';
  }

  /** Send a request by the route chosen for its origin. */
  async fetch(req: IHttpRequest): Promise<IHttpResponse> {
    const origin = new URL(req.url).origin;
    if (
      req.method === 'GET' &&
      this._mode() === 'auto' &&
      !this._viaServer.has(origin)
    ) {
      return this._firstGet(req, origin);
    }
    if (await this.viaServer(req.url)) {
      return serverFetch(req, this._serverSettings);
    }
    try {
      return await browserFetch(req);
    } catch (error) {
      if (error instanceof DOMException && error.name === 'TimeoutError') {
        throw new CartoAuthError(
          'timeout',
          `${new URL(req.url).host} did not answer within ${Math.round(req.timeoutMs / 1000)} s.`
        );
      }
      if (isFetchNetworkError(error)) {
        throw new CartoAuthError(
          'network',
          `Could not reach ${new URL(req.url).host}. Check your network connection and the CARTO settings.`
        );
      }
      throw error;
    }
  }

  /**
   * A GET to an origin whose route is not known yet is its own probe: sent
   * from the browser, and through the server only if the browser may not read
   * the answer. The default probe (the URL without the request's headers)
   * would reach a CARTO API without its token: a 401 there on every sign-in.
   * A GET changes nothing, so sending it twice when the browser cannot read
   * the first answer is harmless; a 5xx answer leaves the route unknown.
   */
  private async _firstGet(
    req: IHttpRequest,
    origin: string
  ): Promise<IHttpResponse> {
    let response: IHttpResponse;
    let viaServer = false;
    try {
      response = await browserFetch(req);
    } catch {
      // The browser may not read this origin, or cannot reach it: ask the server.
      viaServer = true;
      response = await serverFetch(req, this._serverSettings);
    }
    if (response.status < 500) {
      this._viaServer.set(origin, viaServer);
    }
    return response;
  }

  private _viaServer = new Map<string, boolean>();
}
