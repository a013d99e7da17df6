// Transport sends proxied requests to the session's own Jupyter server
// (its serverSettings), not to the page's default one.
import { CartoAuthError } from '../errors';
import { serverFetch, Transport } from '../transport';
import { fakeServer, json, pathOf } from './fakeserver';

const REQUEST = {
  url: 'https://auth.example.com/oauth/token',
  method: 'POST' as const,
  body: 'grant_type=refresh_token',
  timeoutMs: 1000
};

describe('Transport', () => {
  it('proxies through the server of its serverSettings', async () => {
    const { settings, requests } = fakeServer(() =>
      json(200, { status: 200, content_type: 'text/plain', body: 'ok' })
    );
    const transport = new Transport(() => 'server', settings);
    await expect(transport.viaServer(REQUEST.url)).resolves.toBe(true);
    const response = await transport.fetch(REQUEST);
    expect(response).toEqual({
      status: 200,
      contentType: 'text/plain',
      body: 'ok'
    });
    expect(requests.map(pathOf)).toEqual(['/user/alice/carto-auth/proxy']);
    expect(await requests[0].json()).toEqual({
      url: REQUEST.url,
      method: 'POST',
      headers: {},
      body: REQUEST.body
    });
  });
});

describe('Transport, route of an origin not seen yet', () => {
  const ACCOUNTS = {
    url: 'https://accounts.example.com/accounts',
    method: 'GET' as const,
    headers: { authorization: 'Bearer abc', accept: 'application/json' },
    timeoutMs: 1000
  };
  const realFetch = window.fetch;
  afterEach(() => {
    window.fetch = realFetch;
  });

  /** The browser's fetch, answering `answer` (or failing as CORS does) and recording each request. */
  function browser(answer: (init: RequestInit) => Response | 'cors') {
    const sent: RequestInit[] = [];
    window.fetch = (async (_url: unknown, init: RequestInit) => {
      sent.push(init);
      const response = answer(init);
      if (response === 'cors') {
        throw new TypeError('Failed to fetch');
      }
      return response;
    }) as typeof window.fetch;
    return sent;
  }

  it('sends a GET once, as its own probe: never without its token', async () => {
    // Given an API that wants a token, readable from the browser
    const sent = browser(init =>
      (init.headers as Record<string, string> | undefined)?.authorization
        ? json(200, { tenant_domain: 'acme.app.carto.com' })
        : json(401, { error: 'invalid_token' })
    );
    const transport = new Transport(() => 'auto');

    // When the lab GETs it the first time, then again
    const first = await transport.fetch(ACCOUNTS);
    const second = await transport.fetch(ACCOUNTS);

    // Then each GET went once, with its Authorization header: no 401 probe
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(sent.map(init => init.headers)).toEqual([
      ACCOUNTS.headers,
      ACCOUNTS.headers
    ]);
    await expect(transport.viaServer(ACCOUNTS.url)).resolves.toBe(false);
  });

  it('sends a GET the browser may not read through the server, and remembers', async () => {
    const sent = browser(() => 'cors');
    const { settings, requests } = fakeServer(() =>
      json(200, { status: 200, content_type: 'application/json', body: '{}' })
    );
    const transport = new Transport(() => 'auto', settings);

    const first = await transport.fetch(ACCOUNTS);
    await transport.fetch(ACCOUNTS);

    expect(first.status).toBe(200);
    expect(sent).toHaveLength(1);
    expect(requests.map(pathOf)).toEqual([
      '/user/alice/carto-auth/proxy',
      '/user/alice/carto-auth/proxy'
    ]);
    expect((await requests[0].json()).headers).toEqual(ACCOUNTS.headers);
    await expect(transport.viaServer(ACCOUNTS.url)).resolves.toBe(true);
  });
});

describe('serverFetch', () => {
  it('names a server without the extension when the proxy answers no JSON', async () => {
    const { settings } = fakeServer(
      () => new Response('<html>', { status: 404 })
    );
    const error = await serverFetch(REQUEST, settings).catch(e => e);
    expect(error).toBeInstanceOf(CartoAuthError);
    expect(error.code).toBe('bad_response');
    expect(error.message).toContain('answered 404 without JSON');
  });

  it('maps a proxy failure to network or provider', async () => {
    const down = fakeServer(() => json(504, { message: 'gateway' }));
    const refused = fakeServer(() => json(403, { message: 'not allowed' }));
    const first = await serverFetch(REQUEST, down.settings).catch(e => e);
    const second = await serverFetch(REQUEST, refused.settings).catch(e => e);
    expect([first.code, first.message]).toEqual(['network', 'gateway']);
    expect([second.code, second.message]).toEqual(['provider', 'not allowed']);
  });
});
