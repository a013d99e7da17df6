// HTML pages of the sandbox identity provider and small HTTP helpers shared by
// both servers. Everything rendered goes through escapeHtml; pages load nothing
// from the network (the sandbox runs without Internet access).

import { randomBytes } from 'node:crypto';

export function escapeHtml(value) {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const STYLE = `
  body { font-family: system-ui, sans-serif; background: #f4f5f7; margin: 0; padding: 40px 16px; color: #162945; }
  main { max-width: 420px; margin: 0 auto; background: #fff; border-radius: 6px; padding: 24px 32px 32px;
         box-shadow: 0 2px 6px rgba(0,0,0,.15); }
  h1 { font-size: 1.4em; font-weight: 600; }
  label { display: block; margin: 16px 0 4px; font-weight: 500; }
  input[type=email], input[type=password], input[type=text] { width: 100%; box-sizing: border-box; height: 40px;
         font-size: 15px; padding: 0 8px; border: 1px solid #a7b0bd; border-radius: 4px; }
  .buttons { display: flex; gap: 8px; margin-top: 24px; }
  button { height: 38px; padding: 0 16px; font-size: 15px; border-radius: 4px; border: 1px solid #036fe2; cursor: pointer; }
  button.primary { background: #036fe2; color: #fff; }
  button.secondary { background: #fff; color: #036fe2; }
  .error { color: #c1300b; background: #fdece8; padding: 8px 12px; border-radius: 4px; }
  .muted { color: #5a6a80; font-size: .9em; }
  .code-row { display: flex; gap: 8px; }
  .code-row input { font-family: ui-monospace, monospace; }
  footer { margin-top: 24px; font-size: .8em; color: #5a6a80; }
`;

function layout({ title, body, nonce }) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style${nonce ? ` nonce="${nonce}"` : ''}>${STYLE}</style>
</head>
<body>
<main>
${body}
<footer>CARTO sandbox: a local test identity provider, not CARTO.</footer>
</main>
</body>
</html>`;
}

/** Headers for every HTML page: no caching, no referrer (URLs may carry codes), tight CSP. */
function htmlHeaders(nonce) {
  const scriptSrc = nonce ? `'nonce-${nonce}'` : "'none'";
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    // No form-action: after the login POST the browser follows redirects to the
    // client's redirect URI on another origin, which form-action would block.
    'Content-Security-Policy': `default-src 'none'; style-src 'nonce-${nonce}'; script-src ${scriptSrc}; img-src data:; frame-ancestors 'none'; base-uri 'none'`
  };
}

export function sendHtml(res, status, { title, body, script }) {
  const nonce = randomBytes(16).toString('base64url');
  const scriptTag = script ? `<script nonce="${nonce}">${script}</script>` : '';
  const html = layout({ title, body: body + scriptTag, nonce });
  res.writeHead(status, {
    ...htmlHeaders(nonce),
    'Content-Length': Buffer.byteLength(html)
  });
  res.end(html);
}

export function sendJson(res, status, value, headers = {}) {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(text),
    ...headers
  });
  res.end(text);
}

/** Read a small request body (forms on the login page); rejects above `limit` bytes. */
export async function readBody(req, limit = 16 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) {
      throw Object.assign(new Error('request body too large'), { status: 413 });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The sign-in form. Field names and texts are part of the contract with the
 * browser tests: inputs #email / #password, buttons "Sign in" and "Cancel",
 * error text "Wrong email or password.".
 */
export function renderLoginPage(
  res,
  { uid, clientName, organization, email = '', error }
) {
  const action = `/interaction/${encodeURIComponent(uid)}`;
  const body = `
<h1>Sign in to CARTO</h1>
<p class="muted">to continue to <strong>${escapeHtml(clientName)}</strong>${
    organization
      ? ` (organization <strong>${escapeHtml(organization)}</strong>)`
      : ''
  }</p>
${error ? `<p class="error" role="alert" data-testid="login-error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}/login" autocomplete="off">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" required autofocus value="${escapeHtml(email)}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required>
  <div class="buttons">
    <button class="primary" type="submit">Sign in</button>
    <button class="secondary" type="submit" formaction="${escapeHtml(action)}/abort" formnovalidate>Cancel</button>
  </div>
</form>`;
  sendHtml(res, 200, { title: 'Sign in to CARTO (sandbox)', body });
}

/**
 * What https://app.carto.com/auth/token does: show the authorization code so
 * the user can paste it elsewhere (remote notebooks), or the error.
 */
export function renderAccessCodePage(res, query) {
  const code = query.get('code');
  const error = query.get('error');
  if (error || !code) {
    const description =
      query.get('error_description') ||
      (error
        ? `The sign-in failed (${error}).`
        : 'No access code in this address.');
    const body = `
<h1>Sign-in failed</h1>
<p class="error" role="alert" data-testid="access-code-error">${escapeHtml(description)}</p>
${error ? `<p class="muted">Error code: <code data-testid="access-code-error-code">${escapeHtml(error)}</code></p>` : ''}
<p class="muted">Close this tab and start the sign-in again.</p>`;
    sendHtml(res, 200, { title: 'CARTO sign-in failed (sandbox)', body });
    return;
  }
  const body = `
<h1>Your CARTO access code</h1>
<p>Copy this code and paste it where you started the sign-in.</p>
<div class="code-row">
  <input id="access-code" data-testid="access-code" type="text" readonly value="${escapeHtml(code)}" aria-label="Access code">
  <button class="primary" type="button" id="copy-access-code" data-testid="copy-access-code">Copy</button>
</div>
<p class="muted" id="copy-status" role="status"></p>`;
  const script = `
  (function () {
    var input = document.getElementById('access-code');
    var status = document.getElementById('copy-status');
    input.addEventListener('focus', function () { input.select(); });
    document.getElementById('copy-access-code').addEventListener('click', function () {
      input.select();
      var done = function () { status.textContent = 'Copied.'; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(done, function () {
          document.execCommand('copy'); done();
        });
      } else { document.execCommand('copy'); done(); }
    });
  })();`;
  sendHtml(res, 200, {
    title: 'Your CARTO access code (sandbox)',
    body,
    script
  });
}

export function renderMessagePage(res, status, { title, message }) {
  sendHtml(res, status, {
    title,
    body: `<h1>${escapeHtml(title)}</h1>\n<p class="error" role="alert">${escapeHtml(message)}</p>`
  });
}

/** oidc-provider's renderError replacement: same information, escaped, no external fonts. */
export function errorPageHtml(out) {
  const rows = Object.entries(out)
    .map(
      ([key, value]) =>
        `<p><strong>${escapeHtml(key)}</strong>: <span data-testid="${escapeHtml(key)}">${escapeHtml(value)}</span></p>`
    )
    .join('\n');
  return layout({
    title: 'Sign-in error (sandbox)',
    body: `<h1>Something went wrong</h1>\n${rows}`
  });
}

export function simplePageHtml(title, innerHtml) {
  return layout({ title, body: `<h1>${escapeHtml(title)}</h1>\n${innerHtml}` });
}
