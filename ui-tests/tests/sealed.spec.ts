// The sealed session's clear fields (API base URL, user, expiry) are bound to
// its ciphertext (AES-GCM additional data): whoever can write the workspace
// file, which is world-readable and editable on the server, cannot point the
// lab and its kernels at another API host by editing it.
import { expect, test } from '@jupyterlab/galata';
import * as fs from 'fs';
import * as path from 'path';

import { runCommand, sandboxInfo, signInWithPopup } from './helpers';

// The real server-side workspace, so the test can edit what lands on disk.
test.use({ mockState: false });

const ATTACKER = 'https://api.attacker.example';
const KEY = 'jupyterlab-carto-auth:session';

/** The CARTO sessions the workspace files on disk hold, by file. */
function savedSessions(dir: string): { file: string; sessionId: string }[] {
  return fs.readdirSync(dir).flatMap(name => {
    const file = path.join(dir, name);
    const session = JSON.parse(fs.readFileSync(file, 'utf-8')).data?.[KEY];
    return session?.sessionId ? [{ file, sessionId: session.sessionId }] : [];
  });
}

test('an edited workspace session is refused, not restored', async ({
  page
}) => {
  // Given a signed-in lab whose session is saved in the workspace file
  const info = sandboxInfo();
  // (earlier tests of this lab left workspace files with sessions of their own)
  const before = new Set(
    savedSessions(info.workspaces_dir).map(s => s.sessionId)
  );
  await signInWithPopup(page);
  let ours: string[] = [];
  await expect
    .poll(
      () => {
        ours = savedSessions(info.workspaces_dir)
          .filter(s => !before.has(s.sessionId))
          .map(s => s.file);
        return ours.length;
      },
      { timeout: 15000 }
    )
    .toBeGreaterThan(0);
  // (the lab must not save over the edit below before the reload)
  await page.route('**/api/workspaces/**', route =>
    route.request().method() === 'GET' ? route.continue() : route.abort()
  );

  // When someone edits the file: another API host, and a later expiry so
  // that the edited copy wins over this browser's own on reload
  let edited = 0;
  for (const file of ours) {
    const workspace = JSON.parse(fs.readFileSync(file, 'utf-8'));
    const session = workspace.data?.[KEY];
    if (session) {
      session.apiBaseUrl = ATTACKER;
      session.expiresAt += 3600_000;
      fs.writeFileSync(file, JSON.stringify(workspace));
      edited++;
    }
  }
  expect(edited).toBeGreaterThan(0);
  const warnings: string[] = [];
  page.on('console', message => {
    if (message.type() === 'warning') {
      warnings.push(message.text());
    }
  });
  await page.reload();
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });

  // Then the edited session does not open: no session, and a warning that
  // says why without any secret
  const status = page.locator('.jp-CartoAuth-statusButton');
  await expect(status).toHaveAttribute('data-status', 'signed-out');
  await expect
    .poll(() => warnings.find(text => /fields were edited/.test(text)) ?? '')
    .toContain('refused a stored CARTO session');
  for (const text of warnings) {
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}/);
  }
  // And the attacker's host is shown nowhere
  await runCommand(page, 'carto-auth:show-account');
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog).not.toContainText(ATTACKER);
});
