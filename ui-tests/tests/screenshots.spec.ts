// Screenshots of the status bar and the paste dialog in the light and dark
// themes (for the README and for a look at both themes), with checks that
// the extension's colours follow the theme.
import { expect, test } from '@jupyterlab/galata';

import { runCommand, screenshot, signInWithPopup } from './helpers';

for (const theme of ['light', 'dark'] as const) {
  test(`status bar and paste dialog, ${theme} theme`, async ({ page }) => {
    if (theme === 'dark') {
      await page.theme.setDarkTheme();
    } else {
      await page.theme.setLightTheme();
    }
    const status = page.locator('.jp-CartoAuth-statusButton');
    await status.screenshot({
      path: screenshot(`status-signed-out-${theme}.png`)
    });

    // The item's text colour is the theme's, not a fixed one
    const color = await status.evaluate(el => getComputedStyle(el).color);
    const themeColor = await page.evaluate(() =>
      getComputedStyle(document.body)
        .getPropertyValue('--jp-ui-font-color1')
        .trim()
    );
    const probe = await page.evaluate(value => {
      const el = document.createElement('span');
      el.style.color = value;
      document.body.appendChild(el);
      const rgb = getComputedStyle(el).color;
      el.remove();
      return rgb;
    }, themeColor);
    expect(color).toBe(probe);

    await signInWithPopup(page);
    await status.screenshot({
      path: screenshot(`status-signed-in-${theme}.png`)
    });
    await page.screenshot({ path: screenshot(`lab-signed-in-${theme}.png`) });

    const tabOpened = page.context().waitForEvent('page');
    await runCommand(page, 'carto-auth:paste-code');
    await (await tabOpened).close();
    const dialog = page.locator('.jp-Dialog-content');
    await expect(dialog).toContainText('Paste CARTO access code');
    await dialog.screenshot({ path: screenshot(`paste-dialog-${theme}.png`) });
    await page
      .locator('.jp-Dialog')
      .locator('button', { hasText: 'Cancel' })
      .click();
  });
}
