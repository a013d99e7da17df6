// jupyterlab-carto-auth: the plugins. This file only wires; each feature
// lives in its own module.
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  InputDialog,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { IStatusBar } from '@jupyterlab/statusbar';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IConsoleTracker } from '@jupyterlab/console';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { ICartoBindings, NotebookBindings } from './bindings';
import { CartoAuthError } from './errors';
import { cartoIcon } from './icons';
import { KernelWatch } from './kernelwatch';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- the session is the service this plugin provides at activation
import { CartoSession } from './session';
import {
  CartoProfiles,
  DefaultSession,
  ICartoProfiles,
  IProfile,
  LocalProfileStore,
  profileStoreKey
} from './profiles';
import { readServerScope } from './scope';
import { CommandIDs, PluginIDs, readSettings } from './settings';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- a few lines that decide at activation whether the settings messages (lazy) are needed
import { hasUnknownDefaults, settingsFileWarning } from './settingscheck';
import { CartoStatus, NotebookProfileStatus } from './statusbar';
import { ICartoKernels, ICartoSession, ISignInOptions } from './tokens';

export { ICartoKernels, ICartoSession } from './tokens';
export { ICartoProfiles } from './profiles';
export type { ICartoSessionInfo, ICartoUser, ISignInOptions } from './tokens';
export type { IBinding, IProfile } from './profiles';

/**
 * The CARTO session service.
 */
const sessionPlugin: JupyterFrontEndPlugin<ICartoSession> = {
  id: PluginIDs.session,
  description: 'Owns the CARTO session: sign-in, refresh, sign-out.',
  autoStart: true,
  requires: [ISettingRegistry, IStateDB],
  optional: [ITranslator],
  provides: ICartoSession,
  activate: async (
    app: JupyterFrontEnd,
    registry: ISettingRegistry,
    state: IStateDB,
    translator: ITranslator | null
  ): Promise<ICartoSession> => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_carto_auth');
    const { serverSettings } = app.serviceManager;
    let setting: ISettingRegistry.ISettings;
    try {
      setting = await registry.load(PluginIDs.session);
    } catch (errors) {
      // (a default of the wrong type, a file that is not JSON: say which)
      const problems = await import('./settingproblems');
      const plugin = (await app.serviceManager.settings
        ?.fetch(PluginIDs.session)
        .catch(() => null)) as ISettingRegistry.IPlugin | null;
      Notification.error(
        problems.refusedSettingsMessage(
          errors,
          plugin?.schema ?? null,
          trans,
          await settingsFileWarning(serverSettings)
        ),
        { autoClose: false }
      );
      throw errors;
    }
    // What the settings editor cannot show: an ignored settings file, unknown defaults.
    // (the messages load only when there is one to show)
    void settingsFileWarning(serverSettings).then(async warning => {
      if (!warning && !hasUnknownDefaults(setting.schema)) {
        return;
      }
      const problems = await import('./settingproblems');
      for (const message of problems.settingsProblems(
        warning,
        setting.schema,
        trans
      )) {
        Notification.warning(message, { autoClose: false });
      }
    });
    // A refused URL setting is never used: say which, and what is used instead.
    const read = () => {
      const { settings, refused } = readSettings(
        setting,
        serverSettings.baseUrl,
        trans
      );
      for (const { message } of refused) {
        Notification.error(message, { autoClose: false });
      }
      return settings;
    };
    const scope = await readServerScope(serverSettings);
    // One session per profile, each in its own slot of the server's stores.
    const profiles: CartoProfiles = new CartoProfiles({
      store: new LocalProfileStore(profileStoreKey(scope.id)),
      unnamed: trans.__('CARTO account'),
      trans,
      create: slot => {
        const session = new CartoSession({
          scope: scope.forProfile(slot),
          state,
          trans,
          settings: read(),
          askForCode: async prompt =>
            (await import('./dialogs')).askForCode(prompt, trans),
          serverSettings
        });
        session.expiring.connect((_, secondsLeft) => {
          const profile = profiles.get(slot);
          Notification.warning(
            profiles.profiles.length > 1 && profile
              ? trans.__(
                  'Your CARTO session %1 ends in %2 seconds.',
                  profile.name,
                  secondsLeft
                )
              : trans.__('Your CARTO session ends in %1 seconds.', secondsLeft),
            {
              autoClose: false,
              actions: [
                {
                  label: trans.__('Renew'),
                  callback: () =>
                    void app.commands.execute(CommandIDs.signIn, {
                      profile: slot
                    })
                }
              ]
            }
          );
        });
        // Once per ended session (the refresh itself does not retry).
        session.ended.connect((_, message) => {
          Notification.error(message, {
            autoClose: false,
            actions: [
              {
                label: trans.__('Sign in to CARTO'),
                callback: () =>
                  void app.commands.execute(CommandIDs.signIn, {
                    profile: slot
                  })
              }
            ]
          });
        });
        return session;
      }
    });
    setting.changed.connect(() => {
      const settings = read();
      for (const session of profiles.sessions) {
        (session as CartoSession).updateSettings(settings);
      }
    });
    void app.restored.then(() => profiles.restore());
    return new DefaultSession(profiles);
  }
};

/**
 * The profiles: several CARTO accounts at once (the session plugin makes them).
 */
const profilesPlugin: JupyterFrontEndPlugin<ICartoProfiles> = {
  id: PluginIDs.profiles,
  description: 'The CARTO profiles: several signed-in CARTO accounts at once.',
  autoStart: true,
  requires: [ICartoSession],
  provides: ICartoProfiles,
  activate: (_: JupyterFrontEnd, session: ICartoSession): ICartoProfiles =>
    (session as DefaultSession).profiles
};

/**
 * The notebooks' bindings to profiles (their metadata).
 */
const bindingsPlugin: JupyterFrontEndPlugin<ICartoBindings> = {
  id: PluginIDs.bindings,
  description: 'Which CARTO profile each notebook uses.',
  autoStart: true,
  requires: [ICartoProfiles],
  optional: [INotebookTracker],
  provides: ICartoBindings,
  activate: (
    _: JupyterFrontEnd,
    profiles: ICartoProfiles,
    notebooks: INotebookTracker | null
  ): ICartoBindings => {
    const bindings = new NotebookBindings(profiles, notebooks);
    (profiles as CartoProfiles).renamed?.connect((__, { from, to }) =>
      bindings.renamed(from, to)
    );
    return bindings;
  }
};

/**
 * Commands: sign in, paste an access code, sign out, account details.
 */
const commandsPlugin: JupyterFrontEndPlugin<void> = {
  id: PluginIDs.commands,
  description: 'Adds the CARTO commands to the palette and the Settings menu.',
  autoStart: true,
  requires: [ICartoSession],
  optional: [
    ITranslator,
    ICommandPalette,
    ICartoKernels,
    ICartoProfiles,
    ICartoBindings,
    INotebookTracker
  ],
  activate: (
    app: JupyterFrontEnd,
    session: ICartoSession,
    translator: ITranslator | null,
    palette: ICommandPalette | null,
    kernels: ICartoKernels | null = null,
    profilesOrNull: ICartoProfiles | null = null,
    bindings: ICartoBindings | null = null,
    notebooks: INotebookTracker | null = null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_carto_auth');
    const { commands } = app;
    const profiles: ICartoProfiles =
      profilesOrNull ?? (session as DefaultSession).profiles;
    const anySignedIn = () =>
      profiles.profiles.some(p => p.session.info.status === 'signed-in');
    const anySigningIn = () =>
      profiles.profiles.some(p => p.session.info.status === 'signing-in');

    /** Sign in (with `run`: another account) with today's dialogs on failure. */
    const signIn = async (
      options: ISignInOptions = {},
      run: (options: ISignInOptions) => Promise<unknown> = o =>
        session.signIn(o)
    ): Promise<void> => {
      try {
        await run(options);
      } catch (error) {
        if (!(error instanceof CartoAuthError) || error.code === 'cancelled') {
          return;
        }
        if (error.offerPaste && options.method !== 'paste') {
          const result = await showDialog({
            title: trans.__('CARTO sign-in did not finish'),
            body: error.message,
            buttons: [
              Dialog.cancelButton({ label: trans.__('Close') }),
              Dialog.okButton({ label: trans.__('Paste access code') })
            ]
          });
          if (result.button.accept) {
            await signIn({ ...options, method: 'paste' }, run);
          }
        } else {
          Notification.error(error.message, { autoClose: false });
        }
      }
    };

    commands.addCommand(CommandIDs.signIn, {
      label: trans.__('Sign in to CARTO'),
      caption: trans.__('Sign in to CARTO in a pop-up window'),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            organization: {
              type: 'string',
              description: trans.__('SSO organization for this sign-in')
            },
            profile: {
              type: 'string',
              description: trans.__(
                'The profile to sign in again (default: the default profile)'
              )
            }
          }
        }
      },
      icon: cartoIcon,
      isEnabled: () => session.info.status !== 'signing-in',
      execute: args => {
        const target =
          typeof args.profile === 'string'
            ? (profiles.get(args.profile)?.session ?? session)
            : session;
        return signIn(
          typeof args.organization === 'string' && args.organization
            ? { organization: args.organization }
            : {},
          o => target.signIn(o)
        );
      }
    });
    const addProfile = (options: ISignInOptions) =>
      signIn(options, o => profiles.add(o));
    commands.addCommand(CommandIDs.addProfile, {
      label: trans.__('Sign in to another CARTO account…'),
      caption: trans.__(
        'Add a CARTO profile: another account, signed in next to this one'
      ),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            organization: {
              type: 'string',
              description: trans.__('SSO organization for this sign-in')
            }
          }
        }
      },
      isEnabled: () => !anySigningIn(),
      execute: args =>
        addProfile(
          typeof args.organization === 'string' && args.organization
            ? { organization: args.organization }
            : {}
        )
    });
    commands.addCommand(CommandIDs.addProfileSso, {
      label: trans.__('Sign in to another CARTO account with SSO…'),
      caption: trans.__(
        'Add a CARTO profile: another account, through its organization (SSO)'
      ),
      describedBy: { args: { type: 'object', properties: {} } },
      isEnabled: () => !anySigningIn(),
      execute: async () => {
        const result = await InputDialog.getText({
          title: trans.__('Sign in to another CARTO account with SSO'),
          label: trans.__('Organization'),
          placeholder: trans.__('your CARTO organization'),
          okLabel: trans.__('Sign in')
        });
        const organization = result.value?.trim();
        if (result.button.accept && organization) {
          await addProfile({ organization });
        }
      }
    });
    commands.addCommand(CommandIDs.signOutAll, {
      label: trans.__('Sign out of every CARTO account'),
      caption: trans.__(
        'Sign out of every CARTO profile in every tab and kernel'
      ),
      describedBy: { args: { type: 'object', properties: {} } },
      isEnabled: anySignedIn,
      execute: () => profiles.signOutAll()
    });
    commands.addCommand(CommandIDs.useProfile, {
      label: trans.__('Choose the CARTO account of this notebook…'),
      caption: trans.__(
        'Bind the current notebook to a CARTO profile: its kernel gets that account at once'
      ),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            profile: {
              type: 'string',
              description: trans.__('The name of the profile')
            }
          }
        }
      },
      isEnabled: () => !!bindings && !!notebooks?.currentWidget,
      execute: async args => {
        const panel = notebooks?.currentWidget;
        if (!bindings || !panel) {
          return;
        }
        let chosen: IProfile | null = null;
        if (typeof args.profile === 'string') {
          chosen = profiles.byName(args.profile);
          if (!chosen) {
            Notification.error(
              trans.__(
                'No CARTO profile is named %1. Open CARTO Account to see the profiles.',
                args.profile
              ),
              { autoClose: 8000 }
            );
            return;
          }
        } else {
          const names = profiles.profiles.map(p => p.name);
          const result = await InputDialog.getItem({
            title: trans.__('CARTO account of %1', panel.context.path),
            label: trans.__('Profile'),
            items: names,
            current: names.indexOf(bindings.resolve(panel).profile.name),
            okLabel: trans.__('Use')
          });
          chosen =
            result.button.accept && result.value
              ? profiles.byName(result.value)
              : null;
        }
        if (chosen) {
          bindings.bindPanel(panel, chosen);
        }
      }
    });
    commands.addCommand(CommandIDs.signInSso, {
      label: trans.__('Sign in to CARTO with SSO…'),
      caption: trans.__('Sign in to CARTO through your organization (SSO)'),
      describedBy: { args: { type: 'object', properties: {} } },
      isEnabled: () => session.info.status !== 'signing-in',
      execute: async () => {
        const result = await InputDialog.getText({
          title: trans.__('Sign in to CARTO with SSO'),
          label: trans.__('Organization'),
          placeholder: trans.__('your CARTO organization'),
          text: session.organization,
          okLabel: trans.__('Sign in')
        });
        const organization = result.value?.trim();
        if (result.button.accept && organization) {
          await signIn({ organization });
        }
      }
    });
    commands.addCommand(CommandIDs.pasteCode, {
      label: trans.__('Paste CARTO access code'),
      caption: trans.__(
        'Sign in to CARTO with an access code (for remote servers)'
      ),
      describedBy: { args: { type: 'object', properties: {} } },
      isEnabled: () => session.info.status !== 'signing-in',
      execute: () => signIn({ method: 'paste' })
    });
    commands.addCommand(CommandIDs.signOut, {
      label: trans.__('Sign out of CARTO'),
      caption: trans.__('Sign out of CARTO in every tab and kernel'),
      describedBy: { args: { type: 'object', properties: {} } },
      isEnabled: () => session.info.status === 'signed-in',
      execute: () => session.signOut()
    });
    commands.addCommand(CommandIDs.showAccount, {
      label: trans.__('CARTO Account'),
      caption: trans.__('Show who is signed in to CARTO'),
      describedBy: { args: { type: 'object', properties: {} } },
      execute: async () => {
        const { showAccount } = await import('./dialogs');
        const scope = await readServerScope(app.serviceManager.serverSettings);
        const access =
          kernels instanceof KernelWatch ? await kernels.access() : null;
        if (
          await showAccount(
            session.info,
            trans,
            scope.notOwnerReason(trans),
            access,
            {
              profiles,
              add: () => void commands.execute(CommandIDs.addProfile),
              addSso: () => void commands.execute(CommandIDs.addProfileSso),
              signOut: slot => {
                access?.revokeProfile(slot);
                void profiles.signOut(slot);
              },
              signIn: slot =>
                void commands.execute(CommandIDs.signIn, { profile: slot })
            }
          )
        ) {
          // What the button said when clicked: all of them, with several.
          await (profiles.profiles.length > 1
            ? profiles.signOutAll()
            : session.signOut());
        }
      }
    });
    session.changed.connect(() => commands.notifyCommandChanged());
    profiles.changed.connect(() => commands.notifyCommandChanged());
    notebooks?.currentChanged.connect(() => commands.notifyCommandChanged());

    if (palette) {
      const category = trans.__('CARTO');
      for (const command of [
        CommandIDs.signIn,
        CommandIDs.signInSso,
        CommandIDs.pasteCode,
        CommandIDs.signOut,
        CommandIDs.showAccount,
        CommandIDs.addProfile,
        CommandIDs.addProfileSso,
        CommandIDs.signOutAll,
        CommandIDs.useProfile
      ]) {
        palette.addItem({ command, category });
      }
    }
  }
};

/**
 * The kernel bridge: every Python kernel of a notebook or console gets the
 * session over the `carto_auth` comm.
 */
const kernelsPlugin: JupyterFrontEndPlugin<ICartoKernels> = {
  id: PluginIDs.kernels,
  description: 'Hands the CARTO session to notebook and console kernels.',
  autoStart: true,
  requires: [ICartoSession, ISettingRegistry],
  optional: [
    ITranslator,
    INotebookTracker,
    IConsoleTracker,
    ICartoProfiles,
    ICartoBindings
  ],
  provides: ICartoKernels,
  activate: async (
    app: JupyterFrontEnd,
    session: ICartoSession,
    registry: ISettingRegistry,
    translator: ITranslator | null,
    notebooks: INotebookTracker | null,
    consoles: IConsoleTracker | null,
    profiles: ICartoProfiles | null,
    bindings: ICartoBindings | null
  ): Promise<ICartoKernels> => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_carto_auth');
    const scope = await readServerScope(app.serviceManager.serverSettings);
    const { baseUrl } = app.serviceManager.serverSettings;
    const setting = await registry.load(PluginIDs.session);
    const mode = () => readSettings(setting, baseUrl).settings.kernelAccess;
    // The grants and the bridge load with the first kernel (kernelwatch.ts).
    const kernels = new KernelWatch({
      access: async () => {
        const { accessStoreKey, KernelAccess, LocalAccessStore } =
          await import('./access');
        // Grants live in this browser, per server: out of a kernel's reach.
        const access = new KernelAccess({
          store: new LocalAccessStore(accessStoreKey(scope.id)),
          prompt: async request =>
            (await import('./dialogs')).askAccess(
              request,
              (request.profile !== undefined
                ? profiles?.get(request.profile)?.session.info
                : null) ?? session.info,
              trans
            ),
          confirmAll: async () =>
            (await import('./dialogs')).confirmAllKernels(trans)
        });
        const followSetting = () => void access.setMode(mode());
        setting.changed.connect(followSetting);
        void app.restored.then(followSetting);
        return access;
      },
      bridge: async grants => {
        const [{ KernelBridge }, access] = await Promise.all([
          import('./kernels'),
          grants
        ]);
        return new KernelBridge({
          notOwner: scope.notOwnerReason(trans),
          session,
          profiles: profiles ?? undefined,
          bindingOf: bindings
            ? context => bindings.bindingOf(context)
            : undefined,
          bind: bindings
            ? (context, profile) => bindings.bind(context, profile)
            : undefined,
          bindingsChanged: bindings?.changed,
          addProfile: async organization => {
            await app.commands.execute(CommandIDs.addProfile, { organization });
          },
          trans,
          signIn: async (options, slot) => {
            await app.commands.execute(CommandIDs.signIn, {
              ...options,
              ...(slot ? { profile: slot } : {})
            });
          },
          signInTimeoutSeconds: () => session.signInTimeoutSeconds,
          access
        });
      }
    });
    // `kernelAccess: all` is confirmed with the user as soon as it is set,
    // kernel or not; `ask` needs the grants only once something uses them.
    const askForAll = () => void (mode() === 'all' && kernels.access());
    setting.changed.connect(askForAll);
    void app.restored.then(askForAll);
    notebooks?.forEach(panel => kernels.watch(panel.sessionContext));
    notebooks?.widgetAdded.connect((_, panel) =>
      kernels.watch(panel.sessionContext)
    );
    consoles?.forEach(panel => kernels.watch(panel.sessionContext));
    consoles?.widgetAdded.connect((_, panel) =>
      kernels.watch(panel.sessionContext)
    );
    return kernels;
  }
};

/**
 * The status bar item (JupyterLab only: Notebook 7 has no status bar; its
 * commands and menu entry still work).
 */
const statusbarPlugin: JupyterFrontEndPlugin<void> = {
  id: PluginIDs.statusbar,
  description: 'Shows the CARTO session in the status bar.',
  autoStart: true,
  requires: [ICartoSession, ISettingRegistry],
  optional: [
    ITranslator,
    IStatusBar,
    ICartoKernels,
    ICartoProfiles,
    ICartoBindings,
    INotebookTracker
  ],
  activate: async (
    app: JupyterFrontEnd,
    session: ICartoSession,
    registry: ISettingRegistry,
    translator: ITranslator | null,
    statusBar: IStatusBar | null,
    kernels: ICartoKernels | null,
    profiles: ICartoProfiles | null,
    bindings: ICartoBindings | null,
    notebooks: INotebookTracker | null
  ): Promise<void> => {
    if (!statusBar) {
      return;
    }
    const trans = (translator ?? nullTranslator).load('jupyterlab_carto_auth');
    const setting = await registry.load(PluginIDs.statusbar);
    const scope = await readServerScope(app.serviceManager.serverSettings);
    const item = new CartoStatus(
      session,
      {
        signIn: () => void app.commands.execute(CommandIDs.signIn),
        cancel: () => session.cancelSignIn(),
        showAccount: () => void app.commands.execute(CommandIDs.showAccount)
      },
      trans,
      kernels,
      scope.notOwnerReason(trans)
    );
    statusBar.registerStatusItem(PluginIDs.statusbar, {
      item,
      align: 'left',
      rank: 50,
      isActive: () => setting.composite.showStatusItem as boolean,
      activeStateChanged: setting.changed
    });
    if (profiles && bindings && notebooks) {
      // Which account the current notebook uses (with several profiles, or
      // a binding to an account this lab is not signed in to).
      const notebookItem = new NotebookProfileStatus(
        profiles,
        bindings,
        notebooks,
        () => void app.commands.execute(CommandIDs.useProfile),
        trans
      );
      statusBar.registerStatusItem(PluginIDs.notebookProfile, {
        item: notebookItem,
        align: 'left',
        rank: 51,
        isActive: () =>
          (setting.composite.showStatusItem as boolean) &&
          notebookItem.isRelevant,
        activeStateChanged: notebookItem.relevanceChanged
      });
    }
  }
};

export default [
  sessionPlugin,
  commandsPlugin,
  kernelsPlugin,
  statusbarPlugin,
  profilesPlugin,
  bindingsPlugin
];
