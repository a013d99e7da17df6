// The access-code flow for remote servers: the CARTO page opens in a new
// tab, the user pastes the code it shows. Wrong, expired and used codes each
// get their own message and leave the dialog usable.
import { expect, galata, test } from '@jupyterlab/galata';

import {
  logInOnSandbox,
  runCommand,
  sandboxInfo,
  screenshot,
  setLifetimes
} from './helpers';

// Long enough that the wrong-code step below ends inside it on a loaded machine
// (past it, a refused code is reported as expired, which is right, but not what
// that step checks).
const CODE_TTL = 12;

test.use({
  mockSettings: {
    ...galata.DEFAULT_SETTINGS,
    'jupyterlab-carto-auth:session': { accessCodeLifetimeSeconds: CODE_TTL }
  }
});

test.afterEach(async () => {
  await setLifetimes({ code_ttl: 60 });
});

test('paste flow: wrong code, expired code, then a good code signs in', async ({
  page,
  context
}) => {
  const info = sandboxInfo();
  await setLifetimes({ code_ttl: CODE_TTL });
  const status = page.locator('.jp-CartoAuth-statusButton');

  // When the user asks to paste an access code
  const tabOpened = context.waitForEvent('page');
  await runCommand(page, 'carto-auth:paste-code');
  const tab = await tabOpened;
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('Paste CARTO access code');
  await expect(dialog.getByLabel('Access code')).toBeFocused();
  await dialog
    .locator('.jp-Dialog-content')
    .screenshot({ path: screenshot('paste-dialog.png') });

  // And pastes something that is not a code
  await dialog.getByLabel('Access code').fill('not a code');
  await dialog.getByLabel('Access code').press('Enter');
  await expect(dialog.getByRole('alert')).toContainText(
    'That is not an access code'
  );

  // And then a well-formed code CARTO does not know
  await dialog.getByLabel('Access code').fill('wrong-code-1234567890');
  await dialog.locator('button', { hasText: 'Sign in' }).click();
  await expect(dialog.getByRole('alert')).toContainText(
    'CARTO did not accept this access code'
  );
  await expect(status).not.toHaveAttribute('data-status', 'signed-in');

  // When the user signs in on the CARTO page and waits too long to paste
  await logInOnSandbox(tab);
  const code = await tab.getByTestId('access-code').inputValue();
  expect(code.length).toBeGreaterThan(10);
  await page.waitForTimeout((CODE_TTL + 1) * 1000);
  await dialog.getByLabel('Access code').fill(code);
  await dialog.locator('button', { hasText: 'Sign in' }).click();

  // Then the dialog says the code expired, and stays usable
  await expect(dialog.getByRole('alert')).toContainText('has expired');

  // When the user opens the CARTO page again and pastes the new code at once
  const again = context.waitForEvent('page');
  await dialog.getByRole('link', { name: 'Open it again' }).click();
  const second = await again;
  const fresh = await second.getByTestId('access-code').inputValue();
  expect(fresh).not.toEqual(code);
  await dialog.getByLabel('Access code').fill(`  ${fresh}\n`);
  await dialog.locator('button', { hasText: 'Sign in' }).click();

  // Then the lab is signed in
  await expect(dialog).toHaveCount(0);
  await expect(status).toHaveAttribute('data-status', 'signed-in');
  await expect(status).toContainText(info.user.email);
});

test('paste flow: the full page address works, a used code is refused', async ({
  page,
  context
}) => {
  const status = page.locator('.jp-CartoAuth-statusButton');
  const tabOpened = context.waitForEvent('page');
  await runCommand(page, 'carto-auth:paste-code');
  const tab = await tabOpened;
  await logInOnSandbox(tab);
  await tab.getByTestId('access-code').waitFor();
  const dialog = page.locator('.jp-Dialog');

  // When the user pastes the whole address of the access-code page
  await dialog.getByLabel('Access code').fill(tab.url());
  await dialog.locator('button', { hasText: 'Sign in' }).click();
  await expect(status).toHaveAttribute('data-status', 'signed-in');
  const code = new URL(tab.url()).searchParams.get('code')!;

  // When the user signs out and pastes the same code again
  await runCommand(page, 'carto-auth:sign-out');
  await expect(status).toHaveAttribute('data-status', 'signed-out');
  const next = context.waitForEvent('page');
  await runCommand(page, 'carto-auth:paste-code');
  await next;
  await dialog.getByLabel('Access code').fill(code);
  await dialog.locator('button', { hasText: 'Sign in' }).click();

  // Then it is refused as used, and Cancel ends the attempt
  await expect(dialog.getByRole('alert')).toContainText('already used');
  await dialog.locator('button', { hasText: 'Cancel' }).click();
  await expect(status).toHaveAttribute('data-status', 'signed-out');
});
