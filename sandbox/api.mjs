// Stand-in for the CARTO APIs the extension talks to. Every endpoint except
// /health and /config.yaml wants `Authorization: Bearer <JWT>`, verified like a
// real resource server would: signature against the provider's JWKS (fetched
// over HTTP from jwks_uri), issuer, audience carto-cloud-native-api, expiry.
//
//   GET /accounts                              (real: https://accounts.app.carto.com/accounts)
//   GET /config.yaml                           (real: https://<tenant_domain>/config.yaml, no token)
//   GET /v3/connections/carto-dw/token
//   GET /v3/sql/:connection/query?q=...
//   GET /health                                (no token)

import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';

import { sendJson } from './pages.mjs';

const BEARER_RE = /^Bearer ([A-Za-z0-9\-_.~+/]+=*)$/;

function corsHeaders(req) {
  return {
    'Access-Control-Allow-Origin': req.headers.origin ?? '*',
    'Access-Control-Expose-Headers': 'WWW-Authenticate',
    Vary: 'Origin'
  };
}

class ApiError extends Error {
  constructor(status, error, description, headers = {}) {
    super(description);
    Object.assign(this, { status, error, description, headers });
  }
}

const unauthorized = description =>
  new ApiError(401, 'invalid_token', description, {
    'WWW-Authenticate': `Bearer realm="carto-sandbox", error="invalid_token", error_description="${description.replaceAll('"', "'")}"`
  });

// jose error codes that mean "this token is bad" (401); anything else while
// verifying (JWKS unreachable, timeout) is the API's own trouble (503).
const TOKEN_ERROR_CODES = new Set([
  'ERR_JWT_EXPIRED',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JWT_INVALID',
  'ERR_JWS_INVALID',
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
  'ERR_JOSE_NOT_SUPPORTED'
]);

/**
 * @param {object} p
 * @param {string} p.issuer        expected `iss`
 * @param {string} p.jwksUri       provider JWKS URL
 * @param {string} p.audience      expected `aud`
 * @param {string} p.apiBaseUrl    e.g. http://127.0.0.1:PORT
 * @param {string} p.tenantDomain  e.g. 127.0.0.1:PORT
 * @param {object} p.stats         shared counters (provider.mjs createStats)
 * @param {object} p.jwksHeaders   extra headers for the JWKS fetch
 */
export function createApiHandler({
  issuer,
  jwksUri,
  audience,
  apiBaseUrl,
  tenantDomain,
  stats,
  jwksHeaders = {}
}) {
  const remoteJwks = () =>
    createRemoteJWKSet(new URL(jwksUri), {
      headers: jwksHeaders,
      timeoutDuration: 3000,
      cooldownDuration: 1000
    });
  let jwks = remoteJwks();
  let jwksGeneration = stats.jwksGeneration ?? 0;
  // After the rotate-keys hook the old key is gone at once, as after an
  // abrupt rotation: drop the cached JWKS, so tokens it signed are refused.
  const currentJwks = () => {
    if ((stats.jwksGeneration ?? 0) !== jwksGeneration) {
      jwksGeneration = stats.jwksGeneration;
      jwks = remoteJwks();
    }
    return jwks;
  };

  /** Whether a verified token was revoked upstream (test hook /__sandbox/api/revoke). */
  const revoked = (token, payload) => {
    if (stats.apiRevoked?.has(createHash('sha256').update(token).digest('hex')))
      return true;
    const before = stats.apiRevokedBefore?.get(payload.sub);
    return before !== undefined && Number(payload.iat) <= before;
  };

  async function authenticate(req) {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? BEARER_RE.exec(header) : null;
    if (!match)
      throw unauthorized('Missing or malformed Authorization: Bearer header');
    let payload;
    try {
      ({ payload } = await jwtVerify(match[1], currentJwks(), {
        issuer,
        audience,
        algorithms: ['RS256'],
        requiredClaims: ['exp', 'sub']
      }));
    } catch (err) {
      if (err?.code === 'ERR_JWT_EXPIRED')
        throw unauthorized('The access token has expired');
      if (
        err?.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' &&
        err.claim === 'aud'
      ) {
        throw unauthorized(`The access token audience is not ${audience}`);
      }
      if (
        err?.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' &&
        err.claim === 'iss'
      ) {
        throw unauthorized('The access token was not issued by this sandbox');
      }
      if (TOKEN_ERROR_CODES.has(err?.code))
        throw unauthorized('The access token is invalid');
      throw new ApiError(
        503,
        'temporarily_unavailable',
        'Could not verify the token: signing keys unavailable'
      );
    }
    if (revoked(match[1], payload)) {
      stats.counters.api_rejected_revoked += 1;
      throw unauthorized('The access token has been revoked');
    }
    return payload;
  }

  const emailOf = claims =>
    claims.email ?? claims['https://carto.com/email'] ?? null;

  const routes = [
    {
      name: 'health',
      path: /^\/health$/,
      auth: false,
      run: () => ({ ok: true })
    },
    {
      name: 'config',
      path: /^\/config\.yaml$/,
      auth: false,
      run: () => ({
        // Shape approximates a CARTO tenant config: clients read apis.baseUrl.
        yaml: [
          '# CARTO sandbox tenant configuration',
          'apis:',
          `  baseUrl: ${apiBaseUrl}`,
          `  sqlUrl: ${apiBaseUrl}/v3/sql`,
          `  mapsUrl: ${apiBaseUrl}/v3/maps`,
          `  accountsUrl: ${apiBaseUrl}/accounts`,
          'auth0:',
          `  domain: ${new URL(issuer).host}`,
          `  issuer: ${issuer}`,
          `  audience: ${audience}`,
          'tenant:',
          `  domain: ${tenantDomain}`,
          '  region: sandbox',
          ''
        ].join('\n')
      })
    },
    {
      name: 'accounts',
      path: /^\/accounts$/,
      auth: true,
      run: claims => ({
        tenant_domain: tenantDomain,
        id: `ac_${createHash('sha256').update(String(claims.sub)).digest('hex').slice(0, 16)}`,
        email: emailOf(claims),
        org: claims.org_id ?? null,
        region: 'sandbox'
      })
    },
    {
      name: 'carto_dw_token',
      path: /^\/v3\/connections\/carto-dw\/token$/,
      auth: true,
      run: () => ({
        projectId: 'carto-dw-sandbox-project',
        token: randomBytes(24).toString('base64url')
      })
    },
    {
      name: 'sql',
      path: /^\/v3\/sql\/([^/]+)\/query$/,
      auth: true,
      run: (claims, url, [connection]) => {
        let name;
        try {
          name = decodeURIComponent(connection);
        } catch {
          name = '';
        }
        if (!/^[A-Za-z0-9_.-]{1,128}$/.test(name)) {
          throw new ApiError(400, 'invalid_request', 'Invalid connection name');
        }
        const q = url.searchParams.get('q');
        if (!q)
          throw new ApiError(
            400,
            'invalid_request',
            'Missing query parameter q'
          );
        return {
          rows: [{ ok: 1, sub: claims.sub, connection: name }],
          schema: [
            { name: 'ok', type: 'number' },
            { name: 'sub', type: 'string' },
            { name: 'connection', type: 'string' }
          ],
          meta: {
            cacheHit: false,
            location: 'sandbox',
            totalBytesProcessed: '0'
          }
        };
      }
    }
  ];

  return async function apiHandler(req, res) {
    const cors = corsHeaders(req);
    let name = 'other';
    const finish = (status, body, headers = {}) => {
      stats.countApi(status, name);
      if (typeof body === 'string') {
        res.writeHead(status, {
          'Content-Type': 'text/yaml; charset=utf-8',
          'Cache-Control': 'no-store',
          'Content-Length': Buffer.byteLength(body),
          ...cors,
          ...headers
        });
        res.end(body);
      } else {
        sendJson(res, status, body, { ...cors, ...headers });
      }
    };

    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        'Access-Control-Allow-Methods': 'GET, OPTIONS',
        'Access-Control-Allow-Headers':
          req.headers['access-control-request-headers'] ??
          'Authorization, Content-Type',
        'Access-Control-Max-Age': '600'
      });
      res.end();
      return;
    }

    const url = new URL(req.url, apiBaseUrl);
    let route;
    let params;
    for (const candidate of routes) {
      const m = candidate.path.exec(url.pathname);
      if (m) {
        route = candidate;
        params = m.slice(1);
        name = candidate.name;
        break;
      }
    }
    if (!route)
      return finish(404, {
        error: 'not_found',
        description: `No such endpoint: ${url.pathname}`
      });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return finish(
        405,
        { error: 'method_not_allowed', description: 'Only GET is supported' },
        { Allow: 'GET' }
      );
    }

    try {
      const claims = route.auth ? await authenticate(req) : undefined;
      const result = route.run(claims, url, params);
      return finish(200, result.yaml ?? result);
    } catch (err) {
      if (err instanceof ApiError) {
        return finish(
          err.status,
          { error: err.error, description: err.description },
          err.headers
        );
      }
      throw err;
    }
  };
}
