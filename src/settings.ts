// Typed view of the `jupyterlab-carto-auth:session` settings, and the rule
// every URL the lab talks to obeys: https, or http on this machine only.
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';

/** Plugin ids; settings schemas are named after their suffix. */
export namespace PluginIDs {
  export const session = 'jupyterlab-carto-auth:session';
  export const commands = 'jupyterlab-carto-auth:commands';
  export const statusbar = 'jupyterlab-carto-auth:statusbar';
  export const kernels = 'jupyterlab-carto-auth:kernels';
  export const profiles = 'jupyterlab-carto-auth:profiles';
  export const bindings = 'jupyterlab-carto-auth:bindings';
  export const notebookProfile = 'jupyterlab-carto-auth:notebook-profile';
}

/** Command ids. */
export namespace CommandIDs {
  export const signIn = 'carto-auth:sign-in';
  export const signInSso = 'carto-auth:sign-in-sso';
  export const signOut = 'carto-auth:sign-out';
  export const pasteCode = 'carto-auth:paste-code';
  export const showAccount = 'carto-auth:show-account';
  export const addProfile = 'carto-auth:add-profile';
  export const addProfileSso = 'carto-auth:add-profile-sso';
  export const signOutAll = 'carto-auth:sign-out-all';
  export const useProfile = 'carto-auth:use-profile';
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
  /** Bound on each request to the identity provider (oidc-client-ts requests). */
  requestTimeoutSeconds: number;
  /** `ask`: a kernel gets the session only with the user's grant; `all`: every kernel. */
  kernelAccess: 'ask' | 'all';
}

/** The URL settings, with their titles in the settings editor. */
export function urlSettingTitles(
  trans: TranslationBundle
): Record<UrlSetting, string> {
  return {
    redirectUri: trans.__('Redirect URI'),
    accessCodeRedirectUri: trans.__('Access-code page'),
    issuer: trans.__('Issuer'),
    authorizeUrl: trans.__('Authorize URL'),
    tokenUrl: trans.__('Token URL'),
    revocationUrl: trans.__('Revocation URL'),
    accountsUrl: trans.__('Accounts URL'),
    tenantConfigUrlTemplate: trans.__('Tenant configuration URL'),
    apiBaseUrl: trans.__('API base URL')
  };
}

/** A URL setting. */
export type UrlSetting =
  | 'redirectUri'
  | 'accessCodeRedirectUri'
  | 'issuer'
  | 'authorizeUrl'
  | 'tokenUrl'
  | 'revocationUrl'
  | 'accountsUrl'
  | 'tenantConfigUrlTemplate'
  | 'apiBaseUrl';

/** URL settings whose empty value means "none" (no revocation, discover). */
const MAY_BE_EMPTY: ReadonlySet<UrlSetting> = new Set([
  'revocationUrl',
  'apiBaseUrl'
]);

/** Whether a URL's host name is this machine (the only place plain http may go). */
export function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/**
 * Why a URL may not be used by the lab, or null when it may: it must be an
 * absolute https URL, or http to this machine (localhost, 127.0.0.0/8,
 * [::1]). Anything else (http to another host, `javascript:`, `data:`, a
 * relative path) is refused.
 */
export function urlProblem(
  value: string,
  trans: TranslationBundle = nullTranslator.load('jupyterlab_carto_auth')
): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return trans.__('it is not an absolute URL');
  }
  if (url.protocol === 'https:') {
    return null;
  }
  if (url.protocol === 'http:') {
    return isLoopback(url.hostname)
      ? null
      : trans.__(
          'plain http is allowed only to this machine (localhost, 127.0.0.1, [::1]); use https'
        );
  }
  return trans.__('the scheme %1 is not allowed; use https', url.protocol);
}

/** A URL setting whose value was refused, and what is used instead. */
export interface IRefusedSetting {
  readonly key: UrlSetting;
  readonly value: string;
  readonly reason: string;
  /** The value used instead: the setting's default, or '' when the default is refused too. */
  readonly used: string;
  /** The message for the user. */
  readonly message: string;
}

/** The settings read, and the URL settings refused. */
export interface IReadSettings {
  readonly settings: ICartoSettings;
  readonly refused: readonly IRefusedSetting[];
}

/**
 * Read the composite settings, resolving `{baseUrl}` in the redirect URI to
 * this server's absolute base URL (so a callback served by Jupyter works
 * behind JupyterHub's `/user/<name>/` prefix), and refusing URL settings
 * that break the rule of {@link urlProblem} (see {@link checkUrlSettings}).
 */
export function readSettings(
  setting: ISettingRegistry.ISettings,
  baseUrl: string,
  trans?: TranslationBundle
): IReadSettings {
  const composite = setting.composite as unknown as ICartoSettings;
  return checkUrlSettings(
    composite,
    key => String(setting.default(key) ?? ''),
    baseUrl,
    trans
  );
}

/**
 * Refuse every URL setting that breaks the rule of {@link urlProblem}: a
 * refused value is never used; the setting's default is used instead (the
 * value in the schema, or the administrator's override of it), or nothing
 * ('') when the default breaks the rule too, so that the features that need
 * it say which setting to fix.
 *
 * The redirect URI may also be this lab's own origin (`{baseUrl}...`), and
 * the tenant configuration template is checked with a loopback host in
 * place of `{tenant_domain}` (discovery checks the URL it makes).
 */
export function checkUrlSettings(
  composite: ICartoSettings,
  defaultOf: (key: UrlSetting) => string,
  baseUrl: string,
  trans: TranslationBundle = nullTranslator.load('jupyterlab_carto_auth')
): IReadSettings {
  const settings: Record<string, unknown> = {
    ...composite,
    redirectUri: resolveBaseUrl(composite.redirectUri, baseUrl)
  };
  const problem = (key: UrlSetting, value: string): string | null => {
    if (value === '' && MAY_BE_EMPTY.has(key)) {
      return null;
    }
    if (key === 'redirectUri' && isOwnOrigin(value)) {
      return null;
    }
    if (key === 'tenantConfigUrlTemplate') {
      value = value.replace('{tenant_domain}', 'localhost');
    }
    return urlProblem(value, trans);
  };
  const refused: IRefusedSetting[] = [];
  const titles = urlSettingTitles(trans);
  for (const key of Object.keys(titles) as UrlSetting[]) {
    const value = String(settings[key] ?? '');
    const reason = problem(key, value);
    if (reason === null) {
      continue;
    }
    let fallback = defaultOf(key);
    if (key === 'redirectUri') {
      fallback = resolveBaseUrl(fallback, baseUrl);
    }
    const used = problem(key, fallback) === null ? fallback : '';
    settings[key] = used;
    refused.push({
      key,
      value,
      reason,
      used,
      message: used
        ? trans.__(
            'The CARTO setting "%1" was refused: %2 (%3). The default %4 is used instead; fix the setting in Settings → CARTO sign-in.',
            titles[key],
            clip(value),
            reason,
            used
          )
        : trans.__(
            'The CARTO setting "%1" was refused: %2 (%3), and so is its default. Set it to an https address (http only for localhost) in Settings → CARTO sign-in.',
            titles[key],
            clip(value),
            reason
          )
    });
  }
  return { settings: settings as unknown as ICartoSettings, refused };
}

/** Whether a URL is on the origin of this page (the lab itself). */
function isOwnOrigin(value: string): boolean {
  try {
    return new URL(value).origin === window.location.origin;
  } catch {
    return false;
  }
}

/** A value short enough for a message. */
function clip(value: string): string {
  const text = JSON.stringify(value);
  return text.length > 80 ? text.slice(0, 77) + '…"' : text;
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
