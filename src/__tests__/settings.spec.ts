// URL settings obey one rule (https, or http to this machine): the schema
// refuses a bad value where JSON schema can say so (the settings editor and
// the server's settings API show the error), and readSettings refuses the
// rest at run time, using the setting's default instead.
import { ISettingRegistry, SettingRegistry } from '@jupyterlab/settingregistry';
import { nullTranslator } from '@jupyterlab/translation';

import {
  checkUrlSettings,
  ICartoSettings,
  PluginIDs,
  readSettings,
  urlSettingTitles,
  urlProblem,
  UrlSetting
} from '../settings';

import sessionSchema from '../../schema/session.json';

const trans = nullTranslator.load('jupyterlab_carto_auth');

const SCHEMA = sessionSchema as unknown as ISettingRegistry.ISchema;

const DEFAULTS = Object.fromEntries(
  Object.entries(SCHEMA.properties!).map(([key, value]) => [
    key,
    (value as any).default
  ])
) as unknown as ICartoSettings;

const defaultOf = (key: UrlSetting) => String((DEFAULTS as any)[key]);

const GOOD = [
  'https://auth.carto.com/oauth/token',
  'https://auth.example.com:8443/t?x=1#y',
  'http://localhost:10000/callback/',
  'http://localhost/',
  'http://127.0.0.1:4000/oauth/token',
  'http://127.3.4.5/x',
  'http://[::1]:8080/oauth/token'
];

const BAD = [
  'http://evil.example.com/oauth/token',
  'http://localhost.evil.example.com/token',
  'http://localhost@evil.example.com/token',
  'http://127.0.0.1.evil.example.com/token',
  'javascript:alert(1)',
  'JavaScript:alert(1)',
  'data:text/html,hi',
  'ftp://files.example.com/',
  '/relative/path',
  'auth.carto.com/oauth/token',
  ''
];

describe('urlProblem', () => {
  it.each(GOOD)('accepts %s', url => {
    expect(urlProblem(url)).toBeNull();
  });

  it.each(BAD)('refuses %s', url => {
    expect(urlProblem(url)).toEqual(expect.any(String));
  });

  it('says what to do for plain http to another host', () => {
    expect(urlProblem('http://evil.example.com/')).toMatch(
      /only to this machine.*use https/
    );
    expect(urlProblem('javascript:alert(1)')).toMatch(
      /scheme javascript: is not allowed/
    );
  });
});

describe('the schema patterns', () => {
  const pattern = (key: UrlSetting) =>
    new RegExp((SCHEMA.properties![key] as any).pattern, 'u');

  it('exist for every URL setting', () => {
    for (const key of Object.keys(urlSettingTitles(trans)) as UrlSetting[]) {
      expect((SCHEMA.properties![key] as any).pattern).toEqual(
        expect.any(String)
      );
    }
  });

  it('accept every default', () => {
    for (const key of Object.keys(urlSettingTitles(trans)) as UrlSetting[]) {
      expect(pattern(key).test(defaultOf(key))).toBe(true);
    }
  });

  it.each(GOOD)('accept %s, as the run-time rule does', url => {
    expect(pattern('tokenUrl').test(url)).toBe(true);
  });

  it.each(BAD.filter(url => url !== 'auth.carto.com/oauth/token'))(
    'refuse %s, as the run-time rule does',
    url => {
      expect(pattern('tokenUrl').test(url)).toBe(false);
    }
  );

  it('let the optional ones be empty, the others not', () => {
    expect(pattern('revocationUrl').test('')).toBe(true);
    expect(pattern('apiBaseUrl').test('')).toBe(true);
    expect(pattern('issuer').test('')).toBe(false);
  });

  it('know the placeholders', () => {
    expect(pattern('redirectUri').test('{baseUrl}carto-auth/callback')).toBe(
      true
    );
    expect(
      pattern('tenantConfigUrlTemplate').test(
        'http://{tenant_domain}/config.yaml'
      )
    ).toBe(true);
    expect(pattern('tokenUrl').test('{baseUrl}carto-auth/callback')).toBe(
      false
    );
  });

  it('make the setting registry refuse a bad value (what the settings editor shows)', async () => {
    let raw = '{}';
    const registry = new SettingRegistry({
      connector: {
        fetch: async (id: string) => ({
          id,
          raw,
          schema: SCHEMA,
          version: 't'
        }),
        list: async () => ({ ids: [], values: [] }),
        save: async (_: string, value: string) => {
          raw = value;
        },
        remove: async () => undefined
      } as any
    });
    const setting = await registry.load(PluginIDs.session);
    await expect(
      setting.set('tokenUrl', 'http://evil.example.com/oauth/token')
    ).rejects.toThrow(/failed to validate/);
    expect(setting.get('tokenUrl').composite).toBe(DEFAULTS.tokenUrl);
    await setting.set('tokenUrl', 'http://127.0.0.1:4000/oauth/token');
    expect(setting.get('tokenUrl').composite).toBe(
      'http://127.0.0.1:4000/oauth/token'
    );
  });
});

describe('checkUrlSettings', () => {
  const BASE = 'http://lab.test/user/alice/';

  it('keeps good settings and resolves {baseUrl}', () => {
    const { settings, refused } = checkUrlSettings(
      {
        ...DEFAULTS,
        redirectUri: '{baseUrl}carto-auth/callback',
        tokenUrl: 'http://localhost:4000/oauth/token'
      },
      defaultOf,
      '/user/alice/'
    );
    expect(refused).toEqual([]);
    expect(settings.tokenUrl).toBe('http://localhost:4000/oauth/token');
    expect(settings.redirectUri).toBe(
      `${window.location.origin}/user/alice/carto-auth/callback`
    );
  });

  it('refuses a bad value, uses the default instead and says so', () => {
    const { settings, refused } = checkUrlSettings(
      {
        ...DEFAULTS,
        tokenUrl: 'http://evil.example.com/oauth/token',
        authorizeUrl: 'javascript:alert(1)'
      },
      defaultOf,
      BASE
    );
    expect(settings.tokenUrl).toBe(DEFAULTS.tokenUrl);
    expect(settings.authorizeUrl).toBe(DEFAULTS.authorizeUrl);
    expect(refused.map(r => r.key).sort()).toEqual([
      'authorizeUrl',
      'tokenUrl'
    ]);
    const token = refused.find(r => r.key === 'tokenUrl')!;
    expect(token.used).toBe(DEFAULTS.tokenUrl);
    expect(token.message).toContain('"Token URL" was refused');
    expect(token.message).toContain('http://evil.example.com/oauth/token');
    expect(token.message).toContain(`The default ${DEFAULTS.tokenUrl}`);
  });

  it('leaves a setting empty when its default is refused too', () => {
    const { settings, refused } = checkUrlSettings(
      { ...DEFAULTS, issuer: 'http://idp.example.com/' },
      key => (key === 'issuer' ? 'http://idp.example.com/' : defaultOf(key)),
      BASE
    );
    expect(settings.issuer).toBe('');
    expect(refused).toHaveLength(1);
    expect(refused[0].message).toMatch(/and so is its default/);
  });

  it('refuses a redirect URI on another host, but not on the lab itself', () => {
    const own = `${window.location.origin}/lab/carto-auth/callback`;
    expect(
      checkUrlSettings({ ...DEFAULTS, redirectUri: own }, defaultOf, BASE)
        .refused
    ).toEqual([]);
    const { settings, refused } = checkUrlSettings(
      { ...DEFAULTS, redirectUri: 'http://evil.example.com/callback' },
      defaultOf,
      BASE
    );
    expect(refused.map(r => r.key)).toEqual(['redirectUri']);
    expect(settings.redirectUri).toBe(DEFAULTS.redirectUri);
  });

  it('checks the tenant template with a host in place of {tenant_domain}', () => {
    expect(
      checkUrlSettings(
        {
          ...DEFAULTS,
          tenantConfigUrlTemplate: 'javascript:{tenant_domain}'
        },
        defaultOf,
        BASE
      ).refused.map(r => r.key)
    ).toEqual(['tenantConfigUrlTemplate']);
  });

  it('lets revocation and the API base URL be empty', () => {
    expect(
      checkUrlSettings(
        { ...DEFAULTS, revocationUrl: '', apiBaseUrl: '' },
        defaultOf,
        BASE
      ).refused
    ).toEqual([]);
  });

  it('is what readSettings applies, with the registry defaults', () => {
    const setting = {
      composite: { ...DEFAULTS, accountsUrl: 'data:,x' },
      default: (key: string) => (DEFAULTS as any)[key]
    } as unknown as ISettingRegistry.ISettings;
    const { settings, refused } = readSettings(setting, BASE);
    expect(settings.accountsUrl).toBe(DEFAULTS.accountsUrl);
    expect(refused.map(r => r.key)).toEqual(['accountsUrl']);
  });
});
