// Several CARTO accounts at once: two sandbox accounts in two organizations
// signed in to one lab, two notebooks bound to different profiles, each
// calling the CARTO API stand-in as its own account across refreshes and a
// reload; switching a notebook's profile changes its kernel's identity at
// once; signing out one profile leaves the other's notebooks working.
// Real JupyterLab, real ipykernel (today's kernel package: no features), real
// sandbox provider and API.
import AxeBuilder from '@axe-core/playwright';
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Page } from '@playwright/test';

import {
  accountPanel,
  allowAccess,
  Info,
  kernelPrints,
  newNotebook,
  runCommand,
  sandboxInfo,
  screenshot,
  setLifetimes,
  signInTwo
} from './helpers';

const TTL = 20;
const ANA_NAME = 'analyst@example.com · acme';
const BOB_NAME = 'colleague@example.com · globex';

/** Who the CARTO API stand-in says the kernel's token belongs to. */
const WHO = `import json, urllib.request
from jupyterlab_carto_auth import CartoAuth
import jupyterlab_carto_auth.kernel as _k
_auth = CartoAuth.from_oauth()
_req = urllib.request.Request(
    _auth.get_api_base_url() + "/accounts",
    headers={"Authorization": "Bearer " + _auth.get_access_token()},
)
_body = json.load(urllib.request.urlopen(_req, timeout=10))
print("who", json.dumps([_body["email"], _body["org"], _k.SESSION.current.access_token[-12:]]))`;

/** What the kernel holds now, without asking the lab. */
const HOLDS = `import json, jupyterlab_carto_auth.kernel as _k
_c = _k.SESSION.current
print("holds", json.dumps([_c.email, _c.access_token[-12:]] if _c and _c.signed_in else None))`;

/** The serious and critical violations axe finds inside `selector`. */
async function violations(page: Page, selector: string): Promise<string[]> {
  const results = await new AxeBuilder({ page }).include(selector).analyze();
  return results.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .flatMap(v => v.nodes.map(node => `${v.id} ${node.target.join(' ')}`));
}

/** Make the notebook `name` the current widget. */
async function activate(page: Page, name: string): Promise<void> {
  await page.evaluate(async name => {
    const app = (window as any).jupyterapp;
    for (const widget of app.shell.widgets('main')) {
      if (widget.context?.path.split('/').pop() === name) {
        app.shell.activateById(widget.id);
        await widget.sessionContext.ready;
        return;
      }
    }
    throw new Error(`${name} is not open`);
  }, name);
}

function parsed(output: string, tag: string): any {
  const match = new RegExp(`${tag} (.*)`).exec(output);
  if (!match) {
    throw new Error(`no ${tag} in ${output}`);
  }
  return JSON.parse(match[1]);
}

async function who(page: IJupyterLabPageFixture, notebook: string) {
  await activate(page, notebook);
  return parsed(await kernelPrints(page, WHO), 'who') as [
    string,
    string,
    string
  ];
}

async function holds(page: IJupyterLabPageFixture, notebook: string) {
  await activate(page, notebook);
  return parsed(await kernelPrints(page, HOLDS), 'holds') as
    [string, string] | null;
}

/** Bind the current notebook to the profile named `name` (the palette command). */
async function useProfile(page: Page, name: string): Promise<void> {
  await page.evaluate(async profile => {
    await (window as any).jupyterapp.commands.execute(
      'carto-auth:use-profile',
      { profile }
    );
  }, name);
}

/** Save every open notebook (the binding lives in its metadata). */
async function saveAll(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const app = (window as any).jupyterapp;
    for (const widget of app.shell.widgets('main')) {
      await widget.context?.save();
    }
  });
}

test.afterEach(async () => {
  await setLifetimes({ access_token_ttl: 3600 });
});

test('two accounts in two organizations: each notebook is its own account, across refreshes, a reload, a switch and a sign-out', async ({
  page,
  tmpPath
}) => {
  test.setTimeout(180000);
  const info = sandboxInfo() as Info;
  await setLifetimes({ access_token_ttl: TTL });
  const status = page.locator('.jp-CartoAuth-statusButton');

  // Given Ana signed in through organization acme, and Bob, another
  // account, added from the account panel through globex
  await signInTwo(page, info);
  const panel = accountPanel(page);

  // Then the account panel lists both profiles, Ana the default
  await runCommand(page, 'carto-auth:show-account');
  const profiles = panel.locator('.jp-CartoAuth-profile');
  await expect(profiles).toHaveCount(2, { timeout: 30000 });
  await expect(profiles.nth(0)).toHaveAttribute('data-profile', ANA_NAME);
  await expect(profiles.nth(0)).toContainText('(default)');
  await expect(profiles.nth(1)).toHaveAttribute('data-profile', BOB_NAME);
  await expect(profiles.nth(1)).toContainText('globex');
  await expect(page.locator('.jp-Dialog-header')).toHaveText('CARTO accounts');
  await expect(
    page.locator('.jp-Dialog').getByRole('button', { name: 'Sign out of all' })
  ).toBeVisible();
  await panel.screenshot({ path: screenshot('account-two-profiles.png') });
  expect(await violations(page, '.jp-Dialog-content')).toEqual([]);
  // Renaming happens in place, with a labelled field
  await panel.getByRole('button', { name: `Rename ${BOB_NAME}` }).click();
  const field = panel.getByRole('textbox', { name: `New name of ${BOB_NAME}` });
  await field.fill(ANA_NAME);
  await field.press('Enter');
  await expect(panel.getByRole('alert')).toContainText(
    'Another profile has that name'
  );
  expect(await violations(page, '.jp-Dialog-content')).toEqual([]);
  await field.press('Escape');
  await expect(profiles.nth(1)).toHaveAttribute('data-profile', BOB_NAME);
  await page
    .locator('.jp-Dialog')
    .getByRole('button', { name: 'Close', exact: true })
    .click();
  // The status bar still shows the default profile, as before profiles
  await expect(status).toContainText(info.user.email);

  // When notebook ana.ipynb (no binding: the default) and bob.ipynb (bound
  // to Bob, allowed for him) run code that calls the API
  const anaPath = await newNotebook(page, tmpPath, 'ana.ipynb');
  const bobPath = await newNotebook(page, tmpPath, 'bob.ipynb');
  await useProfile(page, BOB_NAME);
  await allowAccess(page, bobPath);
  const item = page.locator('.jp-CartoAuth-notebookProfile button');
  await expect(item).toHaveAttribute('data-profile', BOB_NAME);
  expect(await violations(page, '.jp-CartoAuth-notebookProfile')).toEqual([]);

  // Then each calls it as its own account
  const ana1 = await who(page, 'ana.ipynb');
  const bob1 = await who(page, 'bob.ipynb');
  expect(ana1.slice(0, 2)).toEqual([info.user.email, 'acme']);
  expect(bob1.slice(0, 2)).toEqual([info.second_user.email, 'globex']);
  await expect(item).toHaveAttribute('data-profile', BOB_NAME);

  // And after both sessions refreshed (20-second tokens), still
  await expect
    .poll(async () => (await holds(page, 'ana.ipynb'))?.[1], {
      timeout: TTL * 2000
    })
    .not.toBe(ana1[2]);
  await expect
    .poll(async () => (await holds(page, 'bob.ipynb'))?.[1], {
      timeout: TTL * 2000
    })
    .not.toBe(bob1[2]);
  expect((await who(page, 'ana.ipynb')).slice(0, 2)).toEqual([
    info.user.email,
    'acme'
  ]);
  expect((await who(page, 'bob.ipynb')).slice(0, 2)).toEqual([
    info.second_user.email,
    'globex'
  ]);

  // The binding is in the saved notebook, by name and organization only
  await saveAll(page);
  const saved = await page.evaluate(
    async path =>
      (await (window as any).jupyterapp.serviceManager.contents.get(path))
        .content,
    bobPath
  );
  expect(saved.metadata.carto_auth).toEqual({
    profile: BOB_NAME,
    org: 'globex'
  });
  expect(JSON.stringify(saved)).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);

  // When the lab reloads, both profiles and both bindings come back
  await page.reload({ waitForIsReady: false });
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
  await expect(status).toHaveAttribute('data-status', 'signed-in');
  await activate(page, 'bob.ipynb');
  await expect(item).toHaveAttribute('data-profile', BOB_NAME);
  expect((await who(page, 'ana.ipynb')).slice(0, 2)).toEqual([
    info.user.email,
    'acme'
  ]);
  expect((await who(page, 'bob.ipynb')).slice(0, 2)).toEqual([
    info.second_user.email,
    'globex'
  ]);

  // When ana.ipynb is switched to Bob (from the status bar item), its kernel
  // holds Bob's token at once, once the user allows the pair
  await activate(page, 'ana.ipynb');
  await expect(item).toHaveAttribute('data-profile', ANA_NAME);
  await item.click();
  const chooser = page.locator('.jp-Dialog-content', {
    hasText: 'CARTO account of'
  });
  await chooser.locator('select').selectOption(BOB_NAME);
  await chooser.getByRole('button', { name: 'Use' }).click();
  await allowAccess(page, anaPath);
  await expect
    .poll(async () => (await holds(page, 'ana.ipynb'))?.[0], {
      timeout: 10000
    })
    .toBe(info.second_user.email);
  // And back to Ana: allowed already, so at once
  await useProfile(page, ANA_NAME);
  await expect
    .poll(async () => (await holds(page, 'ana.ipynb'))?.[0], {
      timeout: 10000
    })
    .toBe(info.user.email);

  // When Bob's profile signs out (account panel)
  await runCommand(page, 'carto-auth:show-account');
  await panel.getByRole('button', { name: `Sign out of ${BOB_NAME}` }).click();
  await expect(panel.locator('.jp-CartoAuth-profile')).toHaveCount(0);
  await page
    .locator('.jp-Dialog')
    .getByRole('button', { name: 'Close', exact: true })
    .click();

  // Then Ana's notebook keeps working as Ana
  expect((await who(page, 'ana.ipynb')).slice(0, 2)).toEqual([
    info.user.email,
    'acme'
  ]);
  // And bob.ipynb says it is not signed in to Bob's account any more
  await activate(page, 'bob.ipynb');
  await expect(item).toHaveAttribute('data-matched', 'false');
  await expect(item).toContainText(`not signed in to ${BOB_NAME}`);
});

test('two profiles, two tabs: each profile refreshes on its own, once per cycle across the tabs', async ({
  page,
  context
}) => {
  test.setTimeout(150000);
  const info = sandboxInfo() as Info;
  await setLifetimes({ access_token_ttl: TTL });
  // Which account each real refresh (not the route probe) was for, and when
  const refreshes: { who: string; at: number }[] = [];
  context.on('response', async response => {
    const body = response.request().postData() ?? '';
    if (
      response.request().method() !== 'POST' ||
      !/\/oauth\/token|\/carto-auth\/proxy\/raw/.test(response.url()) ||
      !body.includes('grant_type=refresh_token') ||
      body.includes('refresh_token=cors-probe') ||
      !response.ok()
    ) {
      return;
    }
    const at = Date.now();
    const token = (await response.json().catch(() => ({}))).access_token;
    const claims = JSON.parse(
      Buffer.from(String(token).split('.')[1] ?? '', 'base64url').toString() ||
        '{}'
    );
    refreshes.push({ who: String(claims.org_id ?? '?'), at });
  });

  // Given two profiles and a second tab of the lab
  await signInTwo(page, info);
  const second = await context.newPage();
  await second.goto(page.url());
  await expect(second.locator('.jp-CartoAuth-statusButton')).toHaveAttribute(
    'data-status',
    'signed-in',
    { timeout: 30000 }
  );
  await expect
    .poll(() => second.evaluate(() => !!(window as any).jupyterapp?.commands))
    .toBe(true);
  // The second tab has both profiles too
  await runCommand(second, 'carto-auth:show-account');
  await expect(
    accountPanel(second).locator('.jp-CartoAuth-profile')
  ).toHaveCount(2);
  await second
    .locator('.jp-Dialog')
    .getByRole('button', { name: 'Close', exact: true })
    .click();

  // When 40 seconds pass without any user action
  await page.waitForTimeout(40000);

  // Then each profile was refreshed, at least twice, once per cycle
  for (const org of ['acme', 'globex']) {
    const times = refreshes.filter(r => r.who === org).map(r => r.at);
    expect(times.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < times.length; i++) {
      expect(times[i] - times[i - 1]).toBeGreaterThan((TTL / 2) * 1000);
    }
  }
  expect(refreshes.every(r => ['acme', 'globex'].includes(r.who))).toBe(true);
  // And both tabs still list both profiles signed in
  for (const tab of [page, second]) {
    await runCommand(tab, 'carto-auth:show-account');
    const items = accountPanel(tab).locator('.jp-CartoAuth-profile');
    await expect(items).toHaveCount(2);
    await expect(items.nth(1)).toContainText(/\d+ s\)/);
    await tab
      .locator('.jp-Dialog')
      .getByRole('button', { name: 'Close', exact: true })
      .click();
  }
  await second.close();
});
