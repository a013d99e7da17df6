// Refresh and revocation go to the session's own provider and client (what
// the sign-in used, sealed with the session), whatever the settings say now.
import { refreshGrant, revokeRefreshToken } from '../grants';
import { OidcClients } from '../oidc';
import { ISecrets, ISessionClient, sessionClientOf } from '../storedsession';
import { ICartoSettings } from '../settings';
import { Transport } from '../transport';
import './fakeserver';

const CLIENT: ISessionClient = {
  issuer: 'https://idp.example.com/',
  clientId: 'signed-in-client',
  tokenUrl: 'https://idp.example.com/oauth/token',
  revocationUrl: 'https://idp.example.com/oauth/revoke',
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

describe('refresh and revocation', () => {
  let requests: { url: string; body: string }[];
  const realFetch = globalThis.fetch;

  beforeEach(() => {
    requests = [];
    globalThis.fetch = jest.fn(async (input: any, init?: any) => {
      requests.push({ url: String(input), body: String(init?.body ?? '') });
      return new Response(
        JSON.stringify({
          access_token: 'access-2',
          token_type: 'Bearer',
          expires_in: 3600
        }),
        { status: 200, headers: { 'content-type': 'application/json' } }
      );
    }) as any;
  });
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  // The settings are read on every call of the transport: changed to
  // another host and mode after sign-in, they must change nothing.
  const transport = new Transport(() => 'server');

  it('refresh posts the refresh token to the session token URL, as its client', async () => {
    const response = await refreshGrant(new OidcClients(transport), SECRETS);
    expect(response.access_token).toBe('access-2');
    expect(requests).toHaveLength(1);
    expect(requests[0].url).toBe(CLIENT.tokenUrl);
    const body = new URLSearchParams(requests[0].body);
    expect(body.get('grant_type')).toBe('refresh_token');
    expect(body.get('refresh_token')).toBe('refresh-1');
    expect(body.get('client_id')).toBe('signed-in-client');
  });

  it('revocation posts to the session revocation URL, as its client', async () => {
    await revokeRefreshToken(new OidcClients(transport), CLIENT, 'refresh-1');
    expect(requests.map(r => r.url)).toEqual([CLIENT.revocationUrl]);
    const body = new URLSearchParams(requests[0].body);
    expect(body.get('token')).toBe('refresh-1');
    expect(body.get('client_id')).toBe('signed-in-client');
  });

  it('a session keeps the client of the settings it signed in with', () => {
    const settings = {
      ...CLIENT,
      authorizeUrl: 'https://idp.example.com/authorize',
      organization: ''
    } as unknown as ICartoSettings;
    expect(sessionClientOf(settings)).toEqual(CLIENT);
  });
});
