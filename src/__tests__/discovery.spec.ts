// Discovery refuses what a CARTO answer must not make the lab use: a tenant
// domain that is not a host name, and an API base URL that breaks the URL
// rule (https, or http to this machine), with a message that says what to do.
import { discoverApiBaseUrl } from '../discovery';
import { CartoAuthError } from '../errors';
import { ICartoSettings } from '../settings';
import { IHttpRequest, IHttpResponse, Transport } from '../transport';

const SETTINGS = {
  accountsUrl: 'https://accounts.example.com/accounts',
  tenantConfigUrlTemplate: 'https://{tenant_domain}/config.yaml',
  apiBaseUrl: ''
} as ICartoSettings;

/** A transport that answers the accounts and tenant config requests. */
function transport(
  tenantDomain: unknown,
  baseUrl: string
): { transport: Transport; urls: string[] } {
  const urls: string[] = [];
  const answer = async (req: IHttpRequest): Promise<IHttpResponse> => {
    urls.push(req.url);
    const body = req.url.startsWith(SETTINGS.accountsUrl)
      ? JSON.stringify({ tenant_domain: tenantDomain })
      : `apis:\n  baseUrl: ${JSON.stringify(baseUrl)}\n`;
    return { status: 200, contentType: 'text/plain', body };
  };
  return { transport: { fetch: answer } as unknown as Transport, urls };
}

async function failure(promise: Promise<unknown>): Promise<CartoAuthError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CartoAuthError);
    return error as CartoAuthError;
  }
  throw new Error('discovery did not fail');
}

describe('discoverApiBaseUrl', () => {
  it('finds the API base URL of the tenant', async () => {
    const { transport: t, urls } = transport(
      'acme.app.carto.com',
      'https://gcp-us-east1.api.carto.com/'
    );
    await expect(discoverApiBaseUrl(SETTINGS, 'token', t)).resolves.toEqual({
      apiBaseUrl: 'https://gcp-us-east1.api.carto.com',
      region: 'gcp-us-east1'
    });
    expect(urls[1]).toBe('https://acme.app.carto.com/config.yaml');
  });

  it.each([
    'javascript:alert(1)',
    'http://api.evil.example.com',
    '//api.evil.example.com',
    'data:,x'
  ])('refuses the apis.baseUrl %s', async baseUrl => {
    const { transport: t } = transport('acme.app.carto.com', baseUrl);
    const error = await failure(discoverApiBaseUrl(SETTINGS, 'token', t));
    expect(error.message).toMatch(
      /apis\.baseUrl of the tenant configuration .* was refused: .*Set the API base URL in the CARTO settings\./
    );
  });

  it('accepts http to this machine (a test provider)', async () => {
    const { transport: t } = transport(
      '127.0.0.1:4000',
      'http://127.0.0.1:4001'
    );
    const found = await discoverApiBaseUrl(
      { ...SETTINGS, tenantConfigUrlTemplate: 'http://{tenant_domain}/c.yaml' },
      'token',
      t
    );
    expect(found.apiBaseUrl).toBe('http://127.0.0.1:4001');
  });

  it.each([
    'evil.example.com/x?',
    'user@evil.example.com',
    'evil.example.com#',
    'a b',
    ''
  ])('refuses the tenant domain %j before fetching anything', async domain => {
    const { transport: t, urls } = transport(domain, 'https://api.carto.com');
    const error = await failure(discoverApiBaseUrl(SETTINGS, 'token', t));
    expect(error.message).toMatch(/tenant domain that is not a host name/);
    expect(urls).toEqual([SETTINGS.accountsUrl]);
  });

  it('refuses a tenant config URL that is plain http to another host', async () => {
    const { transport: t, urls } = transport(
      'acme.example.com',
      'https://api.carto.com'
    );
    const error = await failure(
      discoverApiBaseUrl(
        { ...SETTINGS, tenantConfigUrlTemplate: 'http://{tenant_domain}/c' },
        'token',
        t
      )
    );
    expect(error.message).toMatch(/tenant configuration URL .* was refused/);
    expect(urls).toEqual([SETTINGS.accountsUrl]);
  });

  it('refuses an API base URL setting that breaks the rule', async () => {
    const { transport: t } = transport('acme.app.carto.com', '');
    const error = await failure(
      discoverApiBaseUrl(
        { ...SETTINGS, apiBaseUrl: 'javascript:alert(1)' },
        'token',
        t
      )
    );
    expect(error.message).toMatch(/API base URL setting .* was refused/);
  });
});
