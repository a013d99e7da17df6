// A kernel gets the CARTO token only with the user's grant for its notebook
// (kernelAccess: ask, the default of the test lab). Real JupyterLab, real
// ipykernel, real sandbox provider and API, real Chromium.
import { expect, test } from '@jupyterlab/galata';

import {
  accessDialog,
  allowAccess,
  kernelIdle,
  kernelPrints,
  logInOnSandbox,
  newNotebook,
  run,
  sandboxInfo,
  setSource,
  signInWithPopup
} from './helpers';

/** The cell of kernels.spec.ts: the session as carto-auth code uses it. */
const API_CELL = `import urllib.request, urllib.error
from jupyterlab_carto_auth import CartoAuth
try:
    auth = CartoAuth.from_oauth()
    req = urllib.request.Request(
        auth.get_api_base_url() + "/v3/sql/carto_dw/query?q=select+1",
        headers={"Authorization": "Bearer " + auth.get_access_token()},
    )
    try:
        print("api", urllib.request.urlopen(req, timeout=10).status)
    except urllib.error.HTTPError as e:
        print("api", e.code)
except Exception as e:
    print(type(e).__name__, e)`;

/** What the kernel holds: its session's state and reason, and a token or not. */
const HELD =
  'import jupyterlab_carto_auth.kernel as k\ncur = k.SESSION.current\nprint("held", cur and cur.state, cur and cur.reason, bool(cur and cur.access_token))';

const status = (page: any) => page.locator('.jp-CartoAuth-statusButton');

test('Allow: nothing reaches the kernel before the click, the session after it', async ({
  page,
  tmpPath
}) => {
  const { email } = sandboxInfo().user;
  await signInWithPopup(page);
  const path = await newNotebook(page, tmpPath, 'allow.ipynb', {
    allow: false
  });
  // The prompt names the notebook and the account
  const dialog = accessDialog(page, path);
  await expect(dialog).toBeVisible({ timeout: 30000 });
  await expect(dialog).toContainText(`Allow ${path} to use your CARTO account`);
  await expect(dialog).toContainText(email);
  // Before Allow the kernel holds no token, and knows why
  expect(await kernelPrints(page, HELD)).toContain(
    'held signed_out not_granted False'
  );
  await allowAccess(page, path);
  expect(await kernelPrints(page, HELD)).toContain(
    'held signed_in sign_in True'
  );
  expect(await run(page, 0, API_CELL)).toContain('api 200');
});

test('Deny: the cell is told how to allow it, and is not asked again at once', async ({
  page,
  tmpPath
}) => {
  await signInWithPopup(page);
  const path = await newNotebook(page, tmpPath, 'deny.ipynb', {
    allow: false
  });
  const dialog = accessDialog(page, path);
  await expect(dialog).toBeVisible({ timeout: 30000 });
  await dialog.getByRole('button', { name: 'Deny' }).click();
  await expect(dialog).toHaveCount(0);
  await page.notebook.activate('deny.ipynb');
  const output = await run(page, 0, API_CELL);
  expect(output).toContain('You denied');
  expect(output).toContain('CARTO Account');
  expect(output).not.toContain('api 200');
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);
  expect(await kernelPrints(page, HELD)).toContain('held signed_out');
  expect(await kernelPrints(page, HELD)).toContain('False');
});

test.describe('a grant across reloads', () => {
  // The lab's real state, so the session is restored after the reload.
  test.use({ mockState: false });

  test('remembered after a reload, listed in CARTO Account, and revoked there', async ({
    page,
    tmpPath
  }) => {
    await signInWithPopup(page);
    const path = await newNotebook(page, tmpPath, 'remember.ipynb');
    expect(await run(page, 0, API_CELL)).toContain('api 200');
    // After a reload the lab attaches the kernel again: no prompt this time
    // (the user confirms leaving the page with the notebook's unsaved output)
    page.on('dialog', dialog => void dialog.accept());
    // (galata's ready check wants the Launcher; the notebook's tab is restored)
    await page.reload({ waitForIsReady: false });
    await expect(status(page)).toHaveAttribute('data-status', 'signed-in');
    await kernelIdle(page);
    await expect
      .poll(() => kernelPrints(page, HELD), { timeout: 30000 })
      .toContain('held signed_in attach True');
    expect(await kernelPrints(page, API_CELL)).toContain('api 200');
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
    // The account panel lists it; Revoke is a keyboard-usable button
    await status(page).click();
    const panel = page.locator('.jp-Dialog', { hasText: 'CARTO account' });
    await expect(panel.locator('.jp-CartoAuth-grant')).toHaveText(
      new RegExp(path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    );
    const revoke = panel.getByRole('button', { name: `Revoke ${path}` });
    await revoke.focus();
    await page.keyboard.press('Enter');
    await expect(panel.locator('.jp-CartoAuth-grant')).toHaveCount(0);
    await panel.getByRole('button', { name: 'Close' }).click();
    // The kernel was told at once, and holds no token
    expect(await kernelPrints(page, HELD)).toContain(
      'held signed_out not_granted False'
    );
  });
});

test('a synchronous cell waiting on the grant completes once allowed', async ({
  page,
  tmpPath
}) => {
  await signInWithPopup(page);
  const path = await newNotebook(page, tmpPath, 'sync.ipynb', {
    allow: false
  });
  const dialog = accessDialog(page, path);
  await expect(dialog).toBeVisible({ timeout: 30000 });
  // The cell runs while the prompt is open (a modal: no clicks reach the
  // notebook, so set the source in the model and run it by command)
  await page.evaluate(source => {
    const panel = (window as any).jupyterapp.shell.currentWidget;
    panel.content.widgets[0].model.sharedModel.setSource(source);
    panel.content.activeCellIndex = 0;
    void (window as any).jupyterapp.commands.execute('notebook:run-cell');
  }, API_CELL);
  await expect
    .poll(() =>
      page.evaluate(
        () =>
          (window as any).jupyterapp.shell.currentWidget.sessionContext.session
            .kernel.status
      )
    )
    .toBe('busy');
  await page.waitForTimeout(1500);
  // Still one prompt: the cell waits on it, it does not open another
  await expect(page.locator('.jp-CartoAuth-accessDialog')).toHaveCount(1);
  await dialog.getByRole('button', { name: 'Allow', exact: true }).click();
  await expect
    .poll(
      async () =>
        ((await page.notebook.getCellTextOutput(0)) ?? []).join('') as string,
      { timeout: 30000 }
    )
    .toContain('api 200');
  await expect(page.locator('.jp-Stdin')).toHaveCount(0);
});

test('signed out: one dialog allows and signs in, and the waiting cell completes', async ({
  page,
  tmpPath
}) => {
  const path = await newNotebook(page, tmpPath, 'both.ipynb');
  // Signed out at attach: nothing to grant yet, so no prompt
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);
  await setSource(page, 0, API_CELL);
  const running = page.notebook.runCell(0);
  const dialog = accessDialog(page, path);
  await expect(dialog).toBeVisible({ timeout: 30000 });
  await expect(dialog).toContainText('You are not signed in to CARTO');
  const popupOpened = page.waitForEvent('popup');
  await dialog.getByRole('button', { name: 'Sign in and allow' }).click();
  await logInOnSandbox(await popupOpened);
  await running;
  const output = ((await page.notebook.getCellTextOutput(0)) ?? []).join('');
  expect(output).toContain('api 200');
  // One dialog did both: no "waiting for you to sign in" notification
  await expect(
    page.locator('.Toastify__toast', {
      hasText: 'waiting for you to sign in to CARTO'
    })
  ).toHaveCount(0);
});

test("a kernel's sign_out signs only that kernel out; the lab asks before signing out everywhere", async ({
  page,
  tmpPath
}) => {
  await signInWithPopup(page);
  await newNotebook(page, tmpPath, 'stays.ipynb');
  expect(await run(page, 0, API_CELL)).toContain('api 200');
  const path = await newNotebook(page, tmpPath, 'leaves.ipynb');
  expect(await run(page, 0, API_CELL)).toContain('api 200');
  expect(
    await run(page, 1, '%load_ext jupyterlab_carto_auth\n%carto logout')
  ).toContain('Signed out of CARTO in this kernel');
  // The lab stays signed in and asks, naming the notebook
  const toast = page.locator('.Toastify__toast', {
    hasText: `${path} signed out of CARTO`
  });
  await expect(toast).toBeVisible();
  await expect(status(page)).toHaveAttribute('data-status', 'signed-in');
  expect(
    await run(
      page,
      2,
      'try:\n    auth.get_access_token()\nexcept Exception as e:\n    print(type(e).__name__, e)'
    )
  ).toContain('CredentialsError You signed out of CARTO');
  // The other notebook keeps its session
  await page.notebook.activate('stays.ipynb');
  expect(await run(page, 1, API_CELL)).toContain('api 200');
  // Only the user's click signs the whole lab out
  await toast.getByRole('button', { name: 'Sign out everywhere' }).click();
  await expect(status(page)).toHaveAttribute('data-status', 'signed-out');
  expect(await kernelPrints(page, HELD)).toContain(
    'held signed_out sign_out False'
  );
});
