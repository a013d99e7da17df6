// A user's own SPA OAuth client, with the callback page served by Jupyter:
// token requests go straight from the browser when the provider allows this
// origin (CORS), and through the Jupyter server's proxy when it does not.
// Also: SSO organization, and rememberSession off.
import { expect, galata, test } from '@jupyterlab/galata';

import {
  logInOnSandbox,
  runCommand,
  sandboxInfo,
  signInWithPopup
} from './helpers';

const SESSION = 'jupyterlab-carto-auth:session';

for (const [clientId, viaServer] of [
  ['sandbox-spa', false],
  ['sandbox-spa-nocors', true]
] as const) {
  test.describe(`own SPA client ${clientId}`, () => {
    test.use({
      mockSettings: {
        ...galata.DEFAULT_SETTINGS,
        [SESSION]: { clientId, redirectUri: '{baseUrl}carto-auth/callback' }
      }
    });

    test(`signs in ${viaServer ? 'through the server proxy' : 'from the browser'}`, async ({
      page
    }) => {
      const proxied: string[] = [];
      const direct: string[] = [];
      page.on('request', request => {
        if (request.url().includes('/carto-auth/proxy/raw')) {
          proxied.push(request.url());
        } else if (request.url().startsWith(sandboxInfo().token_url)) {
          direct.push(request.url());
        }
      });

      await signInWithPopup(page);

      const exchanged = viaServer ? proxied : direct;
      expect(exchanged.length).toBeGreaterThan(0);
      if (viaServer) {
        expect(
          proxied.every(url =>
            url.includes(encodeURIComponent(sandboxInfo().token_url))
          )
        ).toBe(true);
      } else {
        expect(proxied).toEqual([]);
      }
    });
  });
}

test.describe('SSO', () => {
  test('signs in with the organization typed in the SSO dialog', async ({
    page
  }) => {
    const status = page.locator('.jp-CartoAuth-statusButton');
    await runCommand(page, 'carto-auth:sign-in-sso');
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('Sign in to CARTO with SSO');
    const popupOpened = page.waitForEvent('popup');
    await dialog.locator('input').fill('acme');
    await dialog.locator('button', { hasText: 'Sign in' }).click();
    await logInOnSandbox(await popupOpened);
    await expect(status).toHaveAttribute('data-status', 'signed-in');
    await expect(status).toContainText('acme');
  });
});

test.describe('rememberSession off', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      [SESSION]: { rememberSession: false }
    }
  });

  test('a reload signs out', async ({ page }) => {
    const status = page.locator('.jp-CartoAuth-statusButton');
    await signInWithPopup(page);
    await page.reload();
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
    await expect(status).toHaveAttribute('data-status', 'signed-out');
  });
});

test.describe('status item setting', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'jupyterlab-carto-auth:statusbar': { showStatusItem: false }
    }
  });

  test('showStatusItem false hides the item; the command still works', async ({
    page
  }) => {
    await expect(page.locator('#jp-main-statusbar')).toBeVisible();
    await expect(page.locator('.jp-CartoAuth-statusButton')).toBeHidden();
    const popupOpened = page.waitForEvent('popup');
    await runCommand(page, 'carto-auth:sign-in');
    await logInOnSandbox(await popupOpened);
    await expect
      .poll(() =>
        page.evaluate(() =>
          (window as any).jupyterapp.commands.isEnabled('carto-auth:sign-out')
        )
      )
      .toBe(true);
    await runCommand(page, 'carto-auth:show-account');
    await expect(page.locator('.jp-Dialog')).toContainText(
      sandboxInfo().user.email
    );
  });
});
