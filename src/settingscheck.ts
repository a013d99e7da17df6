// The start-up half of settingproblems.ts: whether there is anything to say
// about the session settings (a user file the server ignored, a default of a
// key that does not exist). It is small and loads with the extension; the
// messages (settingproblems.ts) load only when there is something to say.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { ICartoSettings } from './settings';

/** Every key of the session settings (schema/session.json; a jest test compares them). */
export const SESSION_SETTING_KEYS: readonly (keyof ICartoSettings)[] =
  Object.keys({
    organization: 1,
    rememberSession: 1,
    signInMethod: 1,
    clientId: 1,
    redirectUri: 1,
    accessCodeRedirectUri: 1,
    issuer: 1,
    authorizeUrl: 1,
    tokenUrl: 1,
    revocationUrl: 1,
    audience: 1,
    scope: 1,
    accountsUrl: 1,
    tenantConfigUrlTemplate: 1,
    apiBaseUrl: 1,
    tokenTransport: 1,
    refreshMarginSeconds: 1,
    accessCodeLifetimeSeconds: 1,
    signInTimeoutSeconds: 1,
    requestTimeoutSeconds: 1,
    kernelAccess: 1
  } satisfies Record<keyof ICartoSettings, 1>) as (keyof ICartoSettings)[];

/** Whether the administrator's defaults name a key the session has not. */
export function hasUnknownDefaults(schema: ISettingRegistry.ISchema): boolean {
  const known = new Set<string>(SESSION_SETTING_KEYS);
  return Object.keys(schema.properties ?? {}).some(key => !known.has(key));
}

/**
 * The Jupyter server's warning about the user's session settings file
 * (`GET carto-auth/settings-check`), or null: none, or no answer.
 */
export async function settingsFileWarning(
  serverSettings?: ServerConnection.ISettings
): Promise<string | null> {
  try {
    const settings = serverSettings ?? ServerConnection.makeSettings();
    const response = await ServerConnection.makeRequest(
      URLExt.join(settings.baseUrl, 'carto-auth', 'settings-check'),
      {},
      settings
    );
    const answer = response.ok ? await response.json() : null;
    return typeof answer?.warning === 'string' && answer.warning
      ? answer.warning
      : null;
  } catch {
    return null;
  }
}
