// Smoke test: JupyterLab loads with the extension, without console errors
// from it, and "Sign in to CARTO" is in the command palette.
import { expect, test } from '@jupyterlab/galata';

import { screenshot } from './helpers';

test.describe('jupyterlab-carto-auth loads', () => {
  test('the extension activates and its command is in the palette', async ({
    page
  }) => {
    // Given the console errors the page logs from now on
    const errors: string[] = [];
    page.on('console', message => {
      if (message.type() === 'error') {
        errors.push(message.text());
      }
    });
    page.on('pageerror', error => errors.push(String(error)));

    // When JupyterLab has loaded (the page fixture waits for it) and reloads
    await page.reload();
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });

    // Then the status bar shows the CARTO item, signed out
    const status = page.locator('.jp-CartoAuth-statusButton');
    await expect(status).toHaveAttribute('data-status', 'signed-out');
    await expect(status).toHaveText('Sign in to CARTO');

    // And the palette lists the command
    await page.keyboard.press('Control+Shift+C');
    const palette = page.locator('#command-palette');
    await palette.locator('.lm-CommandPalette-input').fill('CARTO');
    const item = palette.locator('[data-command="carto-auth:sign-in"]');
    await expect(item).toBeVisible();
    await expect(item).toContainText('Sign in to CARTO');
    await page.screenshot({ path: screenshot('palette.png') });
    await page.keyboard.press('Escape');

    // And the status bar item is captured for the README
    await status.screenshot({
      path: screenshot('status-signed-out.png')
    });

    // And nothing the extension did logged an error
    expect(errors.filter(e => /carto/i.test(e))).toEqual([]);
  });
});
