// The callback page that Jupyter serves (a user's own SPA client) checks
// nothing: it forwards its address on its server's BroadcastChannel (named
// for the base path, so other servers on the origin hear nothing) to the
// lab's tabs.
// The lab takes only the address of its own attempt's `state`
// (`waitForCallbackPage` in src/signin.ts): a callback of another attempt,
// here the real page opened with another state, is ignored, and the attempt
// still completes with its own callback.
import { expect, galata, test } from '@jupyterlab/galata';

import { logInOnSandbox, sandboxInfo } from './helpers';

const SESSION = 'jupyterlab-carto-auth:session';

test.use({
  mockSettings: {
    ...galata.DEFAULT_SETTINGS,
    [SESSION]: {
      clientId: 'sandbox-spa',
      redirectUri: '{baseUrl}carto-auth/callback'
    }
  }
});

test('a callback of another state is ignored; the attempt completes with its own', async ({
  page,
  context
}) => {
  const status = page.locator('.jp-CartoAuth-statusButton');
  const exchanges: string[] = [];
  context.on('request', request => {
    const body = request.postData() ?? '';
    if (body.includes('grant_type=authorization_code')) {
      exchanges.push(body);
    }
  });

  // Given a sign-in under way: the popup shows the provider's form
  const popupOpened = page.waitForEvent('popup');
  await status.click();
  const popup = await popupOpened;
  await popup.waitForSelector('#email', { timeout: 15000 });
  await expect(status).toHaveAttribute('data-status', 'signing-in');

  // When the callback page is opened with another attempt's state and a
  // code (what a stale tab, or someone else's link, would do), a listener
  // of the test in the lab's page, on this server's channel (the extension's
  // name and the server's base path), sees the page forward it (the lab's own
  // listener, created earlier, gets it first); listeners on the origin-wide
  // name and on another server's hear nothing
  const baseUrl: string = await page.evaluate(
    () => (window as any).jupyterapp.serviceManager.serverSettings.baseUrl
  );
  const channelName = `jupyterlab-carto-auth ${new URL(baseUrl).pathname}`;
  await page.evaluate(() => {
    const heard: string[] = [];
    (window as any).__otherServersHeard = heard;
    for (const name of [
      'jupyterlab-carto-auth',
      'jupyterlab-carto-auth /user/someone-else/'
    ]) {
      new BroadcastChannel(name).onmessage = () => heard.push(name);
    }
  });
  const forwarded = page.evaluate(
    name =>
      new Promise<string>((resolve, reject) => {
        const channel = new BroadcastChannel(name);
        const timer = setTimeout(() => {
          channel.close();
          reject(new Error(`nothing came on the channel "${name}" in 15 s`));
        }, 15000);
        channel.onmessage = event => {
          if (String(event.data?.url).includes('forged-code')) {
            clearTimeout(timer);
            channel.close();
            resolve(event.data.url);
          }
        };
      }),
    channelName
  );
  const other = await context.newPage();
  await other.goto(
    new URL(
      'carto-auth/callback?code=forged-code&state=another-attempt',
      baseUrl
    ).href
  );
  expect(new URL(await forwarded).searchParams.get('state')).toBe(
    'another-attempt'
  );
  // The page removes the code from its address bar
  await expect.poll(() => other.url()).not.toContain('forged-code');
  await other.close();
  // Another server's lab on this origin (another user's, under JupyterHub)
  // heard nothing of it
  expect(
    await page.evaluate(() => (window as any).__otherServersHeard)
  ).toEqual([]);

  // Then the lab ignored it: the attempt goes on in the same popup...
  await expect(status).toHaveAttribute('data-status', 'signing-in');
  expect(popup.isClosed()).toBe(false);
  // ...and completes with its own callback; the forged code was never sent
  await logInOnSandbox(popup);
  await expect(status).toHaveAttribute('data-status', 'signed-in');
  await expect(status).toContainText(sandboxInfo().user.email);
  expect(exchanges.length).toBeGreaterThan(0);
  expect(exchanges.filter(body => body.includes('forged-code'))).toEqual([]);
});
