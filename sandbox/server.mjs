#!/usr/bin/env node
// CARTO sandbox: a local OpenID Connect provider configured like CARTO's Auth0
// tenant, plus a stand-in for the CARTO APIs. Dev and test only.
//
//   node sandbox/server.mjs [--issuer-port N] [--api-port N] [--access-token-ttl S] ...
//
// stdout carries exactly one line, the ready JSON; everything else goes to
// stderr. See sandbox/README.md.

import { randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

import { parseOptions, USAGE, UsageError } from './options.mjs';

const EXIT_USAGE = 2;

// stdout is reserved for the ready line. oidc-provider prints notices with
// console.info (stdout), so route console.log/info to stderr before loading it;
// with --quiet, drop library chatter entirely.
const realStdoutWrite = process.stdout.write.bind(process.stdout);
const argv = process.argv.slice(2);
const quietEarly = argv.includes('--quiet');
const toStderr = (...args) => {
  if (!quietEarly) console.error(...args);
};
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;
if (quietEarly) console.warn = () => {};

function fail(message, code = EXIT_USAGE) {
  process.stderr.write(`carto-sandbox: ${message}\n`);
  process.exit(code);
}

let options;
try {
  options = parseOptions(argv, process.env);
} catch (err) {
  if (err instanceof UsageError) fail(`${err.message} (see --help)`);
  throw err;
}
if (options.help) {
  process.stderr.write(USAGE);
  process.exit(0);
}

const log = options.quiet
  ? () => {}
  : msg => process.stderr.write(`carto-sandbox: ${msg}\n`);

// Loaded after the console patch (static imports would run first).
const { createIdentityProvider, createStats, AUDIENCE, DEFAULT_USER } =
  await import('./provider.mjs');
const { createApiHandler } = await import('./api.mjs');

function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    const onError = err => reject(err);
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve(server.address().port);
    });
  });
}

/** Wraps a handler: no unhandled rejections, optional access log without query strings. */
function guarded(name, getHandler) {
  return (req, res) => {
    const started = Date.now();
    if (options.verbose) {
      // Path only: query strings carry authorization codes.
      res.on('finish', () =>
        log(
          `${name} ${req.method} ${req.url.split('?')[0]} -> ${res.statusCode} (${Date.now() - started} ms)`
        )
      );
    }
    const handler = getHandler();
    if (!handler) {
      res.writeHead(503, { 'Content-Type': 'application/json' });
      res.end(
        '{"error":"temporarily_unavailable","error_description":"starting"}'
      );
      return;
    }
    Promise.resolve()
      .then(() => handler(req, res))
      .catch(err => {
        log(
          `${name}: internal error on ${req.method} ${req.url.split('?')[0]}: ${err?.message ?? err}`
        );
        if (!res.headersSent) {
          res.writeHead(err?.status === 413 ? 413 : 500, {
            'Content-Type': 'application/json'
          });
          res.end('{"error":"server_error"}');
        } else {
          res.destroy();
        }
      });
  };
}

const stats = createStats();
const internalToken = randomBytes(24).toString('base64url');
let idpHandler;
let apiHandler;
const idpServer = createServer(guarded('idp', () => idpHandler));
const apiServer = createServer(guarded('api', () => apiHandler));
// Keep-alive sockets must not hold up shutdown.
idpServer.keepAliveTimeout = 2000;
apiServer.keepAliveTimeout = 2000;

let shuttingDown = false;
function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`${signal} received, stopping`);
  const force = setTimeout(() => process.exit(0), 1500);
  force.unref();
  let open = 2;
  const done = () => {
    open -= 1;
    if (open === 0) process.exit(0);
  };
  for (const server of [idpServer, apiServer]) {
    if (!server.listening) {
      done();
      continue;
    }
    server.close(done);
    server.closeAllConnections();
  }
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

try {
  const { bind, urlHost } = options.host;
  const issuerPort = await listen(idpServer, options.issuerPort, bind).catch(
    err => {
      throw new Error(
        `cannot listen on ${bind}:${options.issuerPort} (identity provider): ${err.code ?? err.message}`
      );
    }
  );
  const apiPort = await listen(apiServer, options.apiPort, bind).catch(err => {
    throw new Error(
      `cannot listen on ${bind}:${options.apiPort} (API): ${err.code ?? err.message}`
    );
  });
  if ([issuerPort, apiPort].includes(options.callbackPort)) {
    throw new Error(
      `a free port picked for the sandbox equals --callback-port ${options.callbackPort}; pass explicit ports`
    );
  }

  const issuer = `http://${urlHost}:${issuerPort}/`;
  const apiBaseUrl = `http://${urlHost}:${apiPort}`;
  const idp = await createIdentityProvider({
    issuer,
    options,
    stats,
    internalToken,
    log
  });
  idpHandler = idp.handler;
  apiHandler = createApiHandler({
    issuer,
    jwksUri: idp.urls.jwks_uri,
    audience: AUDIENCE,
    apiBaseUrl,
    tenantDomain: `${urlHost}:${apiPort}`,
    stats,
    jwksHeaders: { 'x-sandbox-internal': internalToken }
  });

  const ready = {
    ready: true,
    issuer,
    authorize_url: idp.urls.authorize_url,
    token_url: idp.urls.token_url,
    revocation_url: idp.urls.revocation_url,
    userinfo_url: idp.urls.userinfo_url,
    end_session_url: idp.urls.end_session_url,
    jwks_uri: idp.urls.jwks_uri,
    discovery_url: idp.urls.discovery_url,
    access_code_url: idp.urls.access_code_url,
    audience: AUDIENCE,
    accounts_url: `${apiBaseUrl}/accounts`,
    tenant_config_url_template: 'http://{tenant_domain}/config.yaml',
    api_base_url: apiBaseUrl,
    stats_url: idp.urls.stats_url,
    callback_port: options.callbackPort,
    clients: idp.clients,
    user: { ...DEFAULT_USER },
    access_token_ttl: options.accessTokenTtl,
    refresh_token_ttl: options.refreshTokenTtl,
    code_ttl: options.codeTtl,
    pid: process.pid
  };
  const line = `${JSON.stringify(ready)}\n`;
  if (options.infoFile) {
    writeFileSync(options.infoFile, line, { mode: 0o600 });
    chmodSync(options.infoFile, 0o600); // the file may have existed with another mode
  }
  realStdoutWrite(line);
  log(`ready: issuer ${issuer}, API ${apiBaseUrl}`);
} catch (err) {
  for (const server of [idpServer, apiServer])
    if (server.listening) server.close();
  fail(err.message);
}
