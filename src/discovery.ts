// After sign-in, find the user's CARTO API base URL as carto-auth does:
// accounts -> tenant domain -> tenant config.yaml -> apis.baseUrl.
import { load as loadYaml } from 'js-yaml';

import { CartoAuthError } from './errors';
import { ICartoSettings, urlProblem } from './settings';
import { Transport } from './transport';

/** What discovery found. */
export interface IDiscovered {
  readonly apiBaseUrl: string;
  readonly region: string | null;
}

/** The short region name of a CARTO API base URL (`gcp-us-east1`), or null. */
export function regionOf(apiBaseUrl: string): string | null {
  try {
    const host = new URL(apiBaseUrl).hostname;
    const match = host.match(/^([a-z0-9-]+)\.api\.carto\.com$/);
    return match ? match[1] : null;
  } catch {
    return null;
  }
}

/**
 * Discover the API base URL, unless the `apiBaseUrl` setting gives it.
 */
export async function discoverApiBaseUrl(
  settings: ICartoSettings,
  accessToken: string,
  transport: Transport
): Promise<IDiscovered> {
  if (settings.apiBaseUrl) {
    refuseUrl(settings.apiBaseUrl, 'The API base URL setting');
    return {
      apiBaseUrl: settings.apiBaseUrl.replace(/\/+$/, ''),
      region: regionOf(settings.apiBaseUrl)
    };
  }
  const accounts = await transport.fetch({
    url: settings.accountsUrl,
    method: 'GET',
    headers: {
      authorization: `Bearer ${accessToken}`,
      accept: 'application/json'
    },
    timeoutMs: 20000
  });
  let account: { tenant_domain?: unknown; region?: unknown };
  try {
    account = JSON.parse(accounts.body);
  } catch {
    account = {};
  }
  if (accounts.status !== 200 || typeof account.tenant_domain !== 'string') {
    throw new CartoAuthError(
      'bad_response',
      `CARTO accounts (${new URL(settings.accountsUrl).host}) answered ${accounts.status} without a tenant. Set the API base URL in the CARTO settings.`
    );
  }
  // A host name with an optional port, nothing that could change the URL's
  // shape (no user info, path, query or fragment).
  if (
    !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/i.test(account.tenant_domain)
  ) {
    throw new CartoAuthError(
      'bad_response',
      `CARTO accounts (${new URL(settings.accountsUrl).host}) answered a tenant domain that is not a host name (${clip(account.tenant_domain)}): refused. Set the API base URL in the CARTO settings.`
    );
  }
  const configUrl = settings.tenantConfigUrlTemplate.replace(
    '{tenant_domain}',
    account.tenant_domain
  );
  refuseUrl(configUrl, 'The tenant configuration URL');
  const config = await transport.fetch({
    url: configUrl,
    method: 'GET',
    timeoutMs: 20000
  });
  let baseUrl: unknown;
  try {
    baseUrl = (loadYaml(config.body) as any)?.apis?.baseUrl;
  } catch {
    baseUrl = undefined;
  }
  if (config.status !== 200 || typeof baseUrl !== 'string' || !baseUrl) {
    throw new CartoAuthError(
      'bad_response',
      `The tenant configuration at ${configUrl} has no apis.baseUrl. Set the API base URL in the CARTO settings.`
    );
  }
  refuseUrl(
    baseUrl,
    `The apis.baseUrl of the tenant configuration at ${configUrl}`
  );
  const apiBaseUrl = baseUrl.replace(/\/+$/, '');
  return {
    apiBaseUrl,
    region:
      regionOf(apiBaseUrl) ??
      (typeof account.region === 'string' ? account.region : null)
  };
}

/** Throw when a URL breaks the lab's rule (https, or http to this machine). */
function refuseUrl(url: string, what: string): void {
  const problem = urlProblem(url);
  if (problem) {
    throw new CartoAuthError(
      'bad_response',
      `${what} (${clip(url)}) was refused: ${problem}. Set the API base URL in the CARTO settings.`
    );
  }
}

/** A value from an answer, short enough for a message. */
function clip(value: string): string {
  const text = JSON.stringify(value);
  return text.length > 80 ? text.slice(0, 77) + '…"' : text;
}
