// The relay client: its URLs under the session's server, and what each
// answer of the server becomes.
import { nullTranslator } from '@jupyterlab/translation';

import { CartoAuthError } from '../errors';
import { RelayClient } from '../relay';
import { fakeServer, json, pathOf } from './fakeserver';

const trans = nullTranslator.load('jupyterlab_carto_auth');
const REDIRECT = 'http://localhost:10000/callback/';

describe('RelayClient', () => {
  it('starts an attempt on the session server and returns its id', async () => {
    const { settings, requests } = fakeServer(() =>
      json(200, { attempt: 'a1' })
    );
    const relay = new RelayClient(trans, settings);
    await expect(relay.start(REDIRECT, 'st')).resolves.toBe('a1');
    expect(requests[0].method).toBe('POST');
    expect(pathOf(requests[0])).toBe('/user/alice/carto-auth/relay');
    expect(await requests[0].json()).toEqual({
      redirect_uri: REDIRECT,
      state: 'st'
    });
  });

  it('says the port is busy on 409, offering the paste flow', async () => {
    const { settings } = fakeServer(() => json(409, {}));
    const error = await new RelayClient(trans, settings)
      .start(REDIRECT, 'st')
      .catch(e => e);
    expect(error).toBeInstanceOf(CartoAuthError);
    expect(error.code).toBe('port_busy');
    expect(error.offerPaste).toBe(true);
    expect(error.message).toBe(
      'The local sign-in port is in use by another program.'
    );
  });

  it('names a server without the extension', async () => {
    const { settings } = fakeServer(
      () => new Response('nope', { status: 404 })
    );
    const error = await new RelayClient(trans, settings)
      .start(REDIRECT, 'st')
      .catch(e => e);
    expect(error.code).toBe('bad_response');
    expect(error.message).toContain('(404)');
    expect(error.message).toContain('Is jupyterlab-carto-auth enabled');
  });

  it('long-polls until done and rebuilds the callback URL', async () => {
    const answers = [
      json(200, { status: 'pending' }),
      json(200, { status: 'done', query: '?code=c&state=st' })
    ];
    const { settings, requests } = fakeServer(() => answers.shift()!);
    const url = await new RelayClient(trans, settings).poll(
      'a1',
      REDIRECT,
      new AbortController().signal
    );
    expect(url).toBe('http://localhost:10000/callback/?code=c&state=st');
    expect(requests.map(pathOf)).toEqual([
      '/user/alice/carto-auth/relay/a1?wait=20',
      '/user/alice/carto-auth/relay/a1?wait=20'
    ]);
  });

  it('ends a poll the server gave up on as a timeout', async () => {
    const { settings } = fakeServer(() => json(200, { status: 'expired' }));
    const error = await new RelayClient(trans, settings)
      .poll('a1', REDIRECT, new AbortController().signal)
      .catch(e => e);
    expect(error.code).toBe('timeout');
  });

  it('ends a poll whose attempt another tab replaced as cancelled, not as a timeout', async () => {
    // The server listens for one attempt at a time: another tab's sign-in
    // dropped this one (404). That sign-in signs every tab in.
    const { settings } = fakeServer(() =>
      json(404, { error: 'not_found', message: 'unknown attempt' })
    );
    const error = await new RelayClient(trans, settings)
      .poll('a1', REDIRECT, new AbortController().signal)
      .catch(e => e);
    expect(error).toBeInstanceOf(CartoAuthError);
    expect(error.code).toBe('cancelled');
    expect(error.message).toContain('Another CARTO sign-in started');
  });

  it('cancels with DELETE and never fails', async () => {
    const { settings, requests } = fakeServer(() => {
      throw new TypeError('Failed to fetch');
    });
    await expect(
      new RelayClient(trans, settings).cancel('a1')
    ).resolves.toBeUndefined();
    expect(requests[0].method).toBe('DELETE');
    expect(pathOf(requests[0])).toBe('/user/alice/carto-auth/relay/a1');
  });
});
