// A new session keeps the route its sign-in found to the token endpoint, so
// that another tab of the lab refreshes it without first probing the provider
// (a refresh request with a made-up token, one per tab: what the three-tab UI
// test counted at the provider).
import { nullTranslator } from '@jupyterlab/translation';

import { ICartoSettings } from '../settings';
import { sessionFromResponse } from '../tokenresponse';
import { Transport } from '../transport';
import { fakeServer, json } from './fakeserver';

const SETTINGS = {
  issuer: 'https://auth.example.com/',
  clientId: 'client',
  tokenUrl: 'https://auth.example.com/oauth/token',
  revocationUrl: 'https://auth.example.com/oauth/revoke',
  audience: 'carto-cloud-native-api',
  scope: 'openid offline_access',
  apiBaseUrl: 'https://gcp-us-east1.api.carto.com',
  tokenTransport: 'auto'
} as ICartoSettings;

const RESPONSE = {
  access_token: 'access',
  refresh_token: 'refresh',
  expires_in: 20,
  scope: 'openid offline_access',
  profile: { sub: 'u1', email: 'a@example.com' }
} as any;

const realFetch = window.fetch;
afterEach(() => {
  window.fetch = realFetch;
});

/** The browser's fetch: readable answers (`cors` false) or CORS failures; counts calls. */
function browser(cors: boolean): { calls: number } {
  const seen = { calls: 0 };
  window.fetch = (async () => {
    seen.calls += 1;
    if (cors) {
      throw new TypeError('Failed to fetch');
    }
    return json(400, { error: 'invalid_grant' });
  }) as typeof window.fetch;
  return seen;
}

async function signIn(transport: Transport, settings = SETTINGS) {
  return sessionFromResponse(RESPONSE, undefined, null, {
    settings,
    transport,
    trans: nullTranslator.load('jupyterlab_carto_auth'),
    seal: async () => ({}) as any
  });
}

describe('sessionFromResponse, the route to the token endpoint', () => {
  it.each([
    [false, 'browser'],
    [true, 'server']
  ])(
    'keeps the route the sign-in found (CORS blocked: %s): %s',
    async (cors, route) => {
      // Given a tab whose sign-in probed the token endpoint (auto)
      browser(cors);
      const { settings } = fakeServer(() =>
        json(200, { status: 400, content_type: 'application/json', body: '{}' })
      );
      const signingTab = new Transport(() => 'auto', settings);
      await signingTab.viaServer(SETTINGS.tokenUrl);

      // When the sign-in's answer becomes the session
      const { secrets } = await signIn(signingTab);

      // Then the session's client keeps that route
      expect(secrets.client.tokenTransport).toBe(route);

      // And another tab refreshing it sends no probe first
      const seen = browser(cors);
      const otherTab = new Transport(() => 'auto', settings);
      await expect(
        otherTab.viaServer(
          SETTINGS.tokenUrl,
          undefined,
          false,
          secrets.client.tokenTransport
        )
      ).resolves.toBe(cors);
      expect(seen.calls).toBe(0);
    }
  );

  it('keeps auto when no route was found, and a forced one as it is', async () => {
    browser(false);
    const unprobed = await signIn(new Transport(() => 'auto'));
    expect(unprobed.secrets.client.tokenTransport).toBe('auto');
    const forced = await signIn(new Transport(() => 'server'), {
      ...SETTINGS,
      tokenTransport: 'server'
    });
    expect(forced.secrets.client.tokenTransport).toBe('server');
  });
});
