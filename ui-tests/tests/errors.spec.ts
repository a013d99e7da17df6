// A sign-in that cannot finish ends with its own message within a bounded
// time, and a later attempt succeeds: popup closed, callback port busy,
// identity provider down.
import { expect, test } from '@jupyterlab/galata';
import * as net from 'net';

import { sandboxHook, sandboxInfo, signInWithPopup } from './helpers';

test('closing the popup ends the attempt and offers the paste flow', async ({
  page
}) => {
  const status = page.locator('.jp-CartoAuth-statusButton');
  const popupOpened = page.waitForEvent('popup');
  await status.click();
  const popup = await popupOpened;
  await popup.waitForSelector('#email');

  // When the user closes the sign-in window
  await popup.close();

  // Then the lab says so and offers to paste a code instead
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('window was closed', { timeout: 10000 });
  await expect(
    dialog.locator('button', { hasText: 'Paste access code' })
  ).toBeVisible();
  await dialog.locator('button', { hasText: 'Close' }).click();
  await expect(status).toHaveAttribute('data-status', 'error');

  // And a later attempt succeeds
  await signInWithPopup(page);
});

test('a busy callback port is reported, and nothing keeps listening', async ({
  page
}) => {
  const { callback_port } = sandboxInfo();
  const blocker = net.createServer(socket => socket.destroy());
  await new Promise<void>(resolve =>
    blocker.listen(callback_port, '127.0.0.1', resolve)
  );
  const status = page.locator('.jp-CartoAuth-statusButton');
  try {
    // When the user signs in while another program holds the port
    await status.click();

    // Then the lab names the port and offers the paste flow
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText(`Port ${callback_port}`);
    await expect(dialog).toContainText('in use');
    await dialog.locator('button', { hasText: 'Close' }).click();
  } finally {
    await new Promise(resolve => blocker.close(resolve));
  }

  // And once the port is free, signing in works
  await signInWithPopup(page);
});

test('an identity provider that is down is reported before any popup', async ({
  page
}) => {
  const status = page.locator('.jp-CartoAuth-statusButton');
  await sandboxHook('down');
  try {
    // When the user signs in while the provider answers 503
    await status.click();

    // Then the lab says the service is not reachable
    await expect(status).toHaveAttribute('data-status', 'error');
    await expect(page.locator('.jp-toast-container, .Toastify')).toContainText(
      'not reachable'
    );
  } finally {
    await sandboxHook('up');
  }

  // And when it is back, signing in works
  await signInWithPopup(page);
});
