// The one client of this extension's server API (`<baseUrl>/carto-auth/...`),
// in the extension template's `requestAPI` style: every URL is built here
// from the server settings, and a server that does not answer is reported
// here, once.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';

import { CartoAuthError } from './errors';

/** The URL of an endpoint of the server extension, e.g. `relay/<attempt>`. */
export function apiUrl(
  endpoint: string,
  serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return URLExt.join(serverSettings.baseUrl, 'carto-auth', endpoint);
}

/**
 * Call the server extension. Resolves with the response whatever its status
 * (callers read their own error payloads); rejects with a CartoAuthError
 * when the server does not answer: `cancelled` when the caller aborted,
 * `network` otherwise (including the caller's own time limit).
 */
export async function requestAPI(
  endpoint: string,
  init: RequestInit = {},
  serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings(),
  trans: TranslationBundle = nullTranslator.load('jupyterlab_carto_auth')
): Promise<Response> {
  try {
    return await ServerConnection.makeRequest(
      apiUrl(endpoint, serverSettings),
      init,
      serverSettings
    );
  } catch (error) {
    const signal = init.signal;
    if (signal?.aborted && !isTimeout(signal.reason)) {
      throw new CartoAuthError('cancelled', trans.__('Sign-in cancelled.'));
    }
    throw new CartoAuthError(
      'network',
      trans.__('The Jupyter server did not answer (%1).', String(error))
    );
  }
}

function isTimeout(reason: unknown): boolean {
  return reason instanceof DOMException && reason.name === 'TimeoutError';
}
