// A misbehaving identity provider, through the real oidc-client-ts: each
// fault of a refresh (no answer in time, a 500, garbage, a revoked refresh
// token) ends with its own message within the request time limit, and a
// token response without expires_in, or from a provider whose clock is off,
// still gets the token's real lifetime.
import { nullTranslator } from '@jupyterlab/translation';
import { ErrorResponse, ErrorTimeout, SigninResponse } from 'oidc-client-ts';

import { CartoAuthError } from '../errors';
import { refreshGrant } from '../grants';
import { OidcClients } from '../oidc';
import { exchangeError, refreshError } from '../oidcerrors';
import { ICartoSettings } from '../settings';
import { ISecrets, ISessionClient, IStoredSession } from '../storedsession';
import { lifetimeSeconds, sessionFromResponse } from '../tokenresponse';
import { Transport } from '../transport';

const trans = nullTranslator.load('jupyterlab_carto_auth');

const CLIENT: ISessionClient = {
  issuer: 'https://idp.example.com/',
  clientId: 'client',
  tokenUrl: 'https://idp.example.com/oauth/token',
  revocationUrl: '',
  audience: 'carto-cloud-native-api',
  scope: 'openid offline_access',
  tokenTransport: 'browser'
};

const SECRETS: ISecrets = {
  accessToken: 'access-1',
  refreshToken: 'refresh-1',
  idToken: null,
  scope: 'openid offline_access',
  profile: { sub: 'u1' } as any,
  client: CLIENT
};

const b64url = (value: unknown) =>
  btoa(JSON.stringify(value))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

/** An unsigned JWT with these claims (the lab never verifies signatures). */
const jwt = (claims: Record<string, unknown>) =>
  `${b64url({ alg: 'RS256', typ: 'at+jwt' })}.${b64url(claims)}.c2ln`;

/** A fetch that answers every request with `answer()`, counting calls. */
function fakeFetch(answer: (signal?: AbortSignal) => Promise<Response>) {
  const calls: string[] = [];
  globalThis.fetch = jest.fn(async (input: any, init?: any) => {
    calls.push(String(input));
    return answer(init?.signal);
  }) as any;
  return calls;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' }
  });

/** Refresh through the real oidc-client-ts, with a time limit of `seconds`. */
async function refreshWith(seconds: number) {
  const clients = new OidcClients(
    new Transport(() => 'browser'),
    undefined,
    () => seconds
  );
  try {
    await refreshGrant(clients, SECRETS);
  } catch (error) {
    return refreshError(error, trans, seconds);
  }
  throw new Error('the refresh succeeded');
}

describe('a refresh against a misbehaving provider', () => {
  const realFetch = globalThis.fetch;
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  it('that does not answer ends at the request time limit, saying so', async () => {
    // The provider holds the answer until the client gives up.
    const calls = fakeFetch(
      signal =>
        new Promise((_, reject) =>
          signal?.addEventListener('abort', () =>
            reject(new DOMException('aborted', 'AbortError'))
          )
        )
    );
    const started = Date.now();
    const failure = await refreshWith(1);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(3000);
    expect(failure.code).toBe('timeout');
    expect(failure.message).toBe(
      'the CARTO sign-in service did not answer within 1 s'
    );
    expect(calls).toHaveLength(1);
  });

  it('answering 500 says the service failed, with its description', async () => {
    fakeFetch(async () =>
      json(500, { error: 'server_error', error_description: 'boom' })
    );
    const failure = await refreshWith(5);
    expect(failure.code).toBe('provider');
    expect(failure.message).toBe('the CARTO sign-in service failed: boom');
  });

  it('answering garbage says the answer is not JSON', async () => {
    fakeFetch(
      async () =>
        new Response('<html>Bad gateway', {
          status: 200,
          headers: { 'content-type': 'application/json' }
        })
    );
    const failure = await refreshWith(5);
    expect(failure.code).toBe('bad_response');
    expect(failure.message).toBe(
      'the CARTO sign-in service sent an answer that is not JSON'
    );
  });

  it('that revoked the refresh token ends the session: sign in again', async () => {
    fakeFetch(async () =>
      json(400, {
        error: 'invalid_grant',
        error_description: 'grant request is invalid'
      })
    );
    const failure = await refreshWith(5);
    expect(failure.code).toBe('session_ended');
    expect(failure.message).toBe(
      'CARTO ended your session: the sign-in was revoked or has expired. Sign in to CARTO again.'
    );
  });

  it('that cannot be reached says so', async () => {
    fakeFetch(async () => {
      throw new TypeError('Failed to fetch');
    });
    expect((await refreshWith(5)).code).toBe('network');
  });
});

describe('refreshError and exchangeError', () => {
  it('keep a CartoAuthError as it is', () => {
    const error = new CartoAuthError('network', 'down');
    expect(refreshError(error, trans, 30)).toBe(error);
  });

  it('tell a failed provider from a refusal', () => {
    expect(
      refreshError(
        new ErrorResponse({ error: 'invalid_scope', error_description: 'no' }),
        trans,
        30
      ).message
    ).toBe('the CARTO sign-in service refused the request: no');
    expect(refreshError(new ErrorTimeout('x'), trans, 30).code).toBe('timeout');
  });

  it('at sign-in: a 500 says try again later, garbage says not JSON', () => {
    expect(
      exchangeError(
        new ErrorResponse({
          error: 'temporarily_unavailable',
          error_description: 'down'
        }),
        trans
      ).message
    ).toBe(
      'The CARTO sign-in service failed (down). Try again in a few minutes.'
    );
    const garbage = exchangeError(new SyntaxError('Unexpected token <'), trans);
    expect(garbage.code).toBe('bad_response');
    expect(garbage.message).toMatch(
      /^The CARTO sign-in service sent an answer that is not JSON\./
    );
  });
});

describe('the lifetime of a token', () => {
  const NOW = 1_700_000_000;
  const settings = {} as ICartoSettings;
  const before: IStoredSession = {
    v: 1,
    sessionId: 's1',
    user: { email: 'a@example.com', name: 'A', org: null },
    obtainedAt: 0,
    expiresAt: 0,
    apiBaseUrl: null,
    region: null,
    canRefresh: true,
    sealed: {} as any
  };

  beforeEach(() => {
    jest.useFakeTimers();
    jest.setSystemTime(NOW * 1000);
  });
  afterEach(() => jest.useRealTimers());

  const options = {
    settings,
    transport: new Transport(() => 'browser'),
    trans,
    seal: async () => ({}) as any
  };

  /** A SigninResponse as oidc-client-ts makes it from a token answer. */
  function answer(body: { access_token: string; expires_in?: number }) {
    const response = new SigninResponse(new URLSearchParams());
    Object.assign(response, body);
    return response;
  }

  it('is expires_in when the answer has it', () => {
    expect(
      lifetimeSeconds(
        answer({ access_token: jwt({ iat: 0, exp: 50 }), expires_in: 20 })
      )
    ).toBe(20);
  });

  it("without expires_in is the token's exp - iat, not an hour", async () => {
    const response = answer({
      access_token: jwt({ iat: NOW, exp: NOW + 20 })
    });
    expect(response.expires_in).toBeUndefined();
    const stored = await sessionFromResponse(
      response,
      before,
      SECRETS,
      options
    );
    expect(stored.stored.expiresAt).toBe((NOW + 20) * 1000);
  });

  it('does not move when the provider clock is 5 minutes off', async () => {
    for (const offset of [300, -300]) {
      const token = jwt({ iat: NOW + offset, exp: NOW + offset + 20 });
      for (const body of [
        { access_token: token, expires_in: 20 },
        { access_token: token }
      ]) {
        const { stored } = await sessionFromResponse(
          answer(body),
          before,
          SECRETS,
          options
        );
        expect(stored.expiresAt).toBe((NOW + 20) * 1000);
      }
    }
  });

  it('is an hour for an opaque token without expires_in', () => {
    expect(lifetimeSeconds(answer({ access_token: 'opaque' }))).toBe(3600);
  });
});
