// What reaches the lab from outside its control cannot move the session:
// settings changed after sign-in (kernel code can write them through the
// REST API) do not move refresh to another host.
import { expect, test } from '@jupyterlab/galata';
import { Request } from '@playwright/test';
import * as http from 'http';
import { AddressInfo } from 'net';

import {
  captureTokens,
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
      expect(tokens.access.length).toBeGreaterThan(1);
    } finally {
      await other.close();
    }
  });
});
