// Malformed URLs, wrong types and unknown keys in the CARTO sign-in settings:
// the settings editor refuses them (the registry validates against the
// schema), and what it cannot refuse (a settings file the server ignored, an
// administrator's default of the wrong type or of an unknown key) is said in
// a message that names the setting and what to do.
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry, SettingRegistry } from '@jupyterlab/settingregistry';
import { StateDB } from '@jupyterlab/statedb';
import { CommandRegistry } from '@lumino/commands';
import { nullTranslator } from '@jupyterlab/translation';

import sessionSchema from '../../schema/session.json';
import plugins from '../index';
import {
  ignoredFileMessage,
  problemOfRegistryErrors,
  problemOfServerWarning,
  refusedSettingsMessage,
  SESSION_SETTING_KEYS,
  settingsFileWarning,
  settingsProblems,
  unknownDefaultMessages
} from '../settingproblems';
import { PluginIDs, urlSettingTitles } from '../settings';

const trans = nullTranslator.load('jupyterlab_carto_auth');
const SCHEMA = sessionSchema as unknown as ISettingRegistry.ISchema;
const URL_SETTINGS = Object.keys(urlSettingTitles(trans));

/** A registry serving `raw` user settings over `schema`, as the lab's. */
async function load(raw: string, schema: ISettingRegistry.ISchema = SCHEMA) {
  const registry = new SettingRegistry({
    connector: {
      fetch: async (id: string) => ({
        id,
        raw,
        schema: JSON.parse(JSON.stringify(schema)),
        version: 't'
      }),
      list: async () => ({ ids: [], values: [] }),
      save: async (_: string, value: string) => {
        raw = value;
      },
      remove: async () => undefined
    } as any
  });
  return registry.load(PluginIDs.session);
}

/** The schema with one default replaced, as overrides.json makes it. */
function overridden(key: string, value: unknown): ISettingRegistry.ISchema {
  const schema = JSON.parse(JSON.stringify(SCHEMA));
  schema.properties[key] = {
    ...(schema.properties[key] ?? {}),
    default: value
  };
  return schema;
}

/** What registry.load threw. */
async function loadErrors(raw: string, schema?: ISettingRegistry.ISchema) {
  jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  try {
    await load(raw, schema);
  } catch (errors) {
    return errors;
  } finally {
    jest.restoreAllMocks();
  }
  throw new Error('the registry loaded settings it should refuse');
}

/**
 * What jupyterlab_server answers in `warning` for a user file it ignores
 * (Python jsonschema's text; tests/test_settings_schema.py checks the real
 * one has these lines).
 */
function serverWarning(first: string, keyword: string, key?: string) {
  const where = key ? `schema['properties']['${key}']` : 'schema';
  return `Failed validating settings (${PluginIDs.session}): ${first}\n\nFailed validating '${keyword}' in ${where}:\n    {'title': 'x'}\n\nOn instance:\n    {}`;
}

describe('the session setting keys', () => {
  it('are the schema keys', () => {
    expect([...SESSION_SETTING_KEYS].sort()).toEqual(
      Object.keys(SCHEMA.properties!).sort()
    );
  });
});

describe('the settings editor (the registry) refuses', () => {
  // (the registry logs each refusal)
  beforeEach(() => {
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it.each(URL_SETTINGS)('a malformed URL in %s', async key => {
    const setting = await load('{}');
    for (const value of ['not a url', 'http://evil.example.com/x', 'ftp://x']) {
      await expect(setting.set(key, value)).rejects.toThrow(
        /failed to validate/
      );
    }
  });

  it.each([
    ['tokenUrl', 5],
    ['rememberSession', 'yes'],
    ['refreshMarginSeconds', 'abc'],
    ['refreshMarginSeconds', 1.5],
    ['signInMethod', 'fax'],
    ['kernelAccess', null]
  ])('a wrong type or value: %s = %j', async (key, value) => {
    const setting = await load('{}');
    await expect(setting.set(key, value as any)).rejects.toThrow(
      /failed to validate/
    );
  });

  it('an unknown key', async () => {
    const setting = await load('{}');
    await expect(
      setting.save('{"tokenUrll": "https://x.test/"}')
    ).rejects.toThrow(/failed to validate/);
  });
});

describe('a settings file the server ignored', () => {
  it.each([
    [
      serverWarning(
        "'http://evil' does not match '^(…)$'",
        'pattern',
        'tokenUrl'
      ),
      '"Token URL" (tokenUrl) is not an https address (plain http only to localhost)'
    ],
    [
      serverWarning("5 is not of type 'string'", 'type', 'tokenUrl'),
      '"Token URL" (tokenUrl) must be text in double quotes'
    ],
    [
      serverWarning(
        "'yes' is not of type 'boolean'",
        'type',
        'rememberSession'
      ),
      '"Remember the session" (rememberSession) must be true or false'
    ],
    [
      serverWarning(
        '2 is less than the minimum of 5',
        'minimum',
        'refreshMarginSeconds'
      ),
      '"Refresh margin (seconds)" (refreshMarginSeconds) must be from 5 to 3600'
    ],
    [
      serverWarning("'fax' is not one of [...]", 'enum', 'signInMethod'),
      '"Sign-in method" (signInMethod) must be one of "auto", "popup", "paste"'
    ],
    [
      serverWarning(
        "Additional properties are not allowed ('tokenUrll' was unexpected)",
        'additionalProperties'
      ),
      '"tokenUrll" is not a CARTO sign-in setting (check its spelling)'
    ]
  ])('is said, naming the setting: %#', (warning, problem) => {
    const message = ignoredFileMessage(warning, SCHEMA, trans);
    expect(message).toContain(problem);
    expect(message).toContain('Settings → Settings Editor → CARTO sign-in');
    expect(message).toContain('default value');
  });

  it('comes first, with unknown defaults after it', () => {
    const warning = serverWarning(
      "5 is not of type 'string'",
      'type',
      'issuer'
    );
    const messages = settingsProblems(
      warning,
      overridden('tokenUrll', 'x'),
      trans
    );
    expect(messages).toHaveLength(2);
    expect(messages[0]).toContain('"Issuer" (issuer) must be text');
    expect(messages[1]).toContain('"tokenUrll"');
    expect(messages[1]).toContain('overrides.json');
  });

  it('says nothing when there is nothing to say', () => {
    expect(settingsProblems(null, SCHEMA, trans)).toEqual([]);
  });

  it('is asked of the server, and no answer is no warning', async () => {
    const fetch = jest.fn(
      async () =>
        new Response(JSON.stringify({ warning: 'w' }), { status: 200 })
    );
    const serverSettings = ServerConnection.makeSettings({
      baseUrl: 'http://lab.test/',
      fetch: fetch as any
    });
    expect(await settingsFileWarning(serverSettings)).toBe('w');
    expect(
      String((fetch.mock.calls[0] as any[])[0].url ?? fetch.mock.calls[0])
    ).toContain('carto-auth/settings-check');
    fetch.mockImplementation(async () => Promise.reject(new Error('down')));
    expect(await settingsFileWarning(serverSettings)).toBeNull();
  });
});

describe('the session plugin', () => {
  it('says which setting stops it, instead of failing unseen', async () => {
    const shown = jest
      .spyOn(Notification, 'error')
      .mockImplementation(() => '');
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const schema = overridden('refreshMarginSeconds', 'abc');
    const registry = new SettingRegistry({
      connector: {
        fetch: async (id: string) => ({ id, raw: '{}', schema, version: 't' }),
        list: async () => ({ ids: [], values: [] }),
        save: async () => undefined,
        remove: async () => undefined
      } as any
    });
    const fetch = jest.fn(async () => Promise.reject(new Error('offline')));
    const app = {
      commands: new CommandRegistry(),
      restored: Promise.resolve(),
      serviceManager: {
        serverSettings: ServerConnection.makeSettings({ fetch: fetch as any }),
        settings: { fetch: async () => ({ schema }) }
      }
    } as unknown as JupyterFrontEnd;
    try {
      await expect(
        plugins[0].activate(app, registry, new StateDB(), null)
      ).rejects.toBeDefined();
      expect(shown).toHaveBeenCalledTimes(1);
      expect(shown.mock.calls[0][0]).toContain(
        '"Refresh margin (seconds)" (refreshMarginSeconds) must be a whole number'
      );
    } finally {
      jest.restoreAllMocks();
    }
  });
});

describe("an administrator's defaults", () => {
  it.each([
    ['tokenUrl', 5, '"Token URL" (tokenUrl) must be text in double quotes'],
    [
      'refreshMarginSeconds',
      'abc',
      '"Refresh margin (seconds)" (refreshMarginSeconds) must be a whole number'
    ],
    [
      'rememberSession',
      'yes',
      '"Remember the session" (rememberSession) must be true or false'
    ]
  ])(
    'of the wrong type (%s = %j) stop the registry, and the message says which',
    async (key, value, problem) => {
      const schema = overridden(key, value);
      const errors = await loadErrors('{}', schema);
      expect(problemOfRegistryErrors(errors).key).toBe(key);
      const message = refusedSettingsMessage(errors, schema, trans);
      expect(message).toContain(problem);
      expect(message).toContain('overrides.json');
    }
  );

  it('of an unknown key are ignored, and said', () => {
    expect(unknownDefaultMessages(SCHEMA, trans)).toEqual([]);
    const messages = unknownDefaultMessages(overridden('clientID', 'x'), trans);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain('"clientID"');
  });

  it('of a malformed URL stop the registry too, and the message says which', async () => {
    const schema = overridden('tokenUrl', 'http://evil.example.com/');
    const errors = await loadErrors('{}', schema);
    expect(refusedSettingsMessage(errors, schema, trans)).toContain(
      '"Token URL" (tokenUrl) is not an https address'
    );
  });
});

describe('a settings file that is not JSON', () => {
  it('is said as such', async () => {
    const errors = await loadErrors('{"tokenUrl": ');
    expect(problemOfRegistryErrors(errors).keyword).toMatch(/syntax|parse/);
    expect(refusedSettingsMessage(errors, SCHEMA, trans)).toContain(
      'not valid JSON'
    );
    expect(problemOfServerWarning('whatever').key).toBeNull();
    // (a file that is not JSON makes the server answer 500: its warning says so)
    const warning =
      'Failed loading settings (jupyterlab-carto-auth:session): Unexpected end';
    expect(
      refusedSettingsMessage(new Error('500'), null, trans, warning)
    ).toContain('not valid JSON');
  });
});
