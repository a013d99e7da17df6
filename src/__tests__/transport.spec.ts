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
