// The harmless request that tells, before a token request, whether the
// browser may read the identity provider's answers (CORS) and whether the
// provider is up at all. Transport decides the route from its answer.
import { ICartoSettings } from './settings';
import { IHttpRequest } from './transport';

/**
 * A refresh with a token that cannot exist: the provider answers
 * invalid_grant, and whether the browser can read that answer tells the
 * route. No code is spent, nothing is created.
 */
export function tokenProbe(
  settings: Pick<ICartoSettings, 'tokenUrl' | 'clientId'>
): IHttpRequest {
  return {
    url: settings.tokenUrl,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: settings.clientId,
      refresh_token: 'cors-probe'
    }).toString(),
    timeoutMs: 10000
  };
}
