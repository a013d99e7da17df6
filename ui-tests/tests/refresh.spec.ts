// The session renews itself before the access token expires: at least two
// refreshes with 20-second tokens and no user action, exactly one refresh per
// cycle with two tabs open, and a failed refresh keeps the old token and says so.
import { expect, test } from '@jupyterlab/galata';
import { Request } from '@playwright/test';

import { sandboxHook, setLifetimes, signInWithPopup } from './helpers';

const TTL = 20;

/** Whether a request is a real refresh (not the sign-in's route probe). */
function isRefresh(request: Request): boolean {
  const body = request.postData() ?? '';
  return (
    request.method() === 'POST' &&
    /\/oauth\/token|\/carto-auth\/proxy\/raw/.test(request.url()) &&
    body.includes('grant_type=refresh_token') &&
    !body.includes('refresh_token=cors-probe')
  );
}

test.beforeEach(async () => {
  await setLifetimes({ access_token_ttl: TTL });
});

test.afterEach(async () => {
  await sandboxHook('up');
  await setLifetimes({ access_token_ttl: 3600 });
});

test('two tabs: the session refreshes by itself, once per cycle', async ({
  page,
  context
}) => {
  test.setTimeout(120000);
  const refreshes: number[] = [];
  context.on('request', request => {
    if (isRefresh(request)) {
      refreshes.push(Date.now());
    }
  });

  // Given a signed-in lab and a second tab of it
  await signInWithPopup(page);
  const second = await context.newPage();
  await second.goto(page.url());
  const secondStatus = second.locator('.jp-CartoAuth-statusButton');
  await expect(secondStatus).toHaveAttribute('data-status', 'signed-in');

  // When 50 seconds pass without any user action
  await page.waitForTimeout(50000);

  // Then the session was refreshed at least twice...
  expect(refreshes.length).toBeGreaterThanOrEqual(2);
  // ...and once per cycle: no two refreshes close together (one tab each)
  for (let i = 1; i < refreshes.length; i++) {
    expect(refreshes[i] - refreshes[i - 1]).toBeGreaterThan((TTL / 2) * 1000);
  }
  // And both tabs are still signed in with a fresh token
  for (const tab of [page, second]) {
    const status = tab.locator('.jp-CartoAuth-statusButton');
    await expect(status).toHaveAttribute('data-status', 'signed-in');
    await expect(status).toContainText(/\d+ s/);
  }
  await second.close();
});

test('a failed refresh keeps the old token and says so, then recovers', async ({
  page
}) => {
  test.setTimeout(120000);
  const status = page.locator('.jp-CartoAuth-statusButton');
  await signInWithPopup(page);

  // When the provider goes down before the refresh is due
  await sandboxHook('down');

  // Then the refresh fails, the lab stays signed in and says what happened
  await expect(status).toHaveAttribute(
    'title',
    /Could not renew the CARTO session/,
    {
      timeout: TTL * 1000
    }
  );
  await expect(status).toHaveAttribute('data-status', 'signed-in');

  // When the provider is back, a retry renews the session
  await sandboxHook('up');
  await expect(status).toHaveAttribute('title', /Signed in to CARTO/, {
    timeout: TTL * 1000
  });
  await expect(status).toHaveAttribute('data-status', 'signed-in');
});
