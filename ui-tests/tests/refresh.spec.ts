// The session renews itself before the access token expires, with no user
// action: with three tabs open on one lab, exactly one refresh reaches the
// provider per cycle over 5 cycles; a failed refresh keeps the old token and
// says so.
import { expect, test } from '@jupyterlab/galata';
import { Request } from '@playwright/test';

import { sandboxHook, setLifetimes, signInWithPopup } from './helpers';

const TTL = 20;

/** Whether a request is a real refresh (not the sign-in's route probe). */
function isRefresh(request: Request): boolean {
  const body = request.postData() ?? '';
  return (
    request.method() === 'POST' &&
    /\/oauth\/token|\/carto-auth\/proxy\/raw/.test(request.url()) &&
    body.includes('grant_type=refresh_token') &&
    !body.includes('refresh_token=cors-probe')
  );
}

test.beforeEach(async () => {
  await setLifetimes({ access_token_ttl: TTL });
});

test.afterEach(async () => {
  await sandboxHook('up');
  await setLifetimes({ access_token_ttl: 3600 });
});

/** The provider's count of refresh-token requests (token endpoint). */
async function providerRefreshes(): Promise<number> {
  return (await sandboxHook('stats')).token_requests.refresh_token;
}

test('three tabs: one refresh reaches the provider per cycle, over 5 cycles', async ({
  page,
  context
}) => {
  test.setTimeout(150000);
  // 12 s tokens: each tab's timer fires 3 s (a quarter) before expiry, every 9 s.
  const ttl = 12;
  const cycle = (ttl * 3) / 4;
  const cycles = 5;
  await setLifetimes({ access_token_ttl: ttl });
  // The browser's own page behind the fixture: what request.frame().page() gives.
  const tabs = [context.pages()[0]];
  const sentBy = [0, 0, 0];
  context.on('request', request => {
    if (isRefresh(request)) {
      const index = tabs.indexOf(request.frame().page());
      sentBy[index] = (sentBy[index] ?? 0) + 1;
    }
  });

  // Given a signed-in lab open in three tabs of one browser
  await signInWithPopup(page);
  for (let i = 0; i < 2; i++) {
    const tab = await context.newPage();
    tabs.push(tab);
    await tab.goto(page.url());
    const status = tab.locator('.jp-CartoAuth-statusButton');
    await expect(status).toHaveAttribute('data-status', 'signed-in');
  }
  const refusedBefore = (await sandboxHook('stats')).token_errors.refresh_token;

  // When the token expires again and again with no user action, the provider's
  // counter polled every 250 ms: cycles + 1 refreshes make `cycles` whole cycles
  let last = await providerRefreshes();
  const seen: { t: number; n: number }[] = [];
  await expect
    .poll(
      async () => {
        const now = await providerRefreshes();
        if (now > last) {
          seen.push({ t: Date.now(), n: now - last });
          last = now;
        }
        return seen.length;
      },
      { timeout: (cycles + 3) * cycle * 1000, intervals: [250] }
    )
    .toBeGreaterThanOrEqual(cycles + 1);

  // Then exactly one refresh reached the provider per cycle: one at a time, a
  // cycle apart (two in one cycle, or a skipped one, would break a gap)
  const gaps = seen.slice(1).map((r, i) => (r.t - seen[i].t) / 1000);
  console.log(
    `three tabs: ${seen.length} refreshes at the provider, gaps ${gaps.map(g => g.toFixed(1)).join(', ')} s ` +
      `(cycle ${cycle} s), sent by tab ${sentBy.join('/')}`
  );
  expect(seen.map(r => r.n)).toEqual(seen.map(() => 1));
  for (const gap of gaps) {
    expect(gap).toBeGreaterThan(cycle / 2);
    expect(gap).toBeLessThan(cycle * 1.5);
  }
  // And none was refused (a tab reusing a spent refresh token would be)
  expect((await sandboxHook('stats')).token_errors.refresh_token).toBe(
    refusedBefore
  );
  // And every tab is still signed in with a fresh token
  for (const tab of tabs) {
    const status = tab.locator('.jp-CartoAuth-statusButton');
    await expect(status).toHaveAttribute('data-status', 'signed-in');
    await expect(status).toContainText(/\d+ s/);
  }
  for (const tab of tabs.slice(1)) {
    await tab.close();
  }
});

test('a failed refresh keeps the old token and says so, then recovers', async ({
  page
}) => {
  test.setTimeout(120000);
  const status = page.locator('.jp-CartoAuth-statusButton');
  await signInWithPopup(page);

  // When the provider goes down before the refresh is due
  await sandboxHook('down');

  // Then the refresh fails, the lab stays signed in and says what happened
  await expect(status).toHaveAttribute(
    'title',
    /Could not renew the CARTO session/,
    {
      timeout: TTL * 1000
    }
  );
  await expect(status).toHaveAttribute('data-status', 'signed-in');

  // When the provider is back, a retry renews the session
  await sandboxHook('up');
  await expect(status).toHaveAttribute('title', /Signed in to CARTO/, {
    timeout: TTL * 1000
  });
  await expect(status).toHaveAttribute('data-status', 'signed-in');
});
