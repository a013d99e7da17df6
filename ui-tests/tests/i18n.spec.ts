// The lab in Spanish: with the es-ES language pack installed, switching the
// interface language (Settings → Language) shows the extension's own Spanish
// catalog (shipped through the jupyterlab.locale entry point) in the menu,
// the command palette, the status item, the paste dialog and the account
// panel. The language is switched back at the end (the settings are Galata's
// per-test mock, so no other test starts in Spanish either way).
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import { runCommand, signInWithPopup } from './helpers';

/** Change the interface language as the Language menu does: confirm, reload. */
async function switchLanguage(
  page: IJupyterLabPageFixture,
  locale: string
): Promise<void> {
  await runCommand(page, `jupyterlab-translation:${locale}`);
  const confirm = page.locator('.jp-Dialog');
  await expect(confirm).toBeVisible();
  const reloaded = page.waitForEvent('load');
  await confirm.locator('.jp-mod-accept').click();
  await reloaded;
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
}

test('the extension speaks Spanish when the lab does', async ({ page }) => {
  const status = page.locator('.jp-CartoAuth-statusButton');
  await expect(status).toHaveText('Sign in to CARTO');

  // When the user switches the lab to Spanish
  await switchLanguage(page, 'es_ES');

  // Then the lab's own menus are Spanish (the language pack) …
  const settingsMenu = page.locator('#jp-MainMenu .lm-MenuBar-itemLabel', {
    hasText: 'Configuración'
  });
  await expect(settingsMenu).toBeVisible();

  // … and so is the status item
  await expect(status).toHaveText('Iniciar sesión en CARTO');

  // And the command palette (opened again if the lab, still settling after
  // the reload, takes the focus and so closes it)
  const palette = page.locator('#modal-command-palette');
  await expect(async () => {
    await page.evaluate(() =>
      (window as any).jupyterapp.commands.execute(
        'apputils:activate-command-palette'
      )
    );
    await palette.locator('.lm-CommandPalette-input').fill('CARTO');
    const content = palette.locator('.lm-CommandPalette-content');
    for (const label of [
      'Iniciar sesión en CARTO con SSO…',
      'Pegar código de acceso de CARTO',
      'Cerrar sesión en CARTO',
      'Cuenta de CARTO'
    ]) {
      await expect(content).toContainText(label, { timeout: 5000 });
    }
  }).toPass({ timeout: 30000 });
  await page.keyboard.press('Escape');

  // And the CARTO submenu of Settings
  await settingsMenu.click();
  await page
    .locator('.lm-Menu-item', { hasText: /^CARTO$/ })
    .first()
    .hover();
  const submenu = page.locator('.lm-Menu').last();
  await expect(
    submenu.locator('.lm-Menu-itemLabel', {
      hasText: /^Iniciar sesión en CARTO$/
    })
  ).toBeVisible();
  await expect(
    submenu.locator('.lm-Menu-itemLabel', {
      hasText: 'Iniciar sesión en CARTO con SSO…'
    })
  ).toBeVisible();
  await expect(
    submenu.locator('.lm-Menu-itemLabel', {
      hasText: 'Pegar código de acceso de CARTO'
    })
  ).toBeVisible();
  await page.keyboard.press('Escape');
  await page.keyboard.press('Escape');

  // And the paste dialog, with its messages
  const tabOpened = page.context().waitForEvent('page');
  await runCommand(page, 'carto-auth:paste-code');
  await (await tabOpened).close();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('Pegar código de acceso de CARTO');
  await expect(dialog).toContainText('Se ha abierto una página');
  const input = dialog.getByLabel('Código de acceso');
  await expect(input).toBeFocused();
  await input.fill('not a code');
  await input.press('Enter');
  await expect(dialog.getByRole('alert')).toContainText(
    'Eso no es un código de acceso'
  );
  await dialog.getByRole('button', { name: 'Cancelar' }).click();
  await expect(dialog).toHaveCount(0);

  // And the status item and account panel once signed in
  await signInWithPopup(page);
  await expect(status).toHaveAttribute(
    'title',
    'Sesión iniciada en CARTO. Haz clic para ver los detalles de la cuenta.'
  );
  await expect(status).toContainText(/\d+ min/);
  await status.click();
  await expect(dialog).toContainText('Cuenta de CARTO');
  await expect(dialog).toContainText('Renovación');
  await expect(dialog).toContainText('automática');
  await dialog.getByRole('button', { name: 'Cerrar sesión' }).click();
  await expect(status).toHaveText('Iniciar sesión en CARTO');

  // When the user switches back to English, everything is English again
  await switchLanguage(page, 'en');
  await expect(status).toHaveText('Sign in to CARTO');
  await expect(
    page.locator('#jp-MainMenu .lm-MenuBar-itemLabel', { hasText: 'Settings' })
  ).toBeVisible();
});
