// What reaches the lab from outside its control cannot move the session:
// settings changed after sign-in (kernel code can write them through the
// REST API) do not move refresh to another host, and the provider's pages
// in the sign-in popup get no handle on the lab (no opener); with
// rememberSession off, nothing outlives the tabs in IndexedDB.
import { expect, galata, test } from '@jupyterlab/galata';
import { BrowserContext, Page, Request } from '@playwright/test';
import * as http from 'http';
import { AddressInfo } from 'net';

import {
  captureTokens,
  logInOnSandbox,
  sandboxInfo,
  setLifetimes,
  signInWithPopup
} from './helpers';

const SESSION = 'jupyterlab-carto-auth:session';
const REGISTRY = '@jupyterlab/apputils-extension:settings';

/** Whether a request is a real refresh (not the sign-in's route probe). */
function isRefresh(request: Request): boolean {
  const body = request.postData() ?? '';
  return (
    request.method() === 'POST' &&
    body.includes('grant_type=refresh_token') &&
    !body.includes('refresh_token=cors-probe')
  );
}

/** A loopback HTTP server that records every request it receives. */
async function recordingServer(): Promise<{
  url: string;
  received: string[];
  close: () => Promise<void>;
}> {
  const received: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', chunk => (body += chunk));
    req.on('end', () => {
      received.push(`${req.method} ${req.url} ${body}`);
      res.writeHead(400, {
        'content-type': 'application/json',
        'access-control-allow-origin': '*'
      });
      res.end('{"error":"invalid_grant"}');
    });
  });
  await new Promise<void>(resolve =>
    server.listen(0, '127.0.0.1', () => resolve())
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/oauth/token`,
    received,
    close: () => new Promise(resolve => server.close(() => resolve()))
  };
}

test.describe('settings changed after sign-in', () => {
  test.afterEach(async () => {
    await setLifetimes({ access_token_ttl: 3600 });
  });

  test('the next refresh still goes to the token URL of the sign-in', async ({
    page
  }) => {
    test.setTimeout(120000);
    const info = sandboxInfo();
    const other = await recordingServer();
    try {
      // Given a signed-in lab whose access tokens last 20 seconds
      await setLifetimes({ access_token_ttl: 20 });
      const tokens = captureTokens(page);
      await signInWithPopup(page);
      const refreshes: string[] = [];
      page.context().on('request', request => {
        if (isRefresh(request)) {
          refreshes.push(request.url());
        }
      });

      // When the token URL setting is changed to another host
      const changed = await page.evaluate(
        async ({ registry, id, url }) => {
          const settings: any = await (window as any).galata.getPlugin(
            registry
          );
          await settings.set(id, 'tokenUrl', url);
          return (await settings.get(id, 'tokenUrl')).composite;
        },
        { registry: REGISTRY, id: SESSION, url: other.url }
      );
      expect(changed).toBe(other.url);

      // Then the next refresh goes to the sign-in's token URL...
      await expect
        .poll(() => refreshes.length, { timeout: 40000 })
        .toBeGreaterThan(0);
      // ...the other host never received anything (no refresh token, no probe)
      expect(other.received.length).toBe(0);
      for (const url of refreshes) {
        expect(
          url.startsWith(info.token_url) ||
            url.includes(encodeURIComponent(info.token_url))
        ).toBe(true);
      }
      // ...and it renewed the session
      const status = page.locator('.jp-CartoAuth-statusButton');
      await expect(status).toHaveAttribute('title', /Signed in to CARTO/);
      // (the refresh request was seen above; its response may still be on the way)
      await expect
        .poll(() => tokens.access.length, { timeout: 20000 })
        .toBeGreaterThan(1);
    } finally {
      await other.close();
    }
  });
});

test.describe('the sign-in popup', () => {
  test('has no opener once it shows the provider, and sign-in completes', async ({
    page
  }) => {
    const info = sandboxInfo();
    const status = page.locator('.jp-CartoAuth-statusButton');
    const popupOpened = page.waitForEvent('popup');
    await status.click();
    const popup = await popupOpened;
    await popup.waitForSelector('#email');
    expect(new URL(popup.url()).origin).toBe(new URL(info.issuer).origin);

    // The provider's page has no handle on the lab
    expect(await popup.evaluate(() => window.opener === null)).toBe(true);

    // And the sign-in still completes
    await logInOnSandbox(popup);
    await expect(status).toHaveAttribute('data-status', 'signed-in');
    await expect(status).toContainText(info.user.email);
  });
});

/** The records of the extension's IndexedDB databases in this origin (database/store/key). */
async function storedRecords(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const done = <T>(req: IDBRequest<T>) =>
      new Promise<T>((resolve, reject) => {
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    const records: string[] = [];
    for (const { name } of await indexedDB.databases()) {
      if (!name || !/carto/i.test(name)) {
        continue;
      }
      const db = await done(indexedDB.open(name));
      for (const store of Array.from(db.objectStoreNames)) {
        const keys = await done(
          db.transaction(store, 'readonly').objectStore(store).getAllKeys()
        );
        records.push(...keys.map(key => `${name}/${store}/${String(key)}`));
      }
      db.close();
    }
    return records;
  });
}

const REMEMBER_OFF = {
  ...galata.DEFAULT_SETTINGS,
  [SESSION]: { rememberSession: false }
};

/** A new tab of the same browser, with the same (mocked) settings as the first. */
async function newTab(context: BrowserContext, url: string): Promise<Page> {
  const tab = await context.newPage();
  await galata.Mock.mockSettings(tab, [], REMEMBER_OFF);
  await tab.goto(url);
  await tab.waitForSelector('#jupyterlab-splash', { state: 'detached' });
  return tab;
}

test.describe('rememberSession off', () => {
  test.use({ mockSettings: REMEMBER_OFF });

  test('keeps nothing in IndexedDB; the open tabs still share the session', async ({
    page,
    context
  }) => {
    const info = sandboxInfo();
    // Given a lab signed in with rememberSession off
    await signInWithPopup(page);

    // Then a second tab opened now gets the session from the first
    const second = await newTab(context, page.url());
    const secondStatus = second.locator('.jp-CartoAuth-statusButton');
    await expect(secondStatus).toHaveAttribute('data-status', 'signed-in');
    await expect(secondStatus).toContainText(info.user.email);

    // And nothing was written to IndexedDB: no sealed session, no key
    expect(await storedRecords(page)).toEqual([]);

    // When both tabs close and a new one opens in the same browser
    const url = page.url();
    await second.close();
    await page.close();
    const next = await newTab(context, url);

    // Then it is signed out, and IndexedDB still holds nothing
    const status = next.locator('.jp-CartoAuth-statusButton');
    await expect(status).toHaveAttribute('data-status', 'signed-out');
    expect(await storedRecords(next)).toEqual([]);
    await next.close();
  });
});
