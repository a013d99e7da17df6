// Notebook 7 has no status bar: the CARTO menu entries and commands still
// sign in and show the account. This test starts its own sandbox and
// Notebook 7 server on free loopback ports and stops them, even on failure.
import { expect, test } from '@playwright/test';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { freePort, logInOnSandbox, testPython, waitForPort } from './helpers';

const root = path.resolve(__dirname, '..', '..');
const python = testPython;

test('Notebook 7: the Settings menu signs in to CARTO and shows the account', async ({
  browser
}) => {
  test.setTimeout(120000);
  const port = freePort();
  const infoFile = path.join(os.tmpdir(), `carto-auth-nb7-${port}.json`);
  const server = spawn(
    python,
    [
      'sandbox/launch.py',
      '--test',
      '--app',
      'notebook',
      '--lab-port',
      String(port),
      '--info-file',
      infoFile
    ],
    { cwd: root, stdio: 'ignore' }
  );
  try {
    await waitForPort(port, server, 60000, { name: 'Notebook 7' });
    const info = JSON.parse(fs.readFileSync(infoFile, 'utf-8'));
    const page = await browser.newPage();
    await page.goto(`http://localhost:${port}/tree`);

    // When the user picks Settings > CARTO > Sign in to CARTO
    const menu = async (item: string) => {
      await page
        .locator('.lm-MenuBar-itemLabel', { hasText: 'Settings' })
        .click();
      await page.locator('.lm-Menu-itemLabel', { hasText: /^CARTO$/ }).click();
      await page
        .locator('.lm-Menu-itemLabel')
        .getByText(item, { exact: true })
        .click();
    };
    const popupOpened = page.waitForEvent('popup');
    await menu('Sign in to CARTO');
    await logInOnSandbox(await popupOpened);

    // Then the account panel shows the signed-in user
    await expect
      .poll(
        async () => {
          await menu('CARTO Account');
          const text = await page.locator('.jp-Dialog').textContent();
          await page.locator('.jp-Dialog button', { hasText: 'Close' }).click();
          return text ?? '';
        },
        { timeout: 30000 }
      )
      .toContain(info.user.email);
    await page.close();
  } finally {
    server.kill('SIGTERM');
    await new Promise(resolve => {
      const timer = setTimeout(() => {
        server.kill('SIGKILL');
        resolve(null);
      }, 15000);
      server.once('exit', () => {
        clearTimeout(timer);
        resolve(null);
      });
    });
    fs.rmSync(infoFile, { force: true });
  }
});
