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

import { CartoAuthError } from './errors';
import { cartoIcon } from './icons';
import { KernelWatch } from './kernelwatch';
// eslint-disable-next-line jupyter/prefer-lazy-imports -- the session is the service this plugin provides at activation
import { CartoSession } from './session';
import { readServerScope } from './scope';
import { CommandIDs, PluginIDs, readSettings } from './settings';
import { CartoStatus } from './statusbar';
import { ICartoKernels, ICartoSession, ISignInOptions } from './tokens';

export { ICartoKernels, ICartoSession } from './tokens';
export type { ICartoSessionInfo, ICartoUser, ISignInOptions } from './tokens';

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
    const setting = await registry.load(PluginIDs.session);
    const { serverSettings } = app.serviceManager;
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
    const session = new CartoSession({
      scope: await readServerScope(serverSettings),
      state,
      trans,
      settings: read(),
      askForCode: async prompt =>
        (await import('./dialogs')).askForCode(prompt, trans),
      serverSettings
    });
    setting.changed.connect(() => session.updateSettings(read()));
    void app.restored.then(() => session.restore());
    session.expiring.connect((_, secondsLeft) => {
      Notification.warning(
        trans.__('Your CARTO session ends in %1 seconds.', secondsLeft),
        {
          autoClose: false,
          actions: [
            {
              label: trans.__('Renew'),
              callback: () => void app.commands.execute(CommandIDs.signIn)
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
            callback: () => void app.commands.execute(CommandIDs.signIn)
          }
        ]
      });
    });
    return session;
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
  optional: [ITranslator, ICommandPalette, ICartoKernels],
  activate: (
    app: JupyterFrontEnd,
    session: ICartoSession,
    translator: ITranslator | null,
    palette: ICommandPalette | null,
    kernels: ICartoKernels | null = null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_carto_auth');
    const { commands } = app;

    const signIn = async (options: ISignInOptions = {}): Promise<void> => {
      try {
        await session.signIn(options);
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
            await signIn({ ...options, method: 'paste' });
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
            }
          }
        }
      },
      icon: cartoIcon,
      isEnabled: () => session.info.status !== 'signing-in',
      execute: args =>
        signIn(
          typeof args.organization === 'string' && args.organization
            ? { organization: args.organization }
            : {}
        )
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
            access
          )
        ) {
          await session.signOut();
        }
      }
    });
    session.changed.connect(() => commands.notifyCommandChanged());

    if (palette) {
      const category = trans.__('CARTO');
      for (const command of [
        CommandIDs.signIn,
        CommandIDs.signInSso,
        CommandIDs.pasteCode,
        CommandIDs.signOut,
        CommandIDs.showAccount
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
  optional: [ITranslator, INotebookTracker, IConsoleTracker],
  provides: ICartoKernels,
  activate: async (
    app: JupyterFrontEnd,
    session: ICartoSession,
    registry: ISettingRegistry,
    translator: ITranslator | null,
    notebooks: INotebookTracker | null,
    consoles: IConsoleTracker | null
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
            (await import('./dialogs')).askAccess(request, session.info, trans),
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
          trans,
          signIn: async options => {
            await app.commands.execute(CommandIDs.signIn, { ...options });
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
  optional: [ITranslator, IStatusBar, ICartoKernels],
  activate: async (
    app: JupyterFrontEnd,
    session: ICartoSession,
    registry: ISettingRegistry,
    translator: ITranslator | null,
    statusBar: IStatusBar | null,
    kernels: ICartoKernels | null
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
  }
};

export default [sessionPlugin, commandsPlugin, kernelsPlugin, statusbarPlugin];
