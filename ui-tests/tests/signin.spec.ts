// Browser sign-in against the sandbox provider: the popup flow with CARTO's
// default public client (localhost callback relayed by the Jupyter server),
// session restore on reload, and sign-out.
import { expect, test } from '@jupyterlab/galata';

import {
  captureTokens,
  sandboxInfo,
  savedWorkspace,
  screenshot,
  signInWithPopup,
  tokenForms
} from './helpers';

// The real server-side workspace, so what lands on disk can be checked.
test.use({ mockState: false });

test.describe('popup sign-in with the default client', () => {
  test('signs in, survives a reload, and signs out', async ({ page }) => {
    const info = sandboxInfo();
    const status = page.locator('.jp-CartoAuth-statusButton');
    await expect(status).toHaveAttribute('data-status', 'signed-out');

    // When the user signs in through the popup
    const tokens = captureTokens(page);
    await signInWithPopup(page);

    // Then the status bar shows who is signed in, and the region
    await expect(status).toContainText(info.user.email);
    await expect(status).toContainText('sandbox');
    await status.screenshot({ path: screenshot('status-signed-in.png') });

    // And the workspace file on disk holds no token in any recognisable form
    const workspace = await savedWorkspace();
    expect(tokens.access.length).toBeGreaterThan(0);
    expect(tokens.refresh.length).toBeGreaterThan(0);
    for (const token of [...tokens.access, ...tokens.refresh]) {
      for (const form of tokenForms(token)) {
        expect(workspace).not.toContain(form);
      }
    }

    // When the page reloads (rememberSession is on by default)
    await page.reload();
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });

    // Then the session is back without a new login
    await expect(status).toHaveAttribute('data-status', 'signed-in');
    await expect(status).toContainText(info.user.email);

    // When the user signs out from the account panel
    await status.click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText(info.user.email);
    await expect(dialog).toContainText(info.api_base_url);
    await dialog
      .locator('.jp-Dialog-content')
      .screenshot({ path: screenshot('account-panel.png') });
    await dialog.locator('button', { hasText: 'Sign out' }).click();

    // Then the lab is signed out, and the refresh token is revoked at the provider
    await expect(status).toHaveAttribute('data-status', 'signed-out');
    const refreshToken = tokens.refresh[tokens.refresh.length - 1];
    await expect
      .poll(async () => {
        const response = await fetch(info.token_url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'refresh_token',
            refresh_token: refreshToken,
            client_id: info.clients.public.client_id
          })
        });
        return (await response.json()).error;
      })
      .toBe('invalid_grant');

    // And it stays signed out after a reload
    await page.reload();
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
    await expect(status).toHaveAttribute('data-status', 'signed-out');
  });
});
