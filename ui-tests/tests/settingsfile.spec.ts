// A CARTO settings file edited by hand with a malformed URL (issue 9,
// "Settings"): the Jupyter server ignores the whole file and only logs why;
// the lab says which setting is wrong and where to fix it, and works with
// the defaults meanwhile. Real JupyterLab, real server, the file on disk.
import { expect, test } from '@jupyterlab/galata';
import * as fs from 'fs';
import * as path from 'path';

import { sandboxInfo } from './helpers';

test('a hand-edited settings file with a malformed URL is said, naming the setting', async ({
  page
}) => {
  // (launch.py gives the lab JUPYTER_CONFIG_DIR=<lab_dir>/config)
  const file = path.join(
    sandboxInfo().lab_dir,
    'config',
    'lab',
    'user-settings',
    'jupyterlab-carto-auth',
    'session.jupyterlab-settings'
  );
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const before = fs.existsSync(file) ? fs.readFileSync(file) : null;
  try {
    // Given a settings file with a token URL that is not https
    fs.writeFileSync(
      file,
      '{\n  // edited by hand\n  "tokenUrl": "http://auth.example.com/oauth/token"\n}\n'
    );

    // When the lab loads
    await page.reload();
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });

    // Then it says which setting is wrong and where to fix it
    const message = page.getByText(
      /Your CARTO sign-in settings are ignored: "Token URL" \(tokenUrl\) is not an https address/
    );
    await expect(message.first()).toBeVisible();
    // (the toast shows the start; the notification center, the whole text:
    // where to fix it, src/__tests__/settingproblems.spec.ts)
    await expect(message.first()).toContainText('Until you fix it in');
    // And CARTO sign-in is there, with the defaults
    await expect(page.locator('.jp-CartoAuth-statusButton')).toHaveAttribute(
      'data-status',
      'signed-out'
    );
  } finally {
    if (before === null) {
      fs.rmSync(file, { force: true });
    } else {
      fs.writeFileSync(file, before);
    }
  }
});
