// Self-test of the CARTO sandbox, with real HTTP against a real child process.
//
//   cd /work/main && node --test sandbox/selftest.mjs     (or: node sandbox/selftest.mjs)
//
// The tests share one sandbox (started with a 5 s access token lifetime) and run
// in order; the expiry test waits for the first user token to expire.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./server.mjs', import.meta.url));
const ACCESS_TTL = 5;

let child;
let info;
let stderr = '';

/** Start the sandbox; resolve with its ready JSON, bounded by 15 s. */
async function startSandbox(args) {
  child = spawn(process.execPath, [SERVER, ...args], {
    stdio: ['ignore', 'pipe', 'pipe']
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', chunk => {
    stderr += chunk;
  });
  child.stdout.setEncoding('utf8');
  let stdout = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`sandbox not ready within 15 s; stderr:\n${stderr}`)),
      15000
    );
    child.stdout.on('data', chunk => {
      stdout += chunk;
      const nl = stdout.indexOf('\n');
      if (nl !== -1) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(stdout.slice(0, nl)));
        } catch (err) {
          reject(err);
        }
      }
    });
    child.once('exit', code => {
      clearTimeout(timer);
      reject(
        new Error(
          `sandbox exited with ${code} before ready; stderr:\n${stderr}`
        )
      );
    });
  });
}

const b64url = buf => Buffer.from(buf).toString('base64url');
const decodeJwt = jwt => {
  const parts = jwt.split('.');
  assert.equal(parts.length, 3, 'a JWS compact token');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
};
const sleep = ms =>
  new Promise(r => {
    setTimeout(r, ms);
  });

async function tokenRequest(fields, headers = {}) {
  const res = await fetch(info.token_url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
      ...headers
    },
    body: new URLSearchParams(fields)
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { res, body };
}

const m2mToken = () =>
  tokenRequest({
    grant_type: 'client_credentials',
    client_id: info.clients.m2m.client_id,
    client_secret: info.clients.m2m.client_secret,
    audience: info.audience
  });

const api = (path, token) =>
  fetch(`${info.api_base_url}${path}`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {}
  });

/** A minimal browser: cookie jar plus manual redirects. */
class Browser {
  jar = new Map();

  async request(url, { method = 'GET', form } = {}) {
    const headers = { Accept: 'text/html' };
    if (this.jar.size)
      headers.Cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let body;
    if (form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form);
    }
    const res = await fetch(url, { method, headers, body, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair, ...attrs] = cookie.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired =
        attrs.some(a => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) ||
        value === '';
      if (expired) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    const text = await res.text();
    const location = res.headers.get('location');
    return { res, text, location: location && new URL(location, url).href };
  }

  /** Follow redirects until a page that is not a redirect, or until `stop(url)` is true. */
  async follow(url, { stop = () => false, max = 10 } = {}) {
    let current = url;
    for (let i = 0; i < max; i += 1) {
      if (stop(current)) return { stoppedAt: current };
      const page = await this.request(current);
      if (!page.location) return { ...page, url: current };
      current = page.location;
    }
    throw new Error('too many redirects');
  }
}

const loginAction = (html, pageUrl) => {
  const m = /<form method="post" action="([^"]+)"/.exec(html);
  assert.ok(m, 'the login page has a form');
  return new URL(m[1].replaceAll('&amp;', '&'), pageUrl).href;
};

function pkcePair() {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

function authorizeUrl({ clientId, redirectUri, challenge, state, extra = {} }) {
  const url = new URL(info.authorize_url);
  const params = {
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid profile email offline_access',
    audience: info.audience,
    state,
    ...(challenge
      ? { code_challenge: challenge, code_challenge_method: 'S256' }
      : {}),
    ...extra
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

const unescapeHtml = s =>
  s
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');

before(async () => {
  info = await startSandbox([
    '--access-token-ttl',
    String(ACCESS_TTL),
    '--callback-port',
    '10000'
  ]);
});

after(async () => {
  if (child && child.exitCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    const [code] = await exited;
    clearTimeout(timer);
    assert.equal(code, 0, 'the sandbox exits 0 on SIGTERM');
  }
});

describe('CARTO sandbox', () => {
  // State shared between the ordered tests below.
  const flow = {};

  test('ready line describes the sandbox', () => {
    assert.equal(info.ready, true);
    assert.match(info.issuer, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(info.audience, 'carto-cloud-native-api');
    assert.equal(
      info.clients.public.client_id,
      '0dxb8HR3ATXCxJiPOJVHsLoHoAtbRX6u'
    );
    assert.deepEqual(info.clients.public.redirect_uris, [
      'http://localhost:10000/callback/',
      info.access_code_url
    ]);
    assert.equal(info.access_token_ttl, ACCESS_TTL);
    assert.ok(!stderr.includes('sandbox-m2m-secret'), 'no secret on stderr');
  });

  test('discovery lists the Auth0-like endpoints', async () => {
    const res = await fetch(info.discovery_url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const d = await res.json();
    assert.equal(d.issuer, info.issuer);
    assert.ok(d.authorization_endpoint.endsWith('/authorize'));
    assert.ok(d.token_endpoint.endsWith('/oauth/token'));
    assert.equal(d.token_endpoint, info.token_url);
    assert.equal(d.revocation_endpoint, info.revocation_url);
    assert.equal(d.jwks_uri, info.jwks_uri);
    assert.ok(d.userinfo_endpoint);
    assert.ok(d.end_session_endpoint);
    assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
    assert.ok(d.grant_types_supported.includes('client_credentials'));
    assert.ok(d.grant_types_supported.includes('refresh_token'));
    const jwks = await (await fetch(d.jwks_uri)).json();
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].kty, 'RSA');
    assert.equal(
      jwks.keys[0].d,
      undefined,
      'no private key material in the JWKS'
    );
  });

  test('API: /health and /config.yaml need no token', async () => {
    assert.deepEqual(await (await api('/health')).json(), { ok: true });
    const res = await api('/config.yaml');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/yaml/);
    const text = await res.text();
    assert.ok(text.includes(`apis:\n  baseUrl: ${info.api_base_url}\n`));
  });

  test('client credentials: JWT with the API audience, accepted by the API', async () => {
    const { res, body } = await m2mToken();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, ACCESS_TTL);
    assert.equal(body.refresh_token, undefined);
    const claims = decodeJwt(body.access_token);
    assert.equal(claims.aud, 'carto-cloud-native-api');
    assert.equal(claims.iss, info.issuer);
    assert.equal(claims.sub, `${info.clients.m2m.client_id}@clients`);

    const accounts = await api('/accounts', body.access_token);
    assert.equal(accounts.status, 200);
    const account = await accounts.json();
    assert.equal(account.tenant_domain, new URL(info.api_base_url).host);
    assert.equal(account.region, 'sandbox');

    // client_secret_basic works as well.
    const basic = Buffer.from(
      `${info.clients.m2m.client_id}:${info.clients.m2m.client_secret}`
    ).toString('base64');
    const viaBasic = await tokenRequest(
      { grant_type: 'client_credentials', audience: info.audience },
      { Authorization: `Basic ${basic}` }
    );
    assert.equal(viaBasic.res.status, 200);

    const dw = await api('/v3/connections/carto-dw/token', body.access_token);
    assert.equal(dw.status, 200);
    const dwBody = await dw.json();
    assert.equal(dwBody.projectId, 'carto-dw-sandbox-project');
    assert.ok(dwBody.token.length > 10);

    const sql = await api(
      '/v3/sql/carto_dw/query?q=select%201',
      body.access_token
    );
    assert.equal(sql.status, 200);
    const sqlBody = await sql.json();
    assert.deepEqual(sqlBody.rows, [
      { ok: 1, sub: claims.sub, connection: 'carto_dw' }
    ]);
    assert.equal(
      (await api('/v3/sql/carto_dw/query', body.access_token)).status,
      400
    );
  });

  test('client credentials: wrong secret, unknown audience, bad tokens', async () => {
    const wrong = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: info.clients.m2m.client_id,
      client_secret: 'not-the-secret',
      audience: info.audience
    });
    assert.equal(wrong.res.status, 401);
    assert.equal(wrong.body.error, 'invalid_client');

    const unknownAudience = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: info.clients.m2m.client_id,
      client_secret: info.clients.m2m.client_secret,
      audience: 'some-other-api'
    });
    assert.equal(unknownAudience.res.status, 400);
    assert.equal(unknownAudience.body.error, 'access_denied');

    const absent = await api('/accounts');
    assert.equal(absent.status, 401);
    assert.match(
      absent.headers.get('www-authenticate'),
      /^Bearer .*error="invalid_token"/
    );
    const absentBody = await absent.json();
    assert.equal(typeof absentBody.error, 'string');
    assert.equal(typeof absentBody.description, 'string');

    const { body } = await m2mToken();
    const [h, p, s] = body.access_token.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url'));
    payload.sub = 'someone-else';
    const tampered = [h, b64url(JSON.stringify(payload)), s].join('.');
    const res = await api('/accounts', tampered);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/);
    assert.equal((await api('/accounts', 'not-a-jwt')).status, 401);
  });

  test('authorization code + PKCE through the sign-in form and the access-code page', async () => {
    const browser = new Browser();
    const { verifier, challenge } = pkcePair();
    const state = b64url(randomBytes(16));
    const redirectUri = info.access_code_url;
    const start = authorizeUrl({
      clientId: info.clients.public.client_id,
      redirectUri,
      challenge,
      state,
      extra: { organization: 'acme' }
    });

    const loginPage = await browser.follow(start);
    assert.equal(loginPage.res.status, 200);
    assert.ok(loginPage.text.includes('<input id="email" name="email"'));
    assert.ok(
      loginPage.text.includes(
        '<input id="password" name="password" type="password"'
      )
    );
    assert.ok(loginPage.text.includes('>Sign in</button>'));
    assert.ok(loginPage.text.includes('>Cancel</button>'));
    const action = loginAction(loginPage.text, loginPage.url);

    const wrong = await browser.request(action, {
      method: 'POST',
      form: { email: info.user.email, password: 'nope' }
    });
    assert.equal(wrong.res.status, 200);
    assert.ok(wrong.text.includes('Wrong email or password.'));

    const ok = await browser.request(action, {
      method: 'POST',
      form: { email: info.user.email, password: info.user.password }
    });
    assert.equal(ok.res.status, 303);
    const landing = await browser.follow(ok.location);
    assert.ok(
      landing.url.startsWith(`${info.access_code_url}?`),
      `landed on ${landing.url}`
    );
    const landed = new URL(landing.url);
    assert.equal(landed.searchParams.get('state'), state);
    assert.equal(landing.res.status, 200);
    assert.ok(landing.text.includes('Your CARTO access code'));
    assert.ok(landing.text.includes('data-testid="access-code"'));
    assert.ok(landing.text.includes('>Copy</button>'));
    const m = /id="access-code"[^>]*value="([^"]*)"/.exec(landing.text);
    assert.ok(m, 'the code is shown in #access-code');
    const code = unescapeHtml(m[1]);
    assert.equal(code, landed.searchParams.get('code'));

    const exchange = {
      grant_type: 'authorization_code',
      client_id: info.clients.public.client_id,
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier
    };
    const { res, body } = await tokenRequest(exchange);
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, ACCESS_TTL);
    assert.ok(body.refresh_token, 'refresh token issued for offline_access');
    assert.equal(body.scope, 'openid profile email offline_access');
    const at = decodeJwt(body.access_token);
    assert.equal(at.aud, 'carto-cloud-native-api');
    assert.equal(at.org_id, 'acme');
    assert.equal(at.email, info.user.email);
    assert.equal(at['https://carto.com/email'], info.user.email);
    assert.match(at.sub, /^auth0\|/);
    const idt = decodeJwt(body.id_token);
    assert.equal(idt.email, info.user.email);
    assert.equal(idt.name, info.user.name);
    assert.equal(idt.aud, info.clients.public.client_id);
    assert.equal(idt.org_id, 'acme');

    const accounts = await api('/accounts', body.access_token);
    assert.equal(accounts.status, 200);
    const account = await accounts.json();
    assert.equal(account.email, info.user.email);
    assert.equal(account.org, 'acme');
    flow.userAccessToken = body.access_token;
    flow.userAccessTokenExp = at.exp;

    const again = await tokenRequest(exchange);
    assert.equal(again.res.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
    // Code reuse revokes the grant (OAuth 2.0 Security BCP): the refresh token is dead too.
    const revoked = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: info.clients.public.client_id,
      refresh_token: body.refresh_token
    });
    assert.equal(revoked.body.error, 'invalid_grant');
    flow.browser = browser;
  });

  test('refresh token grant (with rotation) keeps audience and org', async () => {
    const { browser } = flow;
    const { verifier, challenge } = pkcePair();
    const state = b64url(randomBytes(16));
    const start = authorizeUrl({
      clientId: info.clients.public.client_id,
      redirectUri: info.access_code_url,
      challenge,
      state,
      extra: { organization: 'acme' }
    });
    // The sign-in session is remembered (like Auth0 SSO): no form this time.
    const landing = await browser.follow(start, {
      stop: u => u.startsWith(`${info.access_code_url}?`)
    });
    assert.ok(landing.stoppedAt, 'silently redirected back with a code');
    const code = new URL(landing.stoppedAt).searchParams.get('code');
    const first = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: info.clients.public.client_id,
      code,
      redirect_uri: info.access_code_url,
      code_verifier: verifier
    });
    assert.equal(first.res.status, 200, JSON.stringify(first.body));

    const refreshed = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: info.clients.public.client_id,
      refresh_token: first.body.refresh_token
    });
    assert.equal(refreshed.res.status, 200, JSON.stringify(refreshed.body));
    assert.ok(refreshed.body.access_token);
    assert.ok(refreshed.body.refresh_token);
    assert.notEqual(
      refreshed.body.refresh_token,
      first.body.refresh_token,
      'rotated'
    );
    assert.equal(refreshed.body.expires_in, ACCESS_TTL);
    const at = decodeJwt(refreshed.body.access_token);
    assert.equal(at.aud, 'carto-cloud-native-api');
    assert.equal(at.org_id, 'acme');
    assert.equal(at.email, info.user.email);
    assert.equal(
      (await api('/accounts', refreshed.body.access_token)).status,
      200
    );

    // The refresh token can be revoked.
    const revoke = await fetch(info.revocation_url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: info.clients.public.client_id,
        token: refreshed.body.refresh_token
      })
    });
    assert.equal(revoke.status, 200);
    const afterRevoke = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: info.clients.public.client_id,
      refresh_token: refreshed.body.refresh_token
    });
    assert.equal(afterRevoke.body.error, 'invalid_grant');
  });

  test('a sign-in without organization has no org_id', async () => {
    const { browser } = flow;
    const { verifier, challenge } = pkcePair();
    const start = authorizeUrl({
      clientId: info.clients.public.client_id,
      redirectUri: info.access_code_url,
      challenge,
      state: 's1'
    });
    const landing = await browser.follow(start, {
      stop: u => u.startsWith(`${info.access_code_url}?`)
    });
    const code = new URL(landing.stoppedAt).searchParams.get('code');
    const { body } = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: info.clients.public.client_id,
      code,
      redirect_uri: info.access_code_url,
      code_verifier: verifier
    });
    assert.equal(decodeJwt(body.access_token).org_id, undefined);
  });

  test('invalid organization and missing PKCE are refused', async () => {
    const browser = new Browser();
    const noPkce = await browser.request(
      authorizeUrl({
        clientId: info.clients.public.client_id,
        redirectUri: info.access_code_url,
        state: 'x'
      })
    );
    assert.equal(noPkce.res.status, 303);
    const err = new URL(noPkce.location);
    assert.equal(err.origin + err.pathname, info.access_code_url);
    assert.equal(err.searchParams.get('error'), 'invalid_request');
    assert.match(err.searchParams.get('error_description'), /PKCE/);
    // The access-code page shows the error description.
    const page = await browser.request(noPkce.location);
    assert.equal(page.res.status, 200);
    assert.ok(page.text.includes('requires PKCE'));

    const { challenge } = pkcePair();
    const badOrg = await browser.request(
      authorizeUrl({
        clientId: info.clients.public.client_id,
        redirectUri: info.access_code_url,
        challenge,
        state: 'x',
        extra: { organization: 'bad org!' }
      })
    );
    assert.equal(
      new URL(badOrg.location).searchParams.get('error'),
      'invalid_request'
    );

    const badRedirect = await browser.request(
      authorizeUrl({
        clientId: info.clients.public.client_id,
        redirectUri: 'http://localhost:10001/callback/',
        challenge,
        state: 'x'
      })
    );
    assert.equal(
      badRedirect.res.status,
      400,
      'unregistered redirect URI: error page, no redirect'
    );
    assert.equal(badRedirect.location, null);
  });

  test('Cancel on the sign-in form ends with access_denied', async () => {
    const browser = new Browser();
    const { challenge } = pkcePair();
    const loginPage = await browser.follow(
      authorizeUrl({
        clientId: 'sandbox-spa',
        redirectUri: info.clients.spa.redirect_uris[0],
        challenge,
        state: 'c1'
      })
    );
    const action = loginAction(loginPage.text, loginPage.url);
    const cancel = await browser.request(action.replace(/\/login$/, '/abort'), {
      method: 'POST',
      form: {}
    });
    assert.equal(cancel.res.status, 303);
    const landing = await browser.follow(cancel.location, {
      stop: u => u.startsWith(info.clients.spa.redirect_uris[0])
    });
    const url = new URL(landing.stoppedAt);
    assert.equal(url.searchParams.get('error'), 'access_denied');
    assert.equal(
      url.searchParams.get('error_description'),
      'The user cancelled the sign-in.'
    );
    assert.equal(url.searchParams.get('state'), 'c1');
  });

  test('CORS on the token endpoint is a per-client switch', async () => {
    const origin = 'http://localhost:8888';
    const preflight = await fetch(info.token_url, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type'
      }
    });
    assert.equal(preflight.status, 204);

    const attempt = clientId =>
      tokenRequest(
        {
          grant_type: 'authorization_code',
          client_id: clientId,
          code: 'bogus',
          redirect_uri: info.clients.spa.redirect_uris[0],
          code_verifier: 'x'.repeat(43)
        },
        { Origin: origin }
      );
    const withCors = await attempt('sandbox-spa');
    assert.equal(
      withCors.res.headers.get('access-control-allow-origin'),
      origin
    );
    assert.equal(withCors.body.error, 'invalid_grant');

    const noCors = await attempt('sandbox-spa-nocors');
    assert.equal(
      noCors.res.headers.get('access-control-allow-origin'),
      null,
      'a browser cannot read this response'
    );
    assert.equal(noCors.res.status, 400);

    const apiPreflight = await fetch(`${info.api_base_url}/accounts`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'authorization'
      }
    });
    assert.equal(apiPreflight.status, 204);
    assert.equal(
      apiPreflight.headers.get('access-control-allow-origin'),
      origin
    );
    assert.match(
      apiPreflight.headers.get('access-control-allow-headers'),
      /authorization/i
    );
  });

  test('down/up hook and stats', async () => {
    const stats = await (await fetch(info.stats_url)).json();
    assert.ok(
      stats.token_requests.client_credentials >= 4,
      JSON.stringify(stats)
    );
    assert.ok(
      stats.token_requests.authorization_code >= 4,
      JSON.stringify(stats)
    );
    assert.ok(stats.token_requests.refresh_token >= 2, JSON.stringify(stats));
    assert.ok(stats.token_errors.authorization_code >= 1);
    assert.ok(stats.api_requests['200'] >= 1 && stats.api_requests['401'] >= 1);

    const reset = await fetch(`${info.stats_url}/reset`, { method: 'POST' });
    assert.equal(reset.status, 200);
    const { body: m2m } = await m2mToken();
    assert.equal(
      (await (await fetch(info.stats_url)).json()).token_requests
        .client_credentials,
      1
    );

    const issuerOrigin = new URL(info.issuer).origin;
    assert.equal(
      (await fetch(`${issuerOrigin}/__sandbox/down`, { method: 'POST' }))
        .status,
      200
    );
    assert.equal((await fetch(info.discovery_url)).status, 503);
    const during = await m2mToken();
    assert.equal(during.res.status, 503);
    assert.equal(during.body.error, 'temporarily_unavailable');
    // The API keeps validating tokens while the identity provider is down.
    assert.equal((await api('/accounts', m2m.access_token)).status, 200);
    assert.equal(
      (await fetch(`${issuerOrigin}/__sandbox/up`, { method: 'POST' })).status,
      200
    );
    assert.equal((await fetch(info.discovery_url)).status, 200);
  });

  test('lifetimes hook changes the lifetime of tokens issued afterwards', async () => {
    const hook = `${info.issuer}__sandbox/lifetimes`;
    const bad = await fetch(`${hook}?access_token_ttl=0`, { method: 'POST' });
    assert.equal(bad.status, 400);
    const set = await fetch(`${hook}?access_token_ttl=17`, { method: 'POST' });
    assert.deepEqual(await set.json(), {
      access_token_ttl: 17,
      code_ttl: info.code_ttl
    });
    try {
      const { body } = await m2mToken();
      assert.equal(body.expires_in, 17);
      const claims = decodeJwt(body.access_token);
      assert.equal(claims.exp - claims.iat, 17);
    } finally {
      await fetch(`${hook}?access_token_ttl=${ACCESS_TTL}`, { method: 'POST' });
    }
  });

  test('an expired access token is refused by the API', async () => {
    assert.ok(
      flow.userAccessToken,
      'needs the token of the authorization code test'
    );
    assert.equal(
      decodeJwt(flow.userAccessToken).exp - decodeJwt(flow.userAccessToken).iat,
      ACCESS_TTL
    );
    const waitMs = (flow.userAccessTokenExp + 1) * 1000 - Date.now() + 100;
    if (waitMs > 0) await sleep(waitMs);
    const res = await api('/accounts', flow.userAccessToken);
    assert.equal(res.status, 401);
    assert.match((await res.json()).description, /expired/);
  });

  // ----- fault hooks (after the expiry test: key rotation retires its token) -----

  const hook = (path, init = {}) =>
    fetch(`${info.issuer}__sandbox/${path}`, { method: 'POST', ...init });
  const setFault = fault =>
    hook('fault', {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(fault)
    });
  const stats = async () => (await fetch(info.stats_url)).json();

  /** A silent code flow with the remembered sign-in: the token response. */
  async function userTokens() {
    const { verifier, challenge } = pkcePair();
    const landing = await flow.browser.follow(
      authorizeUrl({
        clientId: info.clients.public.client_id,
        redirectUri: info.access_code_url,
        challenge,
        state: b64url(randomBytes(16))
      }),
      { stop: u => u.startsWith(`${info.access_code_url}?`) }
    );
    assert.ok(landing.stoppedAt, 'silently redirected back with a code');
    const { res, body } = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: info.clients.public.client_id,
      code: new URL(landing.stoppedAt).searchParams.get('code'),
      redirect_uri: info.access_code_url,
      code_verifier: verifier
    });
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  }
  const refresh = refreshToken =>
    tokenRequest({
      grant_type: 'refresh_token',
      client_id: info.clients.public.client_id,
      refresh_token: refreshToken
    });

  test('fault hook: bad requests are refused with a reason', async () => {
    for (const bad of [
      { kind: 'nope' },
      { kind: '500', endpoints: ['elsewhere'] },
      { kind: '500', grant_types: ['password'] },
      { kind: '500', count: 0 },
      { kind: 'slow', delay_ms: 10 ** 6 }
    ]) {
      const res = await setFault(bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.ok((await res.json()).description);
    }
    assert.equal((await hook('fault', { body: '{' })).status, 400);
    const { fault } = await (
      await fetch(`${info.issuer}__sandbox/fault`)
    ).json();
    assert.equal(fault, null, 'a refused fault is not set');
  });

  test('fault hook: 500, garbage and no expires_in on the token endpoint, then clear', async () => {
    await fetch(`${info.stats_url}/reset`, { method: 'POST' });
    await setFault({ kind: '500', count: 2 });
    for (let i = 0; i < 2; i += 1) {
      const { res, body } = await m2mToken();
      assert.equal(res.status, 500);
      assert.equal(body.error, 'server_error');
    }
    // count: the fault ends by itself
    assert.equal((await m2mToken()).res.status, 200);

    await setFault({ kind: 'garbage' });
    const garbage = await m2mToken();
    assert.equal(garbage.res.status, 200);
    assert.match(garbage.res.headers.get('content-type'), /json/);
    assert.equal(typeof garbage.body, 'string', 'the body is not JSON');
    // Other endpoints are not affected.
    assert.equal((await fetch(info.discovery_url)).status, 200);

    await setFault({ kind: 'no_expires_in' });
    const bare = await m2mToken();
    assert.equal(bare.res.status, 200);
    assert.ok(bare.body.access_token);
    assert.equal(bare.body.expires_in, undefined);
    const claims = decodeJwt(bare.body.access_token);
    assert.equal(claims.exp - claims.iat, ACCESS_TTL, 'the JWT still says');

    assert.equal((await hook('fault/clear')).status, 200);
    const clean = await m2mToken();
    assert.equal(clean.body.expires_in, ACCESS_TTL);

    const s = await stats();
    assert.equal(s.token_endpoint_requests, 6);
    assert.equal(s.faults_applied, 4);
    assert.equal(s.fault, null);
  });

  test('fault hook: a grant-type filter, and CORS on faulted answers', async () => {
    await setFault({ kind: '500', grant_types: ['refresh_token'] });
    try {
      assert.equal((await m2mToken()).res.status, 200, 'other grants pass');
      const res = await fetch(info.token_url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Origin: 'http://localhost:8888'
        },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          client_id: info.clients.public.client_id,
          refresh_token: 'whatever'
        })
      });
      assert.equal(res.status, 500);
      assert.equal(
        res.headers.get('access-control-allow-origin'),
        'http://localhost:8888',
        'a browser can read the failure'
      );
    } finally {
      await hook('fault/clear');
    }
  });

  test('fault hook: slow holds the answer; a client timeout ends the wait', async () => {
    await setFault({ kind: 'slow', delay_ms: 1500, count: 2 });
    const started = Date.now();
    await assert.rejects(
      fetch(info.token_url, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
        signal: AbortSignal.timeout(200)
      }),
      { name: 'TimeoutError' }
    );
    assert.ok(Date.now() - started < 1000);
    const { res } = await m2mToken();
    assert.equal(res.status, 200, 'answered normally, late');
    assert.ok(Date.now() - started >= 1500);
    assert.equal((await stats()).fault, null);
  });

  test('clock hook shifts iat and exp of JWTs; expires_in stays', async () => {
    const set = await hook('clock?offset_seconds=300');
    assert.deepEqual(await set.json(), { clock_offset_seconds: 300 });
    try {
      const { body } = await m2mToken();
      const claims = decodeJwt(body.access_token);
      const now = Math.floor(Date.now() / 1000);
      assert.ok(Math.abs(claims.iat - (now + 300)) <= 2, `iat ${claims.iat}`);
      assert.equal(claims.exp - claims.iat, ACCESS_TTL);
      assert.equal(body.expires_in, ACCESS_TTL);
      assert.equal((await api('/accounts', body.access_token)).status, 200);
    } finally {
      await hook('clock?offset_seconds=0');
    }
    assert.equal((await hook('clock?offset_seconds=1.5')).status, 400);
  });

  test('rotate-keys: the JWKS holds the new key only; old tokens are refused', async () => {
    const before = await userTokens();
    const oldKid = (await (await fetch(info.jwks_uri)).json()).keys[0].kid;
    assert.equal((await api('/accounts', before.access_token)).status, 200);
    const rotated = await (await hook('rotate-keys')).json();
    const jwks = await (await fetch(info.jwks_uri)).json();
    assert.deepEqual(
      jwks.keys.map(k => k.kid),
      [rotated.kid]
    );
    assert.notEqual(rotated.kid, oldKid);
    const refused = await api('/accounts', before.access_token);
    assert.equal(refused.status, 401);
    // Grants survive the rotation: the refresh token still works, and the
    // new token is signed with the new key and accepted.
    const { res, body } = await refresh(before.refresh_token);
    assert.equal(res.status, 200, JSON.stringify(body));
    const header = JSON.parse(
      Buffer.from(body.access_token.split('.')[0], 'base64url').toString()
    );
    assert.equal(header.kid, rotated.kid);
    assert.equal((await api('/accounts', body.access_token)).status, 200);
    assert.equal((await stats()).key_rotations, 1);
  });

  test('revoke hook ends every grant of a user', async () => {
    const first = await userTokens();
    assert.equal((await hook('revoke?email=nobody@example.com')).status, 400);
    const revoked = await (
      await hook(`revoke?email=${encodeURIComponent(info.user.email)}`)
    ).json();
    assert.ok(revoked.revoked_grants >= 1, JSON.stringify(revoked));
    const after = await refresh(first.refresh_token);
    assert.equal(after.res.status, 400);
    assert.equal(after.body.error, 'invalid_grant');
    // A new sign-in (the sign-in session is remembered) gets a new grant.
    const second = await userTokens();
    assert.equal((await refresh(second.refresh_token)).res.status, 200);
  });

  test('API revoke hook: 401 for a token the client believes valid, counted', async () => {
    await fetch(`${info.stats_url}/reset`, { method: 'POST' });
    const { body: one } = await m2mToken();
    const { body: two } = await m2mToken();
    const revoke = body =>
      hook('api/revoke', {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body)
      });
    assert.equal((await revoke({})).status, 400);
    assert.equal((await revoke({ token: one.access_token })).status, 200);
    const refused = await api(
      '/v3/connections/carto-dw/token',
      one.access_token
    );
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate'), /invalid_token/);
    assert.match((await refused.json()).description, /revoked/);
    assert.equal((await api('/accounts', two.access_token)).status, 200);

    // Every token of a user issued so far; one issued later works.
    const user = await userTokens();
    assert.equal((await revoke({ email: info.user.email })).status, 200);
    assert.equal((await api('/accounts', user.access_token)).status, 401);
    await sleep(1100);
    const later = await userTokens();
    assert.equal((await api('/accounts', later.access_token)).status, 200);

    const s = await stats();
    assert.equal(s.api_rejected_revoked, 2);
    assert.equal(s.api_requests_by_endpoint.carto_dw_token['401'], 1);
    assert.equal(s.api_requests_by_endpoint.accounts['200'], 2);
    assert.equal((await hook('api/revoke/clear')).status, 200);
    assert.equal((await api('/accounts', one.access_token)).status, 200);
  });

  test('logs carry no secrets or tokens', () => {
    assert.ok(!stderr.includes(info.clients.m2m.client_secret));
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(stderr), 'no JWT on stderr');
  });
});
