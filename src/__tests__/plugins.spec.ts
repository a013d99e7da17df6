// The plugins activate in a JupyterFrontEnd shell with real command, setting
// and state registries, and register their commands and palette items.
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry, SettingRegistry } from '@jupyterlab/settingregistry';
import { StateDB } from '@jupyterlab/statedb';
import { CommandRegistry } from '@lumino/commands';
import { CommandPalette } from '@lumino/widgets';

import plugins from '../index';
import { CommandIDs, PluginIDs } from '../settings';
import { ICartoSession } from '../tokens';

import commandsSchema from '../../schema/commands.json';
import sessionSchema from '../../schema/session.json';
import statusbarSchema from '../../schema/statusbar.json';

// jsdom has no BroadcastChannel; Node's implements the same web API.
(globalThis as any).BroadcastChannel ??=
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('worker_threads').BroadcastChannel;

const SCHEMAS: Record<string, ISettingRegistry.ISchema> = {
  [PluginIDs.session]: sessionSchema as unknown as ISettingRegistry.ISchema,
  [PluginIDs.commands]: commandsSchema as unknown as ISettingRegistry.ISchema,
  [PluginIDs.statusbar]: statusbarSchema as ISettingRegistry.ISchema
};

function settingRegistry(): SettingRegistry {
  const connector = {
    fetch: async (id: string) => ({
      id,
      raw: '{}',
      schema: SCHEMAS[id],
      version: 'test',
      data: { composite: {}, user: {} }
    }),
    list: async () => ({ ids: [], values: [] }),
    save: async () => undefined,
    remove: async () => undefined
  };
  return new SettingRegistry({ connector: connector as any });
}

describe('jupyterlab-carto-auth plugins', () => {
  let session: ICartoSession;
  let commands: CommandRegistry;
  let palette: CommandPalette;

  beforeEach(async () => {
    // Given a front end with real registries
    commands = new CommandRegistry();
    palette = new CommandPalette({ commands });
    const app = {
      commands,
      restored: Promise.resolve(),
      serviceManager: { serverSettings: ServerConnection.makeSettings() }
    } as unknown as JupyterFrontEnd;
    const registry = settingRegistry();
    const [sessionPlugin, commandsPlugin] = plugins;

    // When the session and command plugins activate
    session = (await sessionPlugin.activate(
      app,
      registry,
      new StateDB(),
      null
    )) as ICartoSession;
    await commandsPlugin.activate(app, session, null, palette);
    await session.ready;
  });

  afterEach(() => {
    (session as any).dispose();
  });

  it('registers the sign-in, SSO, paste, sign-out and account commands', () => {
    for (const id of [
      CommandIDs.signIn,
      CommandIDs.signInSso,
      CommandIDs.pasteCode,
      CommandIDs.signOut,
      CommandIDs.showAccount
    ]) {
      expect(commands.hasCommand(id)).toBe(true);
    }
    expect(commands.label(CommandIDs.signIn)).toBe('Sign in to CARTO');
    expect(commands.label(CommandIDs.signOut)).toBe('Sign out of CARTO');
  });

  it('adds the commands to the palette under CARTO', () => {
    const items = palette.items.filter(item => item.category === 'CARTO');
    expect(items.map(item => item.command).sort()).toEqual(
      [
        CommandIDs.pasteCode,
        CommandIDs.showAccount,
        CommandIDs.signIn,
        CommandIDs.signInSso,
        CommandIDs.signOut,
        CommandIDs.addProfile,
        CommandIDs.addProfileSso,
        CommandIDs.signOutAll,
        CommandIDs.useProfile
      ].sort()
    );
  });

  it('starts signed out: sign-in enabled, sign-out disabled, no token', async () => {
    expect(session.info.status).toBe('signed-out');
    expect(commands.isEnabled(CommandIDs.signIn)).toBe(true);
    expect(commands.isEnabled(CommandIDs.signOut)).toBe(false);
    expect(await session.getAccessToken()).toBeNull();
  });

  it('defaults every endpoint to the real CARTO value', () => {
    const settings = (session as any).settings;
    expect(settings).toMatchObject({
      authorizeUrl: 'https://auth.carto.com/authorize',
      tokenUrl: 'https://auth.carto.com/oauth/token',
      audience: 'carto-cloud-native-api',
      clientId: '0dxb8HR3ATXCxJiPOJVHsLoHoAtbRX6u',
      redirectUri: 'http://localhost:10000/callback/',
      accessCodeRedirectUri: 'https://app.carto.com/auth/token',
      accountsUrl: 'https://accounts.app.carto.com/accounts',
      tenantConfigUrlTemplate: 'https://{tenant_domain}/config.yaml',
      rememberSession: true
    });
  });
});
