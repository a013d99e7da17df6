// Typed view of the `jupyterlab-carto-auth:session` settings.
import { ISettingRegistry } from '@jupyterlab/settingregistry';

/** Plugin ids; settings schemas are named after their suffix. */
export namespace PluginIDs {
  export const session = 'jupyterlab-carto-auth:session';
  export const commands = 'jupyterlab-carto-auth:commands';
  export const statusbar = 'jupyterlab-carto-auth:statusbar';
  export const kernels = 'jupyterlab-carto-auth:kernels';
}

/** Command ids. */
export namespace CommandIDs {
  export const signIn = 'carto-auth:sign-in';
  export const signInSso = 'carto-auth:sign-in-sso';
  export const signOut = 'carto-auth:sign-out';
  export const pasteCode = 'carto-auth:paste-code';
  export const showAccount = 'carto-auth:show-account';
}

/**
 * Settings of the CARTO session. Defaults (in `schema/session.json`) are the
 * real CARTO values.
 */
export interface ICartoSettings {
  organization: string;
  rememberSession: boolean;
  signInMethod: 'auto' | 'popup' | 'paste';
  clientId: string;
  redirectUri: string;
  accessCodeRedirectUri: string;
  issuer: string;
  authorizeUrl: string;
  tokenUrl: string;
  revocationUrl: string;
  audience: string;
  scope: string;
  accountsUrl: string;
  tenantConfigUrlTemplate: string;
  apiBaseUrl: string;
  tokenTransport: 'auto' | 'browser' | 'server';
  refreshMarginSeconds: number;
  accessCodeLifetimeSeconds: number;
  signInTimeoutSeconds: number;
  /** `ask`: a kernel gets the session only with the user's grant; `all`: every kernel. */
  kernelAccess: 'ask' | 'all';
}

/**
 * Read the composite settings, resolving `{baseUrl}` in the redirect URI to
 * this server's absolute base URL (so a callback served by Jupyter works
 * behind JupyterHub's `/user/<name>/` prefix).
 */
export function readSettings(
  setting: ISettingRegistry.ISettings,
  baseUrl: string
): ICartoSettings {
  const composite = setting.composite as unknown as ICartoSettings;
  return {
    ...composite,
    redirectUri: resolveBaseUrl(composite.redirectUri, baseUrl)
  };
}

/**
 * Replace `{baseUrl}` by the absolute URL of this Jupyter server.
 *
 * @param baseUrl - the server's base URL (`ServerConnection.ISettings.baseUrl`).
 */
export function resolveBaseUrl(template: string, baseUrl: string): string {
  if (!template.includes('{baseUrl}')) {
    return template;
  }
  const base = new URL(baseUrl, window.location.href).href;
  return template.replace('{baseUrl}', base.endsWith('/') ? base : base + '/');
}
