// The sandbox provider and API stand-in misbehave on command (issue 9,
// Faults): each fault of a sign-in or a refresh ends with its own message
// within the request time limit, and once the fault clears the next
// sign-in or refresh works without reloading the page; a refresh token
// revoked at the provider ends the session once (kernels get signed_out, no
// retries); the API refusing a token the lab believes valid is what the
// kernel user sees, and a new sign-in makes the next call work.
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Page } from '@playwright/test';

import {
  kernelPrints,
  logInOnSandbox,
  newNotebook,
  run,
  runCommand,
  sandboxHook,
  sandboxInfo,
  setLifetimes,
  signInWithPopup
} from './helpers';

const SESSION = 'jupyterlab-carto-auth:session';
const REGISTRY = '@jupyterlab/apputils-extension:settings';
const TIMEOUT_S = 2;

/** POST a sandbox hook with a JSON body. */
async function hook(path: string, body?: unknown): Promise<any> {
  const response = await fetch(
    new URL(`__sandbox/${path}`, sandboxInfo().issuer),
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    }
  );
  if (!response.ok) {
    throw new Error(`${path}: ${response.status} ${await response.text()}`);
  }
  return response.json();
}

/** Set (or, with undefined, remove) a session setting in the running lab. */
async function setSetting(page: Page, key: string, value?: number) {
  await page.evaluate(
    async ({ registry, id, key, value }) => {
      const settings: any = await (window as any).galata.getPlugin(registry);
      if (value === undefined) {
        await settings.remove(id, key);
      } else {
        await settings.set(id, key, value);
      }
    },
    { registry: REGISTRY, id: SESSION, key, value }
  );
}

/** Ask the lab's session to refresh now; resolves with the time it took (ms). */
async function refreshNow(page: Page): Promise<number> {
  return page.evaluate(async id => {
    // (the service is the default profile's facade; refresh belongs to its session)
    const service: any = await (window as any).galata.getPlugin(id);
    const session = service.profiles.defaultProfile.session;
    const started = Date.now();
    await session.refresh(1e9).catch(() => undefined);
    return Date.now() - started;
  }, SESSION);
}

/** A pattern that matches `text` anywhere. */
const literally = (text: string) =>
  new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));

const toast = (page: Page, text: string | RegExp) =>
  page.locator('.Toastify__toast', { hasText: text });

/** Start a sign-in from the status item; log in if the provider asks. */
async function startSignIn(page: IJupyterLabPageFixture) {
  const popupOpened = page.waitForEvent('popup');
  await runCommand(page, 'carto-auth:sign-in');
  const popup = await popupOpened;
  const form = await popup
    .waitForSelector('#email', { timeout: 10000 })
    .catch(() => null);
  if (form) {
    await logInOnSandbox(popup);
  }
}

test.afterEach(async ({ page }) => {
  await hook('fault/clear');
  await hook('clock?offset_seconds=0');
  await hook('api/revoke/clear');
  await setLifetimes({ access_token_ttl: 3600 });
  await setSetting(page, 'requestTimeoutSeconds').catch(() => undefined);
});

test('provider faults: a message each, bounded, and recovery without a reload', async ({
  page
}) => {
  test.setTimeout(120000);
  const status = page.locator('.jp-CartoAuth-statusButton');
  await setSetting(page, 'requestTimeoutSeconds', TIMEOUT_S);
  await setLifetimes({ access_token_ttl: 40 });

  // Sign-in: the code exchange times out, fails, answers garbage
  for (const [fault, message] of [
    [{ kind: 'slow', delay_ms: 10000 }, 'did not answer in time'],
    [{ kind: '500' }, 'failed (The sandbox identity provider failed'],
    [{ kind: 'garbage' }, 'sent an answer that is not JSON']
  ] as const) {
    await hook('fault', { ...fault, grant_types: ['authorization_code'] });
    const started = Date.now();
    await startSignIn(page);
    await expect(toast(page, message)).toBeVisible();
    const ms = Date.now() - started;
    console.log(`sign-in, ${fault.kind}: message after ${ms} ms`);
    expect(ms).toBeLessThan(15000);
    await expect(status).toHaveAttribute('data-status', 'error');
    await hook('fault/clear');
  }

  // A token answer without expires_in from a provider whose clock is 5
  // minutes ahead: signed in, and the lab knows the token lasts 40 s
  await hook('fault', { kind: 'no_expires_in' });
  await hook('clock?offset_seconds=300');
  await startSignIn(page);
  await expect(status).toHaveAttribute('data-status', 'signed-in');
  await expect(status).toContainText(/\b\d{1,2} s\b/);
  await hook('fault/clear');

  // Refresh: each fault has its reason in the status, within the limit...
  for (const [fault, reason] of [
    [{ kind: 'slow', delay_ms: 10000 }, `did not answer within ${TIMEOUT_S} s`],
    [{ kind: '500' }, 'failed: The sandbox identity provider failed'],
    [{ kind: 'garbage' }, 'sent an answer that is not JSON']
  ] as const) {
    await hook('fault', { ...fault, grant_types: ['refresh_token'] });
    const took = await refreshNow(page);
    console.log(`refresh, ${fault.kind}: ended after ${took} ms`);
    expect(took).toBeLessThan((TIMEOUT_S + 3) * 1000);
    await expect(status).toHaveAttribute(
      'title',
      literally(
        `Could not renew the CARTO session (the CARTO sign-in service ${reason}`
      )
    );
    await expect(status).toHaveAttribute('data-status', 'signed-in');
    await hook('fault/clear');
  }
  // ...and once it clears, with the clock now 5 minutes behind and the
  // signing keys rotated, the next refresh renews the session
  await hook('clock?offset_seconds=-300');
  await hook('rotate-keys');
  await refreshNow(page);
  await expect(status).toHaveAttribute('title', /Signed in to CARTO/);
  await expect(status).toContainText(/\b\d{1,2} s\b/);
});

test('a refresh token revoked at the provider: told once, kernels signed out, no retries', async ({
  page,
  tmpPath
}) => {
  test.setTimeout(90000);
  const status = page.locator('.jp-CartoAuth-statusButton');
  await setLifetimes({ access_token_ttl: 20 });
  await signInWithPopup(page);
  const signedInAt = Date.now();
  await newNotebook(page, tmpPath, 'revoked.ipynb');
  expect(
    await run(
      page,
      0,
      'import jupyterlab_carto_auth.kernel as k\nprint(k.SESSION.current.state)'
    )
  ).toContain('signed_in');
  await sandboxHook('stats/reset');

  // When an administrator revokes the user's sessions at the provider
  await hook(`revoke?email=${encodeURIComponent(sandboxInfo().user.email)}`);

  // Then the next refresh (due 5 s before the 20 s token ends) says so once
  const ended = toast(page, 'CARTO ended your session');
  await expect(ended).toBeVisible({ timeout: 20000 });
  await expect(status).toHaveAttribute('data-status', 'signed-out');
  // ...before the old token would have expired, kernels are signed out
  expect(Date.now() - signedInAt).toBeLessThan(20000);
  expect(
    await kernelPrints(page, 'c = k.SESSION.current\nprint(c.state, c.reason)')
  ).toContain('signed_out sign_out');
  // And nothing retries: past the old token's expiry, one refresh request
  await page.waitForTimeout(Math.max(0, signedInAt + 25000 - Date.now()));
  const stats = await sandboxHook('stats');
  console.log(
    `revoked refresh token: ${stats.token_endpoint_requests} token-endpoint request(s), ${stats.token_requests.refresh_token} refresh`
  );
  expect(stats.token_requests.refresh_token).toBe(1);
  expect(stats.token_endpoint_requests).toBe(1);
  await expect(ended).toHaveCount(1);

  // And signing in again works, without a reload
  await ended.getByRole('button', { name: 'Sign in to CARTO' }).click();
  await expect(status).toHaveAttribute('data-status', 'signed-in', {
    timeout: 20000
  });
});

test('the CARTO API refuses a token the lab believes valid: the kernel user is told, a new sign-in fixes it', async ({
  page,
  tmpPath
}) => {
  test.setTimeout(90000);
  const status = page.locator('.jp-CartoAuth-statusButton');
  await signInWithPopup(page);
  await newNotebook(page, tmpPath, 'api401.ipynb');
  const CELL = `from jupyterlab_carto_auth import CartoAuth
try:
    print("project", CartoAuth.from_oauth().get_carto_dw_credentials()[0])
except Exception as e:
    print(type(e).__name__, e)`;
  expect(await run(page, 0, CELL)).toContain(
    'project carto-dw-sandbox-project'
  );

  // When CARTO revokes the user's tokens upstream (the lab still shows 59 min)
  await hook('api/revoke', { email: sandboxInfo().user.email });
  const refused = await run(page, 0, CELL);
  console.log(`API 401, the kernel user sees: ${refused}`);
  expect(refused).toContain('HTTP 401');
  expect(refused).toContain('The access token has been revoked');
  expect(refused).toContain('sign in to CARTO again');
  expect(refused).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
  await expect(status).toHaveAttribute('data-status', 'signed-in');

  // When the user signs in again (a second later: a new token)
  await page.waitForTimeout(1100);
  await startSignIn(page);
  await expect(status).toHaveAttribute('data-status', 'signed-in');

  // Then the next call works
  await expect
    .poll(async () => run(page, 0, CELL), { timeout: 20000 })
    .toContain('project carto-dw-sandbox-project');
  const stats = await sandboxHook('stats');
  expect(stats.api_requests_by_endpoint.carto_dw_token['401']).toBe(1);
});
