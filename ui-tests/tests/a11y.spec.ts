// Accessibility: axe-core on the extension's own elements (the paste dialog,
// the SSO dialog, the account panel, the status item), signed out and in, in
// the light and dark themes, must find no serious or critical violation. The
// rest of JupyterLab is not checked here (its findings are attached to the
// test as "axe outside"). And the dialogs work with the keyboard alone.
import AxeBuilder from '@axe-core/playwright';
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Page } from '@playwright/test';

import { logInOnSandbox, runCommand, signInWithPopup } from './helpers';

/** The serious and critical violations axe finds inside `selector`. */
async function violations(page: Page, selector: string): Promise<string[]> {
  await expect(page.locator(selector).first()).toBeVisible();
  const results = await new AxeBuilder({ page }).include(selector).analyze();
  return results.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .flatMap(v =>
      v.nodes.map(
        node =>
          `${v.id} (${v.impact}) ${node.target.join(' ')}: ${node.failureSummary}`
      )
    );
}

/** The open dialog's whole box: header (title, close), body, buttons. */
const DIALOG = '.jp-Dialog-content';
const STATUS = '.jp-CartoAuth-status';

/** Open the paste dialog; the sign-in tab it opens is closed again. */
async function openPaste(page: IJupyterLabPageFixture): Promise<Page> {
  const tabOpened = page.context().waitForEvent('page');
  await runCommand(page, 'carto-auth:paste-code');
  const tab = await tabOpened;
  await page.bringToFront();
  await expect(page.locator('.jp-Dialog')).toContainText(
    'Paste CARTO access code'
  );
  return tab;
}

/** Close the open dialog with its Cancel/Close button (the keyboard is tested below). */
async function closeDialog(page: Page): Promise<void> {
  await page.locator('.jp-Dialog .jp-mod-reject').click();
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);
}

for (const theme of ['light', 'dark'] as const) {
  test(`axe finds nothing serious in our elements, ${theme} theme`, async ({
    page
  }, testInfo) => {
    if (theme === 'dark') {
      await page.theme.setDarkTheme();
    } else {
      await page.theme.setLightTheme();
    }
    const found: Record<string, string[]> = {};
    const status = page.locator('.jp-CartoAuth-statusButton');

    // Signed out: the status item, the paste dialog (also with its error), SSO
    await expect(status).toHaveAttribute('data-status', 'signed-out');
    found['status, signed out'] = await violations(page, STATUS);

    const tab = await openPaste(page);
    await tab.close();
    found['paste dialog'] = await violations(page, DIALOG);
    const input = page.locator('.jp-Dialog').getByLabel('Access code');
    await input.fill('not a code');
    await input.press('Enter');
    await expect(page.locator('.jp-Dialog').getByRole('alert')).toBeVisible();
    found['paste dialog with an error'] = await violations(page, DIALOG);
    await closeDialog(page);

    await runCommand(page, 'carto-auth:sign-in-sso');
    await expect(page.locator('.jp-Dialog')).toContainText(
      'Sign in to CARTO with SSO'
    );
    found['SSO dialog'] = await violations(page, DIALOG);

    // What axe says about the rest of the lab (not this extension's to fix)
    const everything = await new AxeBuilder({ page })
      .exclude(STATUS)
      .exclude('.jp-Dialog')
      .analyze();
    await testInfo.attach(`axe outside, ${theme}`, {
      body: everything.violations
        .map(v => `${v.id} (${v.impact}): ${v.nodes.length} nodes`)
        .join('\n'),
      contentType: 'text/plain'
    });
    await closeDialog(page);

    // Signed in: the status item, the account panel, the dialogs again
    await signInWithPopup(page);
    found['status, signed in'] = await violations(page, STATUS);
    await status.click();
    await expect(page.locator('.jp-Dialog')).toContainText('CARTO account');
    found['account panel'] = await violations(page, DIALOG);
    await closeDialog(page);
    await runCommand(page, 'carto-auth:sign-in-sso');
    await expect(page.locator('.jp-Dialog')).toContainText(
      'Sign in to CARTO with SSO'
    );
    found['SSO dialog, signed in'] = await violations(page, DIALOG);
    await closeDialog(page);
    await (await openPaste(page)).close();
    found['paste dialog, signed in'] = await violations(page, DIALOG);
    await closeDialog(page);

    expect(found).toEqual(
      Object.fromEntries(Object.keys(found).map(key => [key, []]))
    );
  });
}

/** What has the focus: its role/tag and accessible text, for an order check. */
async function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el) {
      return 'nothing';
    }
    const name =
      el.getAttribute('aria-label') ||
      (el as HTMLInputElement).labels?.[0]?.textContent ||
      el.textContent ||
      '';
    return `${el.tagName.toLowerCase()} ${name.trim()}`;
  });
}

/** Whether the focus is inside the open dialog. */
async function inDialog(page: Page): Promise<boolean> {
  return page.evaluate(() => !!document.activeElement?.closest('.jp-Dialog'));
}

/** Press Tab `count` times and say where the focus went each time. */
async function tabs(page: Page, count: number, key = 'Tab') {
  const order: string[] = [];
  for (let i = 0; i < count; i++) {
    await page.keyboard.press(key);
    order.push(await focused(page));
    expect(await inDialog(page)).toBe(true);
  }
  return order;
}

test('the paste dialog works by keyboard alone', async ({ page }) => {
  const status = page.locator('.jp-CartoAuth-statusButton');
  const dialog = page.locator('.jp-Dialog');
  const input = dialog.getByLabel('Access code');
  await status.focus();

  // When the dialog opens, the code field has the focus
  let tab = await openPaste(page);
  await tab.close();
  await expect(input).toBeFocused();

  // Tab goes field → Cancel → Sign in → (wraps inside the dialog) link → field
  expect(await tabs(page, 4)).toEqual([
    'button Cancel',
    'button Sign in',
    'a Open it again',
    'input Access code'
  ]);
  // Shift+Tab goes back, and the focus never leaves the dialog
  const back = await tabs(page, 3, 'Shift+Tab');
  expect(back[0]).toBe('a Open it again');
  expect(await inDialog(page)).toBe(true);
  await input.focus();

  // Enter submits: a wrong code brings the message, the field keeps the focus
  await page.keyboard.type('not a code');
  await page.keyboard.press('Enter');
  await expect(dialog.getByRole('alert')).toContainText(
    'That is not an access code'
  );
  await expect(input).toBeFocused();
  await expect(input).toHaveAttribute(
    'aria-describedby',
    'jp-CartoAuth-code-error'
  );

  // Escape cancels, and the focus is back on the status item
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  await expect(status).toHaveAttribute('data-status', 'signed-out');
  await expect(status).toBeFocused();

  // Enter with a good code signs in, and the focus is back on the status item
  tab = await openPaste(page);
  await logInOnSandbox(tab);
  const code = await tab.getByTestId('access-code').inputValue();
  await page.bringToFront();
  await expect(input).toBeFocused();
  await page.keyboard.type(code);
  await page.keyboard.press('Enter');
  await expect(dialog).toHaveCount(0);
  await expect(status).toHaveAttribute('data-status', 'signed-in');
  await expect(status).toBeFocused();
});

test('the SSO dialog works by keyboard alone', async ({ page }) => {
  const status = page.locator('.jp-CartoAuth-statusButton');
  const dialog = page.locator('.jp-Dialog');
  const input = dialog.getByLabel('Organization');
  await status.focus();

  // When the dialog opens, the organization field has the focus
  await runCommand(page, 'carto-auth:sign-in-sso');
  await expect(dialog).toContainText('Sign in to CARTO with SSO');
  await expect(input).toBeFocused();

  // Tab goes field → Cancel → Sign in → (wraps) field
  expect(await tabs(page, 3)).toEqual([
    'button Cancel',
    'button Sign in',
    'input Organization'
  ]);

  // Escape cancels; the focus is back on the status item
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  await expect(status).toBeFocused();
  await expect(status).toHaveAttribute('data-status', 'signed-out');

  // Enter signs in with the organization typed
  await runCommand(page, 'carto-auth:sign-in-sso');
  await expect(input).toBeFocused();
  const popupOpened = page.waitForEvent('popup');
  await page.keyboard.type('acme');
  await page.keyboard.press('Enter');
  await logInOnSandbox(await popupOpened);
  await expect(status).toHaveAttribute('data-status', 'signed-in');
  await expect(status).toContainText('acme');
});

test('the axe check sees a violation planted in our elements', async ({
  page
}) => {
  // An unnamed button in the status item: what the check above must catch
  await page.locator(STATUS).evaluate(el => {
    el.appendChild(document.createElement('button'));
  });
  expect((await violations(page, STATUS)).join('\n')).toContain(
    'button-name (critical)'
  );
});
