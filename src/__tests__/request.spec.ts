// requestAPI: every carto-auth/ URL from the given server settings, and a
// server that does not answer mapped once (cancelled vs network).
import { CartoAuthError } from '../errors';
import { apiUrl, requestAPI } from '../request';
import { fakeServer, json, pathOf } from './fakeserver';

describe('apiUrl', () => {
  it('joins the endpoint under the server base URL', () => {
    const { settings } = fakeServer(() => json(200, {}));
    expect(apiUrl('relay/abc', settings)).toBe(
      'http://lab.test/user/alice/carto-auth/relay/abc'
    );
    expect(apiUrl('proxy/raw', settings)).toBe(
      'http://lab.test/user/alice/carto-auth/proxy/raw'
    );
  });
});

describe('requestAPI', () => {
  it('sends to the given server, with the init it was given', async () => {
    const { settings, requests } = fakeServer(() => json(201, { ok: 1 }));
    const response = await requestAPI(
      'relay',
      { method: 'POST', body: '{}' },
      settings
    );
    expect(response.status).toBe(201);
    expect(requests).toHaveLength(1);
    expect(requests[0].method).toBe('POST');
    expect(pathOf(requests[0])).toBe('/user/alice/carto-auth/relay');
  });

  it('resolves with error statuses: callers read their own payloads', async () => {
    const { settings } = fakeServer(() => json(409, { message: 'busy' }));
    const response = await requestAPI('relay', {}, settings);
    expect(response.status).toBe(409);
  });

  it('reports a server that does not answer as a network error', async () => {
    const { settings } = fakeServer(() => {
      throw new TypeError('Failed to fetch');
    });
    const error = await requestAPI('proxy', {}, settings).catch(e => e);
    expect(error).toBeInstanceOf(CartoAuthError);
    expect(error.code).toBe('network');
    expect(error.message).toMatch(
      /^The Jupyter server did not answer \(.*Failed to fetch.*\)\.$/
    );
  });

  /** What requestAPI throws when fetch fails because the signal was aborted with `reason`. */
  async function abortedWith(reason: DOMException): Promise<CartoAuthError> {
    const controller = new AbortController();
    controller.abort(reason);
    const { settings } = fakeServer(() => {
      throw reason;
    });
    return requestAPI('relay/x', { signal: controller.signal }, settings).catch(
      e => e
    );
  }

  it('reports an attempt the caller aborted as cancelled', async () => {
    const error = await abortedWith(new DOMException('aborted', 'AbortError'));
    expect(error).toBeInstanceOf(CartoAuthError);
    expect(error.code).toBe('cancelled');
    expect(error.message).toBe('Sign-in cancelled.');
  });

  it('reports its own time limit as a network error, not a cancel', async () => {
    const error = await abortedWith(
      new DOMException('timed out', 'TimeoutError')
    );
    expect(error.code).toBe('network');
  });
});
