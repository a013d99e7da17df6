// End to end: the lab's session reaches notebook kernels over the carto_auth
// comm. Real JupyterLab, real ipykernel, real sandbox provider and API.
import { expect, test } from '@jupyterlab/galata';

import {
  kernelIdle,
  newNotebook,
  run,
  runCommand,
  sandboxHook,
  screenshot,
  setLifetimes,
  setSource,
  signInWithPopup
} from './helpers';

/** A cell that uses the session like carto-auth code does and calls the API. */
const API_CELL = `import urllib.request, urllib.error
from jupyterlab_carto_auth import CartoAuth
auth = CartoAuth.from_oauth()
def api_status():
    req = urllib.request.Request(
        auth.get_api_base_url() + "/v3/sql/carto_dw/query?q=select+1",
        headers={"Authorization": "Bearer " + auth.get_access_token()},
    )
    try:
        return urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code
print("api", api_status())`;

test.afterEach(async () => {
  await sandboxHook('up');
  await setLifetimes({ access_token_ttl: 3600 });
});

test('signed in: CartoAuth.from_oauth() in a cell calls the CARTO API (200)', async ({
  page,
  tmpPath
}) => {
  await signInWithPopup(page);
  await newNotebook(page, tmpPath, 'signed-in.ipynb');
  expect(await run(page, 0, API_CELL)).toContain('api 200');
  // The token never shows in the notebook: the repr is masked
  const shown = await run(page, 1, 'print(repr(auth)); auth');
  expect(shown).toContain('CartoAuth');
  const token = await run(
    page,
    2,
    'import jupyterlab_carto_auth.kernel as k; print(len(k.SESSION.current.access_token))'
  );
  expect(Number(token)).toBeGreaterThan(100);
  expect(shown).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}/);
  await page.screenshot({ path: screenshot('notebook-signed-in.png') });
});

test('signed out: the cell asks the lab, the user signs in, the same cell completes', async ({
  page,
  tmpPath
}) => {
  // A notebook the user allowed earlier, then signed out (the grant, asked
  // for together with the sign-in, is ui-tests/tests/access.spec.ts's).
  await signInWithPopup(page);
  await newNotebook(page, tmpPath, 'signed-out.ipynb');
  await runCommand(page, 'carto-auth:sign-out');
  await expect(page.locator('.jp-CartoAuth-statusButton')).toHaveAttribute(
    'data-status',
    'signed-out'
  );
  await setSource(page, 0, API_CELL);
  // The cell blocks until the user signs in, so do not wait for it here.
  const running = page.notebook.runCell(0);
  const toast = page.locator('.Toastify__toast', {
    hasText: 'waiting for you to sign in to CARTO'
  });
  await expect(toast).toBeVisible({ timeout: 30000 });
  const popupOpened = page.waitForEvent('popup');
  await toast.getByRole('button', { name: 'Sign in to CARTO' }).click();
  // The provider may remember the user from the first sign-in: then the
  // popup goes straight back to the lab without its form.
  const popup = await popupOpened;
  const form = await popup
    .waitForSelector('#email', { timeout: 10000 })
    .catch(() => null);
  if (form) {
    const { logInOnSandbox } = await import('./helpers');
    await logInOnSandbox(popup);
  }
  await running;
  const output = ((await page.notebook.getCellTextOutput(0)) ?? []).join('');
  expect(output).toContain('api 200');
  // No password prompt was left behind in the notebook
  await expect(page.locator('.jp-Stdin')).toHaveCount(0);
});

test.describe('kernel restart', () => {
  // The lab's own restart call; galata's kernel tracking would intercept it.
  test.use({ kernels: null, sessions: null });

  test('the next cell has a token again without a click', async ({
    page,
    tmpPath
  }) => {
    await signInWithPopup(page);
    await newNotebook(page, tmpPath, 'restart.ipynb');
    expect(await run(page, 0, API_CELL)).toContain('api 200');
    await page.evaluate(() => {
      // Not awaited: the command waits for the confirmation dialog.
      void (window as any).jupyterapp.commands.execute('kernelmenu:restart');
    });
    await page
      .locator('.jp-Dialog')
      .getByRole('button', { name: 'Confirm Kernel Restart' })
      .click();
    await kernelIdle(page);
    // A new process: nothing of the first run is left, yet the session is there
    expect(await run(page, 1, 'print("fresh", "auth" not in dir())')).toContain(
      'fresh True'
    );
    expect(await run(page, 0, API_CELL)).toContain('api 200');
  });
});

test('20-second tokens: a cell calling the API for 60 s never gets a 401', async ({
  page,
  tmpPath
}) => {
  test.setTimeout(180000);
  await setLifetimes({ access_token_ttl: 20 });
  await signInWithPopup(page);
  await newNotebook(page, tmpPath, 'loop.ipynb');
  const loop = `${API_CELL}
import time, collections
seen = collections.Counter()
end = time.monotonic() + 60
while time.monotonic() < end:
    seen[api_status()] += 1
    time.sleep(0.5)
print("statuses", dict(seen))`;
  const output = await run(page, 0, loop);
  expect(output).toMatch(/statuses \{200: \d+\}/);
});

test('sign out: the next get_access_token() raises a clear error', async ({
  page,
  tmpPath
}) => {
  await signInWithPopup(page);
  await newNotebook(page, tmpPath, 'signout.ipynb');
  expect(await run(page, 0, API_CELL)).toContain('api 200');
  await page.evaluate(async () => {
    await (window as any).jupyterapp.commands.execute('carto-auth:sign-out');
  });
  await expect(page.locator('.jp-CartoAuth-statusButton')).toHaveAttribute(
    'data-status',
    'signed-out'
  );
  const output = await run(
    page,
    1,
    'try:\n    auth.get_access_token()\nexcept Exception as e:\n    print(type(e).__name__, e)'
  );
  expect(output).toContain('CredentialsError');
  expect(output).toContain('signed out of CARTO');
});

test.describe('ten notebooks', () => {
  test('all get the refreshed token', async ({ page, tmpPath }) => {
    test.setTimeout(300000);
    const N = 10;
    await setLifetimes({ access_token_ttl: 20 });
    await signInWithPopup(page);
    const first: string[] = [];
    for (let i = 0; i < N; i++) {
      const name = `nb${i}.ipynb`;
      await newNotebook(page, tmpPath, name);
      first.push(
        await run(
          page,
          0,
          'import jupyterlab_carto_auth.kernel as k\nfrom jupyterlab_carto_auth import CartoAuth\nauth = CartoAuth.from_oauth()\nt0 = k.SESSION.current.access_token\nprint("ok", k.SESSION.current.reason)'
        )
      );
    }
    expect(first.every(out => out.includes('ok'))).toBe(true);
    // After a refresh cycle, every kernel holds a pushed, newer token
    await page.waitForTimeout(25000);
    for (let i = 0; i < N; i++) {
      await page.notebook.activate(`nb${i}.ipynb`);
      const out = await run(
        page,
        1,
        'cur = k.SESSION.current\nprint("fresh", cur.access_token != t0, cur.reason)'
      );
      expect(out).toContain('fresh True refresh');
    }
  });
});

test('a kernel without the package is left alone and the status item says what to do', async ({
  page,
  tmpPath
}) => {
  const cell = {
    cell_type: 'code',
    source: '',
    metadata: {},
    outputs: [],
    execution_count: null
  };
  const notebook = {
    cells: [cell, { ...cell }],
    metadata: {
      kernelspec: {
        name: 'python3-without-carto',
        display_name: 'Python 3 (without jupyterlab-carto-auth)',
        language: 'python'
      }
    },
    nbformat: 4,
    nbformat_minor: 5
  };
  const path = `${tmpPath}/bare.ipynb`;
  await page.contents.uploadContent(JSON.stringify(notebook), 'text', path);
  await page.evaluate(
    path =>
      (window as any).jupyterapp.commands.execute('docmanager:open', { path }),
    path
  );
  const status = page.locator('.jp-CartoAuth-statusButton');
  await expect(status).toContainText('1 kernel without CARTO', {
    timeout: 60000
  });
  await expect(status).toHaveAttribute(
    'title',
    /install jupyterlab-carto-auth in its environment/
  );
  // Left alone: the kernel still runs cells, and attach is not retried each time
  await kernelIdle(page);
  expect(await run(page, 0, 'print(6 * 7)')).toContain('42');
  expect(await run(page, 1, 'print("hist", len(In))')).toContain('hist 3');
});
