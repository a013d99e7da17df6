// The sandbox identity provider: a real OpenID Connect provider (oidc-provider 9)
// configured to behave like CARTO's Auth0 tenant (auth.carto.com) where it
// matters to clients:
//   - paths /authorize and /oauth/token, /oauth/revoke, /userinfo,
//     /.well-known/jwks.json, /oidc/logout;
//   - the Auth0 `audience` parameter (on /authorize and on the token endpoint),
//     mapped onto oidc-provider's resource indicators, giving JWT access tokens
//     with aud "carto-cloud-native-api";
//   - `organization` on /authorize, reflected as the `org_id` claim;
//   - refresh tokens for public clients when offline_access is requested, without
//     the OIDC rule that offline_access needs prompt=consent (Auth0 has no such rule);
//   - client credentials for a machine-to-machine client;
//   - CORS switchable per client;
//   - a plain sign-in form and CARTO's "access code" page (/auth/token).
//
// Test hooks (loopback only, dev only) live under /__sandbox/: stats, down/up,
// lifetimes, faults (slow, 500, garbage, no expires_in), key rotation, a
// clock offset, grant revocation, and the API stand-in's rejections.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';

import {
  errorPageHtml,
  readBody,
  renderAccessCodePage,
  renderLoginPage,
  renderMessagePage,
  sendJson,
  simplePageHtml
} from './pages.mjs';

export const AUDIENCE = 'carto-cloud-native-api';
// oidc-provider wants resource indicators to be absolute URIs; Auth0 audiences
// are plain strings. The API is therefore registered under this URN and the
// `audience` parameter is translated to it. Clients never see the URN: the
// access token's `aud` is AUDIENCE.
const API_RESOURCE = `urn:carto-sandbox:audience:${AUDIENCE}`;
const API_SCOPE = 'openid profile email offline_access';
const ORG_RE = /^[A-Za-z0-9_-]{1,64}$/;

export const ROUTES = {
  authorization: '/authorize',
  token: '/oauth/token',
  revocation: '/oauth/revoke',
  userinfo: '/userinfo',
  jwks: '/.well-known/jwks.json',
  end_session: '/oidc/logout'
};
export const ACCESS_CODE_PATH = '/auth/token';
export const DEFAULT_USER = {
  email: 'analyst@example.com',
  password: 'carto-sandbox',
  name: 'Sandbox Analyst'
};

const sha256 = value => createHash('sha256').update(value).digest();

function makeUsers(extraUsers) {
  const byEmail = new Map();
  const bySub = new Map();
  for (const { email, password, name } of [DEFAULT_USER, ...extraUsers]) {
    const key = email.toLowerCase();
    // Auth0-style subject for a database connection user, stable per email.
    const sub = `auth0|${sha256(key).toString('hex').slice(0, 24)}`;
    const user = {
      sub,
      email,
      name: name || email.split('@')[0],
      passwordHash: sha256(password)
    };
    byEmail.set(key, user);
    bySub.set(sub, user);
  }
  return {
    bySub,
    byEmail: email => byEmail.get(String(email).trim().toLowerCase()),
    check(email, password) {
      const user = byEmail.get(String(email).trim().toLowerCase());
      // Compare digests in constant time; unknown users cost the same.
      const ok = timingSafeEqual(
        sha256(String(password)),
        user ? user.passwordHash : sha256(randomBytes(8))
      );
      return ok && user ? user : undefined;
    }
  };
}

/** Counters the UI tests read through GET /__sandbox/stats. */
export function createStats() {
  const fresh = () => ({
    token_requests: {
      authorization_code: 0,
      refresh_token: 0,
      client_credentials: 0,
      other: 0
    },
    token_errors: {
      authorization_code: 0,
      refresh_token: 0,
      client_credentials: 0,
      other: 0
    },
    authorize_requests: 0,
    logins: { success: 0, failure: 0, cancelled: 0 },
    revocations: 0,
    api_requests: {},
    // { accounts: { "200": n, "401": m }, carto_dw_token: …, sql: …, … }
    api_requests_by_endpoint: {},
    rejected_while_down: 0,
    // Every request to the token endpoint, answered by the provider or by a fault.
    token_endpoint_requests: 0,
    faults_applied: 0,
    api_rejected_revoked: 0,
    key_rotations: 0,
    grants_revoked: 0
  });
  const stats = { counters: fresh(), down: false, fault: null, clockOffset: 0 };
  stats.reset = () => {
    stats.counters = fresh();
  };
  stats.countToken = (grantType, ok) => {
    const key = [
      'authorization_code',
      'refresh_token',
      'client_credentials'
    ].includes(grantType)
      ? grantType
      : 'other';
    stats.counters.token_requests[key] += 1;
    if (!ok) stats.counters.token_errors[key] += 1;
  };
  stats.countApi = (status, endpoint = 'other') => {
    const key = String(status);
    stats.counters.api_requests[key] =
      (stats.counters.api_requests[key] ?? 0) + 1;
    const byEndpoint = (stats.counters.api_requests_by_endpoint[endpoint] ??=
      {});
    byEndpoint[key] = (byEndpoint[key] ?? 0) + 1;
  };
  stats.snapshot = () => ({
    ...structuredClone(stats.counters),
    down: stats.down,
    fault: stats.fault ? { ...stats.fault } : null,
    clock_offset_seconds: stats.clockOffset,
    api_revoked: stats.apiRevoked.size
  });
  // Access tokens the API stand-in refuses as revoked upstream: token digests,
  // and per subject the time (epoch s) before which every token is refused.
  stats.apiRevoked = new Set();
  stats.apiRevokedBefore = new Map();
  return stats;
}

/** Provider endpoints a fault may apply to, by path. */
const ENDPOINTS = {
  [ROUTES.token]: 'token',
  [ROUTES.revocation]: 'revocation',
  [ROUTES.jwks]: 'jwks',
  [ROUTES.userinfo]: 'userinfo',
  [ROUTES.authorization]: 'authorize',
  '/.well-known/openid-configuration': 'discovery'
};
export const FAULT_KINDS = ['slow', '500', 'garbage', 'no_expires_in'];
const GRANT_TYPES = [
  'authorization_code',
  'refresh_token',
  'client_credentials'
];

/**
 * The fault of POST /__sandbox/fault: `{"kind", "endpoints"?, "grant_types"?,
 * "count"?, "delay_ms"?}`. Throws with a message saying what is wrong.
 */
export function parseFault(text) {
  let body;
  try {
    body = JSON.parse(text || '{}');
  } catch {
    throw new Error('the body must be JSON');
  }
  const { kind, endpoints = ['token'], grant_types, count, delay_ms } = body;
  if (!FAULT_KINDS.includes(kind))
    throw new Error(`kind must be one of ${FAULT_KINDS.join(', ')}`);
  const known = Object.values(ENDPOINTS);
  if (
    !Array.isArray(endpoints) ||
    endpoints.length === 0 ||
    !endpoints.every(e => known.includes(e))
  )
    throw new Error(`endpoints must be a list of ${known.join(', ')}`);
  if (
    grant_types !== undefined &&
    (!Array.isArray(grant_types) ||
      !grant_types.every(g => GRANT_TYPES.includes(g)))
  )
    throw new Error(`grant_types must be a list of ${GRANT_TYPES.join(', ')}`);
  if (count !== undefined && !(Number.isInteger(count) && count >= 1))
    throw new Error('count must be a whole number from 1');
  if (
    delay_ms !== undefined &&
    !(Number.isInteger(delay_ms) && delay_ms >= 0 && delay_ms <= 120000)
  )
    throw new Error('delay_ms must be a whole number from 0 to 120000');
  return {
    kind,
    endpoints,
    grant_types: grant_types ?? null,
    count: count ?? null,
    delay_ms: kind === 'slow' ? (delay_ms ?? 60000) : null
  };
}

/**
 * Build the provider and the node:http request handler for the issuer port.
 * @param {object} p
 * @param {string} p.issuer  e.g. http://127.0.0.1:PORT/
 * @param {object} p.options parsed options (options.mjs)
 * @param {object} p.stats   createStats()
 * @param {string} p.internalToken secret header value letting the in-process API fetch JWKS while "down"
 * @param {(msg: string) => void} p.log stderr logger (no secrets!)
 */
export async function createIdentityProvider({
  issuer,
  options,
  stats,
  internalToken,
  log
}) {
  const origin = new URL(issuer).origin;
  const users = makeUsers(options.users);
  // Grant id -> organization (or null). Grants are per (session, client); a
  // sign-in for another organization gets a new grant (see loadExistingGrant),
  // so every token minted from a grant carries that grant's org_id.
  const grantOrg = new Map();

  const newSigningKey = async () => {
    const { privateKey } = await generateKeyPair('RS256', {
      extractable: true
    });
    return {
      ...(await exportJWK(privateKey)),
      kid: randomBytes(12).toString('base64url'),
      alg: 'RS256',
      use: 'sig'
    };
  };
  // Replaced by the rotate-keys hook: the JWKS then holds the new key only.
  let signingKey = await newSigningKey();
  // Grant ids by account, for the hook that revokes every grant of a user.
  const grantsOf = new Map();

  const accessCodeUri = `${origin}${ACCESS_CODE_PATH}`;
  const publicRedirectUris = [
    `http://localhost:${options.callbackPort}/callback/`,
    accessCodeUri
  ];
  const spaClient = (clientId, cors) => ({
    client_id: clientId,
    client_name: cors ? 'CARTO sandbox SPA' : 'CARTO sandbox SPA (no CORS)',
    application_type: 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: options.spaRedirectUris,
    carto_cors: cors
  });
  const clients = [
    {
      // Mirrors CARTO's public PKCE client used by carto-auth.
      client_id: options.publicClientId,
      client_name: 'CARTO (sandbox public client)',
      // 'web' keeps redirect URI matching exact (as Auth0 does); http loopback
      // URIs are allowed for web clients that do not use the implicit flow.
      application_type: 'web',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: publicRedirectUris,
      carto_cors: true
    },
    spaClient('sandbox-spa', true),
    spaClient('sandbox-spa-nocors', false),
    {
      client_id: options.m2mClientId,
      client_secret: options.m2mClientSecret,
      client_name: 'CARTO sandbox M2M',
      // client_secret_basic is accepted too: oidc-provider treats the two
      // secret methods as interchangeable for authentication.
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      carto_cors: false
    }
  ];

  function audienceToResource(audience) {
    if (Array.isArray(audience)) {
      throw new errors.InvalidRequest('audience must be provided once');
    }
    if (audience !== AUDIENCE) {
      // Auth0's answer for an unknown API identifier.
      throw new errors.AccessDenied(`Service not found: ${audience}`);
    }
    return API_RESOURCE;
  }

  const configuration = {
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' }
    },
    routes: ROUTES,
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: {
      acr: null,
      sid: null,
      auth_time: null,
      iss: null,
      // org_id (Auth0's organization claim) rides on the openid scope so that
      // it reaches the id_token; findAccount only sets it for org sign-ins.
      openid: ['sub', 'org_id'],
      email: ['email', 'email_verified'],
      profile: ['name', 'nickname', 'updated_at']
    },
    // Auth0 puts the profile/email claims in the id_token even for response_type=code.
    conformIdTokenClaims: false,
    // Auth0 extra authorization parameters. The validators run on /authorize.
    extraParams: {
      audience(ctx, value) {
        if (value !== undefined) audienceToResource(value);
      },
      organization(ctx, value) {
        if (value !== undefined && !ORG_RE.test(value)) {
          throw new errors.InvalidRequest(
            'organization must match ^[A-Za-z0-9_-]{1,64}$'
          );
        }
      }
    },
    extraClientMetadata: {
      properties: ['carto_cors'],
      validator(ctx, key, value) {
        if (
          key === 'carto_cors' &&
          value !== undefined &&
          typeof value !== 'boolean'
        ) {
          throw new errors.InvalidClientMetadata(
            'carto_cors must be a boolean'
          );
        }
      }
    },
    // CORS on the token, revocation and userinfo endpoints is a per-client switch.
    // oidc-provider answers every preflight; the actual request from a
    // non-allowed origin gets no Access-Control-Allow-Origin (and a 400), so a
    // browser cannot read it.
    clientBasedCORS(ctx, requestOrigin, client) {
      return client.carto_cors === true && requestOrigin !== 'null';
    },
    pkce: {
      // Default rule (public clients must use PKCE, S256 only), stated explicitly.
      required: (ctx, client) => client.clientAuthMethod === 'none'
    },
    issueRefreshToken: async (ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') &&
      code.scopes.has('offline_access'),
    // Rotation for every client: a used refresh token is consumed, reuse revokes the grant.
    rotateRefreshToken: () => true,
    async findAccount(ctx, sub) {
      const user = users.bySub.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          // During a token request the grant is known: its organization, if any.
          const org = grantOrg.get(ctx?.oidc?.entities?.Grant?.jti);
          return {
            ...(org ? { org_id: org } : {}),
            sub,
            email: user.email,
            email_verified: true,
            name: user.name,
            nickname: user.email.split('@')[0],
            updated_at: 0
          };
        }
      };
    },
    async loadExistingGrant(ctx) {
      const grantId =
        ctx.oidc.result?.consent?.grantId ||
        ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (!grantId) return undefined;
      const wanted = ctx.oidc.params?.organization ?? null;
      if ((grantOrg.get(grantId) ?? null) !== wanted) return undefined;
      return ctx.oidc.provider.Grant.find(grantId);
    },
    async extraTokenClaims(ctx, token) {
      if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
      const user = users.bySub.get(token.accountId);
      if (!user) return undefined;
      const claims = {
        email: user.email,
        'https://carto.com/email': user.email
      };
      const org = grantOrg.get(token.grantId);
      if (org) claims.org_id = org;
      return claims;
    },
    formats: {
      customizers: {
        // Auth0 touches: azp everywhere, "<client_id>@clients" subject and gty for M2M tokens.
        jwt(ctx, token, jwt) {
          jwt.payload.azp = token.clientId;
          // The clock-offset hook: the provider's clock is that far off.
          for (const claim of ['iat', 'exp', 'nbf']) {
            if (typeof jwt.payload[claim] === 'number')
              jwt.payload[claim] += stats.clockOffset;
          }
          if (token.kind === 'ClientCredentials') {
            jwt.payload.sub = `${token.clientId}@clients`;
            jwt.payload.gty = 'client-credentials';
          }
          return jwt;
        }
      }
    },
    ttl: {
      AccessToken: (ctx, token) =>
        token.resourceServer?.accessTokenTTL ?? options.accessTokenTtl,
      ClientCredentials: (ctx, token) =>
        token.resourceServer?.accessTokenTTL ?? options.accessTokenTtl,
      AuthorizationCode: () => options.codeTtl,
      IdToken: () => options.accessTokenTtl,
      // Absolute lifetime of a refresh token chain: rotation does not extend it.
      RefreshToken: ctx =>
        ctx?.oidc?.entities.RotatedRefreshToken?.remainingTTL ??
        options.refreshTokenTtl,
      Grant: () => options.refreshTokenTtl + 60,
      Session: () => options.refreshTokenTtl,
      Interaction: () => 10 * 60
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      userinfo: { enabled: true },
      pushedAuthorizationRequests: { enabled: false },
      revocation: {
        enabled: true,
        // A client may revoke only its own tokens (oidc-provider's default rule).
        async allowedPolicy(ctx, client, token) {
          if (token.clientId !== client.clientId) {
            if (client.clientAuthMethod === 'none') return false;
            throw new errors.InvalidRequest(
              'client is not authorized to revoke the presented token'
            );
          }
          return true;
        }
      },
      resourceIndicators: {
        enabled: true,
        async defaultResource(ctx, client, oneOf) {
          if (oneOf)
            return oneOf.includes(API_RESOURCE) ? API_RESOURCE : oneOf[0];
          // On /authorize the extra param is in params; on the token endpoint
          // oidc-provider strips unknown params, but the raw form body is kept.
          const audience = ctx.oidc.params?.audience ?? ctx.oidc.body?.audience;
          if (audience !== undefined && audience !== '')
            return audienceToResource(audience);
          if (
            ctx.oidc.route === 'token' &&
            ctx.oidc.params?.grant_type === 'client_credentials'
          ) {
            throw new errors.AccessDenied(
              'No audience parameter was provided, and no default audience has been configured'
            );
          }
          return undefined; // no audience: opaque token for /userinfo only, as with Auth0
        },
        // Exchanging a code / refresh token keeps the API audience chosen at /authorize.
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx, resourceIndicator) {
          if (resourceIndicator !== API_RESOURCE)
            throw new errors.InvalidTarget();
          return {
            audience: AUDIENCE,
            scope: API_SCOPE,
            accessTokenFormat: 'jwt',
            accessTokenTTL: options.accessTokenTtl,
            jwt: { sign: { alg: 'RS256' } }
          };
        }
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = simplePageHtml(
            'Sign out of the CARTO sandbox?',
            `${form}
<div class="buttons"><button class="primary" type="submit" form="op.logoutForm" value="yes" name="logout">Sign out</button>
<button class="secondary" type="submit" form="op.logoutForm">Stay signed in</button></div>`
          );
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = simplePageHtml(
            'Signed out',
            '<p>You are signed out of the CARTO sandbox.</p>'
          );
        }
      }
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = errorPageHtml(out);
    }
  };

  // The provider is rebuilt, with a new signing key, by the rotate-keys hook.
  // Grants, sessions and tokens survive: every build shares one in-memory
  // store (oidc-provider's own adapter), and the cookie keys stay the same.
  const sharedStore = createMemoryAdapter(15);
  let provider;
  let providerCallback;
  const build = () => {
    const built = new Provider(issuer, {
      ...configuration,
      clients: clients.map(client => ({ ...client })),
      jwks: { keys: [signingKey] },
      adapter: sharedStore
    });
    built.proxy = false;
    setUp(built);
    provider = built;
    providerCallback = built.callback();
  };

  function setUp(provider) {
    // Auth0 issues refresh tokens for offline_access without prompt=consent;
    // oidc-provider (per OIDC Core 11) drops offline_access unless prompt
    // contains consent. Add "consent" to /authorize requests that ask for
    // offline_access (unless prompt=none); the consent step is auto-approved
    // below, so the user sees no extra page.
    provider.use(async (ctx, next) => {
      if (ctx.method === 'GET' && ctx.path === ROUTES.authorization) {
        stats.counters.authorize_requests += 1;
        const query = { ...ctx.query };
        if (
          typeof query.scope === 'string' &&
          query.scope.split(' ').includes('offline_access') &&
          (query.prompt === undefined || typeof query.prompt === 'string')
        ) {
          const prompts = new Set(
            (query.prompt ?? '').split(' ').filter(Boolean)
          );
          if (!prompts.has('none') && !prompts.has('consent')) {
            prompts.add('consent');
            query.prompt = [...prompts].join(' ');
            ctx.query = query;
          }
        }
      }
      await next();
    });

    provider.on('grant.success', ctx =>
      stats.countToken(ctx.oidc.params?.grant_type, true)
    );
    provider.on('grant.error', ctx =>
      stats.countToken(
        ctx.oidc?.params?.grant_type ?? ctx.oidc?.body?.grant_type,
        false
      )
    );
    provider.on('revocation.success', () => {
      stats.counters.revocations += 1;
    });
    provider.on('server_error', (ctx, err) =>
      log(
        `oidc-provider server error on ${ctx.method} ${ctx.path}: ${err.message}`
      )
    );
    provider.on('grant.saved', grant => {
      if (!grant.accountId) return;
      if (!grantsOf.has(grant.accountId))
        grantsOf.set(grant.accountId, new Set());
      grantsOf.get(grant.accountId).add(grant.jti);
    });
  }
  build();

  // ----- interactions (sign-in form, auto-consent, cancel) -----

  async function interaction(req, res, url) {
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?$/.exec(
      url.pathname
    );
    if (!match)
      return renderMessagePage(res, 404, {
        title: 'Not found',
        message: 'Unknown sign-in page.'
      });
    const [, uid, action] = match;

    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      if (err instanceof errors.SessionNotFound) {
        return renderMessagePage(res, 400, {
          title: 'Sign-in expired',
          message:
            'This sign-in attempt expired or was already completed. Close this page and start the sign-in again.'
        });
      }
      throw err;
    }
    if (details.uid !== uid) {
      return renderMessagePage(res, 400, {
        title: 'Sign-in mismatch',
        message: 'This page does not belong to the current sign-in attempt.'
      });
    }
    const { prompt, params, session } = details;
    const client = await provider.Client.find(params.client_id);
    const clientName = client?.clientName ?? params.client_id;

    if (action === 'abort' && req.method === 'POST') {
      stats.counters.logins.cancelled += 1;
      return provider.interactionFinished(
        req,
        res,
        {
          error: 'access_denied',
          error_description: 'The user cancelled the sign-in.'
        },
        { mergeWithLastSubmission: false }
      );
    }

    if (prompt.name === 'login') {
      if (action === 'login' && req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        const email = form.get('email') ?? '';
        const user = users.check(email, form.get('password') ?? '');
        if (!user) {
          stats.counters.logins.failure += 1;
          return renderLoginPage(res, {
            uid,
            clientName,
            organization: params.organization,
            email,
            error: 'Wrong email or password.'
          });
        }
        stats.counters.logins.success += 1;
        return provider.interactionFinished(
          req,
          res,
          {
            login: { accountId: user.sub, amr: ['pwd'] }
          },
          { mergeWithLastSubmission: false }
        );
      }
      if (req.method !== 'GET')
        return renderMessagePage(res, 405, {
          title: 'Method not allowed',
          message: 'Use the sign-in form.'
        });
      return renderLoginPage(res, {
        uid,
        clientName,
        organization: params.organization
      });
    }

    if (prompt.name === 'consent') {
      // First-party application: consent is granted without asking, like
      // CARTO's Auth0 tenant. Grant whatever oidc-provider reports as missing.
      let grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : undefined;
      if (!grant) {
        grant = new provider.Grant({
          accountId: session.accountId,
          clientId: params.client_id
        });
      }
      const missing = prompt.details;
      if (missing.missingOIDCScope)
        grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims)
        grant.addOIDCClaims(missing.missingOIDCClaims);
      if (missing.missingResourceScopes) {
        for (const [indicator, scopes] of Object.entries(
          missing.missingResourceScopes
        )) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
      }
      const grantId = await grant.save();
      grantOrg.set(grantId, params.organization ?? null);
      const consent = details.grantId ? {} : { grantId };
      return provider.interactionFinished(
        req,
        res,
        { consent },
        { mergeWithLastSubmission: true }
      );
    }

    return renderMessagePage(res, 400, {
      title: 'Unsupported step',
      message: `Unsupported sign-in step: ${prompt.name}`
    });
  }

  // ----- test hooks -----

  async function hooks(req, res, url) {
    const route = `${req.method} ${url.pathname}`;
    const bad = description =>
      sendJson(res, 400, { error: 'bad_request', description });
    switch (route) {
      case 'GET /__sandbox/fault':
        return sendJson(res, 200, { fault: stats.fault });
      case 'POST /__sandbox/fault': {
        let fault;
        try {
          fault = parseFault(await readBody(req));
        } catch (err) {
          return bad(err.message);
        }
        stats.fault = fault;
        return sendJson(res, 200, { fault });
      }
      case 'POST /__sandbox/fault/clear':
        stats.fault = null;
        return sendJson(res, 200, { fault: null });
      case 'POST /__sandbox/rotate-keys': {
        signingKey = await newSigningKey();
        build();
        stats.counters.key_rotations += 1;
        stats.jwksGeneration = (stats.jwksGeneration ?? 0) + 1;
        return sendJson(res, 200, { kid: signingKey.kid });
      }
      case 'POST /__sandbox/clock': {
        const offset = Number(url.searchParams.get('offset_seconds'));
        if (!Number.isInteger(offset) || Math.abs(offset) > 86400) {
          return bad(
            'offset_seconds must be a whole number of seconds from -86400 to 86400'
          );
        }
        stats.clockOffset = offset;
        return sendJson(res, 200, { clock_offset_seconds: offset });
      }
      case 'POST /__sandbox/revoke': {
        // What an administrator's "revoke all sessions of this user" does:
        // every grant of the user ends, with its refresh and access tokens.
        const user = users.byEmail(url.searchParams.get('email') ?? '');
        if (!user) return bad('email must name a sandbox user');
        const ids = [...(grantsOf.get(user.sub) ?? [])];
        grantsOf.delete(user.sub);
        for (const id of ids) {
          await provider.RefreshToken.revokeByGrantId(id);
          await provider.AccessToken.revokeByGrantId(id);
          const grant = await provider.Grant.find(id);
          if (grant) await grant.destroy();
        }
        stats.counters.grants_revoked += ids.length;
        return sendJson(res, 200, { revoked_grants: ids.length });
      }
      case 'POST /__sandbox/api/revoke': {
        // The CARTO API refuses tokens revoked upstream, which the lab still
        // believes valid: one token, or every token of a user issued so far.
        let body;
        try {
          body = JSON.parse((await readBody(req)) || '{}');
        } catch {
          return bad('the body must be JSON: {"token": ...} or {"email": ...}');
        }
        if (typeof body.token === 'string' && body.token) {
          stats.apiRevoked.add(sha256(body.token).toString('hex'));
        } else if (typeof body.email === 'string') {
          const user = users.byEmail(body.email);
          if (!user) return bad('email must name a sandbox user');
          stats.apiRevokedBefore.set(
            user.sub,
            Math.floor(Date.now() / 1000) + stats.clockOffset
          );
        } else {
          return bad('give "token" or "email"');
        }
        return sendJson(res, 200, {
          revoked_tokens: stats.apiRevoked.size,
          revoked_users: stats.apiRevokedBefore.size
        });
      }
      case 'POST /__sandbox/api/revoke/clear':
        stats.apiRevoked.clear();
        stats.apiRevokedBefore.clear();
        return sendJson(res, 200, { revoked_tokens: 0, revoked_users: 0 });
      case 'GET /__sandbox/stats':
        return sendJson(res, 200, stats.snapshot(), {
          'Access-Control-Allow-Origin': '*'
        });
      case 'POST /__sandbox/stats/reset':
        stats.reset();
        return sendJson(res, 200, stats.snapshot());
      case 'POST /__sandbox/down':
        stats.down = true;
        return sendJson(res, 200, { down: true });
      case 'POST /__sandbox/up':
        stats.down = false;
        return sendJson(res, 200, { down: false });
      case 'POST /__sandbox/lifetimes': {
        // Change token lifetimes for tokens issued from now on, so one
        // running sandbox serves tests that need short and long lifetimes.
        for (const [param, key] of [
          ['access_token_ttl', 'accessTokenTtl'],
          ['code_ttl', 'codeTtl']
        ]) {
          const value = url.searchParams.get(param);
          if (value !== null) {
            const seconds = Number(value);
            if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86400) {
              return sendJson(res, 400, {
                error: 'bad_request',
                description: `${param} must be a whole number of seconds from 1 to 86400`
              });
            }
            options[key] = seconds;
          }
        }
        return sendJson(res, 200, {
          access_token_ttl: options.accessTokenTtl,
          code_ttl: options.codeTtl
        });
      }
      default:
        return sendJson(res, 404, {
          error: 'not_found',
          description: `no test hook ${route}`
        });
    }
  }

  async function handler(req, res) {
    const url = new URL(req.url, origin);
    if (url.pathname.startsWith('/__sandbox/')) return hooks(req, res, url);
    const endpoint = ENDPOINTS[url.pathname];
    if (endpoint === 'token' && req.method === 'POST')
      stats.counters.token_endpoint_requests += 1;

    if (stats.down) {
      // The in-process API may still fetch the JWKS, as CARTO's API would keep
      // validating tokens with cached keys while the identity provider is down.
      const internalJwks =
        url.pathname === ROUTES.jwks &&
        req.headers['x-sandbox-internal'] === internalToken;
      if (!internalJwks) {
        stats.counters.rejected_while_down += 1;
        return sendJson(
          res,
          503,
          {
            error: 'temporarily_unavailable',
            error_description:
              'The sandbox identity provider is down (test hook /__sandbox/down).'
          },
          {
            'Retry-After': '1',
            'Access-Control-Allow-Origin': req.headers.origin ?? '*'
          }
        );
      }
    }

    if (url.pathname === ACCESS_CODE_PATH) {
      if (req.method !== 'GET')
        return renderMessagePage(res, 405, {
          title: 'Method not allowed',
          message: 'Use GET.'
        });
      return renderAccessCodePage(res, url.searchParams);
    }
    if (url.pathname.startsWith('/interaction/'))
      return interaction(req, res, url);
    if (endpoint && stats.fault && req.method !== 'OPTIONS') {
      return faulty(req, res, endpoint);
    }
    return providerCallback(req, res);
  }

  /** Answer a request the fault may apply to (see parseFault). */
  async function faulty(req, res, endpoint) {
    const fault = stats.fault;
    if (!fault.endpoints.includes(endpoint)) return providerCallback(req, res);
    if (endpoint === 'token' && fault.grant_types) {
      // oidc-provider takes an already read body from req.body.
      req.body = await readBody(req);
      const grantType = new URLSearchParams(req.body).get('grant_type');
      if (!fault.grant_types.includes(grantType))
        return providerCallback(req, res);
    }
    if (fault.count !== null) {
      fault.count -= 1;
      if (fault.count <= 0) stats.fault = null;
    }
    stats.counters.faults_applied += 1;
    const cors = { 'Access-Control-Allow-Origin': req.headers.origin ?? '*' };
    switch (fault.kind) {
      case 'slow': {
        // Answer normally, late (or never, if the client gave up).
        await new Promise(resolve => {
          const timer = setTimeout(resolve, fault.delay_ms);
          res.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        if (res.destroyed || res.writableEnded) return undefined;
        return providerCallback(req, res);
      }
      case '500':
        return sendJson(
          res,
          500,
          {
            error: 'server_error',
            error_description:
              'The sandbox identity provider failed (test hook /__sandbox/fault).'
          },
          cors
        );
      case 'garbage': {
        const text = '<html><body>Bad gateway {"access_token":</body></html>';
        res.writeHead(200, {
          'Content-Type': 'application/json; charset=utf-8',
          'Cache-Control': 'no-store',
          'Content-Length': Buffer.byteLength(text),
          ...cors
        });
        res.end(text);
        return undefined;
      }
      case 'no_expires_in': {
        // The provider's own answer, without expires_in.
        const end = res.end.bind(res);
        res.end = (chunk, ...rest) => {
          try {
            const body = JSON.parse(Buffer.from(chunk).toString('utf8'));
            if (body && typeof body === 'object' && 'expires_in' in body) {
              delete body.expires_in;
              const text = JSON.stringify(body);
              if (!res.headersSent)
                res.setHeader('Content-Length', Buffer.byteLength(text));
              return end(text, ...rest);
            }
          } catch {
            // not JSON: leave it
          }
          return end(chunk, ...rest);
        };
        return providerCallback(req, res);
      }
      default:
        throw new Error(`unknown fault ${fault.kind}`);
    }
  }

  return {
    provider,
    handler,
    clients: {
      public: {
        client_id: options.publicClientId,
        redirect_uris: publicRedirectUris
      },
      spa: { client_id: 'sandbox-spa', redirect_uris: options.spaRedirectUris },
      spa_nocors: {
        client_id: 'sandbox-spa-nocors',
        redirect_uris: options.spaRedirectUris
      },
      m2m: {
        client_id: options.m2mClientId,
        client_secret: options.m2mClientSecret
      }
    },
    urls: {
      issuer,
      authorize_url: `${origin}${ROUTES.authorization}`,
      token_url: `${origin}${ROUTES.token}`,
      revocation_url: `${origin}${ROUTES.revocation}`,
      userinfo_url: `${origin}${ROUTES.userinfo}`,
      end_session_url: `${origin}${ROUTES.end_session}`,
      jwks_uri: `${origin}${ROUTES.jwks}`,
      discovery_url: `${origin}/.well-known/openid-configuration`,
      access_code_url: accessCodeUri,
      stats_url: `${origin}/__sandbox/stats`
    }
  };
}
