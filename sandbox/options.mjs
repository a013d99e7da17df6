// Command-line and environment options of the CARTO sandbox.
//
// Pure parsing and validation: no I/O here, so the rules are easy to read and
// test. Every problem is reported as a UsageError; server.mjs turns that into
// a message on stderr and exit code 2.

import { isIP } from 'node:net';

export class UsageError extends Error {}

export const DEFAULT_PUBLIC_CLIENT_ID = '0dxb8HR3ATXCxJiPOJVHsLoHoAtbRX6u';

export const USAGE = `Usage: node sandbox/server.mjs [options]

Local stand-in for CARTO's identity provider (an OpenID Connect provider built
on oidc-provider, configured like CARTO's Auth0 tenant) and for the CARTO APIs.
Prints one JSON line on stdout when ready; stops on SIGINT/SIGTERM.

Options (environment variable in brackets):
  --host <addr>               loopback address to bind (127.0.0.1) [SANDBOX_HOST]
  --issuer-port <n>           identity provider port, 0 = any free port (0) [SANDBOX_ISSUER_PORT]
  --api-port <n>              CARTO API stand-in port, 0 = any free port (0) [SANDBOX_API_PORT]
  --callback-port <n>         port of the public client's registered redirect URI
                              http://localhost:<n>/callback/ (10000); never bound [SANDBOX_CALLBACK_PORT]
  --access-token-ttl <s>      access token lifetime in seconds (3600) [SANDBOX_ACCESS_TOKEN_TTL]
  --refresh-token-ttl <s>     refresh token (and sign-in session) lifetime in seconds (86400) [SANDBOX_REFRESH_TOKEN_TTL]
  --code-ttl <s>              authorization code lifetime in seconds (60) [SANDBOX_CODE_TTL]
  --spa-redirect-uri <uri>    redirect URI of the sandbox-spa clients, repeatable
                              (http://localhost:8888/carto-auth/callback and the 127.0.0.1 twin)
  --public-client-id <id>     id of the CARTO-like public client (${DEFAULT_PUBLIC_CLIENT_ID})
  --m2m-client-id <id>        id of the client-credentials client (sandbox-m2m)
  --m2m-client-secret <s>     its secret (sandbox-m2m-secret)
  --user <email:password>     extra user, repeatable (analyst@example.com / carto-sandbox always exists)
  --info-file <path>          also write the ready JSON to this file (mode 0600)
  --quiet                     print nothing on stderr except fatal errors
  --verbose                   log one line per request on stderr (method, path, status; never tokens)
  --help                      show this help on stderr
`;

const INT_RE = /^\d+$/;

function parseIntOption(name, raw, { min, max }) {
  if (typeof raw !== 'string' || !INT_RE.test(raw)) {
    throw new UsageError(
      `${name} must be an integer, got ${JSON.stringify(raw)}`
    );
  }
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(
      `${name} must be between ${min} and ${max}, got ${raw}`
    );
  }
  return value;
}

/** Loopback only: 127.0.0.0/8, ::1 or the name localhost (bound as 127.0.0.1). */
function parseHost(raw) {
  if (raw === 'localhost') {
    return { bind: '127.0.0.1', urlHost: 'localhost' };
  }
  const family = isIP(raw);
  if (family === 4 && raw.split('.')[0] === '127') {
    return { bind: raw, urlHost: raw };
  }
  if (family === 6 && (raw === '::1' || raw === '0:0:0:0:0:0:0:1')) {
    return { bind: '::1', urlHost: '[::1]' };
  }
  throw new UsageError(
    `--host must be a loopback address (127.x.x.x, ::1 or localhost), got ${JSON.stringify(raw)}`
  );
}

function parseUser(raw) {
  const i = typeof raw === 'string' ? raw.indexOf(':') : -1;
  if (i <= 0 || i === raw.length - 1) {
    throw new UsageError(
      `--user must look like email:password, got ${JSON.stringify(raw)}`
    );
  }
  const email = raw.slice(0, i).trim();
  const password = raw.slice(i + 1);
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) {
    throw new UsageError(
      `--user email is not an email address: ${JSON.stringify(email)}`
    );
  }
  return { email, password };
}

function parseRedirectUri(raw) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(
      `--spa-redirect-uri must be an absolute URL, got ${JSON.stringify(raw)}`
    );
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.hash) {
    throw new UsageError(
      `--spa-redirect-uri must be an http(s) URL without fragment, got ${JSON.stringify(raw)}`
    );
  }
  return raw;
}

const VALUE_OPTIONS = new Set([
  'host',
  'issuer-port',
  'api-port',
  'callback-port',
  'access-token-ttl',
  'refresh-token-ttl',
  'code-ttl',
  'spa-redirect-uri',
  'user',
  'info-file',
  'public-client-id',
  'm2m-client-id',
  'm2m-client-secret'
]);
const FLAG_OPTIONS = new Set(['quiet', 'verbose', 'help']);
const REPEATABLE = new Set(['spa-redirect-uri', 'user']);

const ENV = {
  host: 'SANDBOX_HOST',
  'issuer-port': 'SANDBOX_ISSUER_PORT',
  'api-port': 'SANDBOX_API_PORT',
  'callback-port': 'SANDBOX_CALLBACK_PORT',
  'access-token-ttl': 'SANDBOX_ACCESS_TOKEN_TTL',
  'refresh-token-ttl': 'SANDBOX_REFRESH_TOKEN_TTL',
  'code-ttl': 'SANDBOX_CODE_TTL'
};

/**
 * Parse argv (without node and script) plus env into a validated options object.
 * Command-line values win over environment variables.
 */
export function parseOptions(argv, env = {}) {
  const raw = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    }
    let name = arg.slice(2);
    let value;
    const eq = name.indexOf('=');
    if (eq !== -1) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (FLAG_OPTIONS.has(name)) {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
      raw[name] = true;
      continue;
    }
    if (!VALUE_OPTIONS.has(name)) {
      throw new UsageError(`unknown option --${name}`);
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      i += 1;
      value = argv[i];
    }
    if (REPEATABLE.has(name)) {
      (raw[name] ??= []).push(value);
    } else {
      raw[name] = value;
    }
  }

  for (const [name, variable] of Object.entries(ENV)) {
    if (
      raw[name] === undefined &&
      env[variable] !== undefined &&
      env[variable] !== ''
    ) {
      raw[name] = env[variable];
    }
  }

  const port = (name, fallback, min = 0) =>
    raw[name] === undefined
      ? fallback
      : parseIntOption(`--${name}`, raw[name], { min, max: 65535 });
  const ttl = (name, fallback) =>
    raw[name] === undefined
      ? fallback
      : parseIntOption(`--${name}`, raw[name], {
          min: 1,
          max: 10 * 365 * 24 * 3600
        });

  const nonEmpty = (name, fallback) => {
    const v = raw[name] ?? fallback;
    if (typeof v !== 'string' || v.trim() === '' || /\s/.test(v)) {
      throw new UsageError(
        `--${name} must be a non-empty string without spaces`
      );
    }
    return v;
  };

  const options = {
    help: !!raw.help,
    quiet: !!raw.quiet,
    verbose: !!raw.verbose && !raw.quiet,
    host: parseHost(raw.host ?? '127.0.0.1'),
    issuerPort: port('issuer-port', 0),
    apiPort: port('api-port', 0),
    callbackPort: port('callback-port', 10000, 1),
    accessTokenTtl: ttl('access-token-ttl', 3600),
    refreshTokenTtl: ttl('refresh-token-ttl', 86400),
    codeTtl: ttl('code-ttl', 60),
    spaRedirectUris: (
      raw['spa-redirect-uri'] ?? [
        'http://localhost:8888/carto-auth/callback',
        'http://127.0.0.1:8888/carto-auth/callback'
      ]
    ).map(parseRedirectUri),
    users: (raw.user ?? []).map(parseUser),
    infoFile: raw['info-file'],
    publicClientId: nonEmpty('public-client-id', DEFAULT_PUBLIC_CLIENT_ID),
    m2mClientId: nonEmpty('m2m-client-id', 'sandbox-m2m'),
    m2mClientSecret: nonEmpty('m2m-client-secret', 'sandbox-m2m-secret')
  };

  if (options.issuerPort !== 0 && options.issuerPort === options.apiPort) {
    throw new UsageError('--issuer-port and --api-port must differ');
  }
  if ([options.issuerPort, options.apiPort].includes(options.callbackPort)) {
    throw new UsageError(
      "--callback-port is the port of the client's own redirect listener; the sandbox must not use it"
    );
  }
  const clientIds = [
    options.publicClientId,
    'sandbox-spa',
    'sandbox-spa-nocors',
    options.m2mClientId
  ];
  if (new Set(clientIds).size !== clientIds.length) {
    throw new UsageError('client ids must all differ');
  }
  if (options.infoFile !== undefined && options.infoFile === '') {
    throw new UsageError('--info-file needs a path');
  }
  return options;
}
