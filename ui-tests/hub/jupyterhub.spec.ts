// Tokens never cross users or servers on a real JupyterHub
// (ui-tests/hub/launch_hub.py, configured as docs/jupyterhub.md says: an
// organization's own SPA client, its callback under each server's base URL):
// every server shares one origin, so without a per-server scope bob's lab,
// opened in alice's browser, would adopt her session from her other tab and
// push her token into bob's kernel, and carol's named server would adopt the
// session of her default server. Alice (a hub admin) and bob each sign in to
// their own sandbox account; alice then opens bob's server. Carol signs in on
// her default server, then on her named server.
import { Browser, BrowserContext, expect, Page, test } from '@playwright/test';
import { createHash } from 'crypto';
import * as fs from 'fs';

interface IAccount {
  email: string;
  password: string;
}

interface IHubInfo {
  hub_url: string;
  hub_passwords: Record<string, string>;
  hub_users: Record<string, IAccount>;
  hub_named_server: { user: string; name: string };
}

function hubInfo(): IHubInfo {
  const file = process.env.CARTO_HUB_INFO;
  if (!file) {
    throw new Error(
      'CARTO_HUB_INFO is not set: run jlpm ui-test:hub (playwright.hub.config.js)'
    );
  }
  return JSON.parse(fs.readFileSync(file, 'utf-8'));
}

const digest = (token: string) =>
  createHash('sha256').update(token).digest('hex').slice(0, 16);

/** The digests of every access token the provider gave this browser. */
function captureTokens(context: BrowserContext): Set<string> {
  const tokens = new Set<string>();
  context.on('response', async response => {
    if (!/\/oauth\/token|proxy\/raw/.test(response.url()) || !response.ok()) {
      return;
    }
    try {
      const body = await response.json();
      if (body.access_token) {
        tokens.add(digest(body.access_token));
      }
    } catch {
      // not a token answer
    }
  });
  return tokens;
}

/** One person's browser: logged in to the hub, their own server started. */
async function logInToHub(browser: Browser, user: string) {
  const info = hubInfo();
  const context = await browser.newContext();
  const tokens = captureTokens(context);
  const page = await context.newPage();
  await page.goto(`${info.hub_url}/hub/login`);
  await page.fill('#username_input', user);
  await page.fill('#password_input', info.hub_passwords[user]);
  await page.click('#login_submit');
  await waitForLab(page, `/user/${user}/lab`);
  return { context, page, tokens };
}

/** Wait for JupyterLab and this extension at `path`, confirming hub OAuth if asked. */
async function waitForLab(page: Page, path: string) {
  // JupyterHub asks before it lets one user into another user's server.
  const authorize = page.locator(
    'form[method="post"] button[type="submit"]:has-text("Authorize")'
  );
  const status = page.locator('.jp-CartoAuth-statusButton');
  try {
    await expect
      .poll(
        async () => {
          if (await authorize.isVisible().catch(() => false)) {
            await authorize.click();
          }
          return (await status.count()) > 0 && page.url().includes(path);
        },
        { timeout: 90000, intervals: [500] }
      )
      .toBe(true);
  } catch (error) {
    const text = await page.textContent('body').catch(() => '');
    throw new Error(
      `No lab at ${path}: the page is ${page.url()}: ${text?.replace(/\s+/g, ' ').slice(0, 400)}`
    );
  }
  await page.waitForFunction(() => (window as any).jupyterapp?.started, null, {
    timeout: 30000
  });
}

/** Sign in to CARTO through the popup with this person's sandbox account. */
async function signInToCarto(page: Page, account: IAccount) {
  const status = page.locator('.jp-CartoAuth-statusButton');
  await expect(status).toHaveAttribute('data-status', 'signed-out');
  const popupOpened = page.waitForEvent('popup');
  await status.click();
  const popup = await popupOpened;
  await popup.waitForSelector('#email', { timeout: 15000 });
  await popup.fill('#email', account.email);
  await popup.fill('#password', account.password);
  await popup.click('button[type="submit"]:has-text("Sign in")');
  await expect(status).toHaveAttribute('data-status', 'signed-in', {
    timeout: 30000
  });
  await expect(status).toContainText(account.email);
}

/**
 * Sign in to CARTO again in this browser: the provider still has the login of
 * an earlier sign-in (single sign-on), so the popup comes back by itself,
 * through `callback` (the callback page of this lab's server). Still a
 * sign-in of its own: its own code, its own tokens.
 */
async function signInToCartoAgain(page: Page, email: string, callback: string) {
  const status = page.locator('.jp-CartoAuth-statusButton');
  await expect(status).toHaveAttribute('data-status', 'signed-out');
  const callbackLoaded = page
    .context()
    .waitForEvent(
      'request',
      request => request.url().startsWith(`${callback}?`),
      {
        timeout: 30000
      }
    );
  await status.click();
  await callbackLoaded;
  await expect(status).toHaveAttribute('data-status', 'signed-in', {
    timeout: 30000
  });
  await expect(status).toContainText(email);
}

/** Sign out of CARTO from the account panel of the lab in `page`. */
async function signOutOfCarto(page: Page, email: string) {
  const status = page.locator('.jp-CartoAuth-statusButton');
  await status.click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText(email);
  await dialog.locator('button', { hasText: 'Sign out' }).click();
  await expect(status).toHaveAttribute('data-status', 'signed-out');
}

/** Reload the lab in `page` and wait for it (the same server, a new page load). */
async function reloadLab(page: Page, path: string) {
  await page.reload();
  await waitForLab(page, path);
}

/** The user allows the notebook at `path` to use the CARTO session (the grant). */
async function allowAccess(page: Page, path: string) {
  const dialog = page.locator('.jp-CartoAuth-accessDialog', { hasText: path });
  await expect(dialog).toBeVisible({ timeout: 30000 });
  await dialog.getByRole('button', { name: 'Allow', exact: true }).click();
  await expect(dialog).toHaveCount(0);
}

/** Create (if missing) and open a notebook; resolves when its kernel is idle. */
async function openNotebook(page: Page, path: string, create: boolean) {
  await page.evaluate(
    async ({ path, create }) => {
      const app = (window as any).jupyterapp;
      if (create) {
        await app.serviceManager.contents.save(path, {
          type: 'notebook',
          format: 'json',
          content: {
            cells: [],
            metadata: {
              kernelspec: {
                name: 'python3',
                display_name: 'Python 3',
                language: 'python'
              }
            },
            nbformat: 4,
            nbformat_minor: 5
          }
        });
      }
      const panel = await app.commands.execute('docmanager:open', {
        path,
        kernel: { name: 'python3' }
      });
      await panel.sessionContext.ready;
      await panel.sessionContext.session.kernel.info;
    },
    { path, create }
  );
  await expect
    .poll(() => kernelStatus(page, path), { timeout: 60000 })
    .toBe('idle');
}

/** The status of the kernel of the open notebook `path`, or null. */
function kernelStatus(page: Page, path: string): Promise<string | null> {
  return page.evaluate(path => {
    const app = (window as any).jupyterapp;
    for (const widget of app.shell.widgets('main')) {
      if (widget.context?.path === path) {
        return widget.sessionContext.session?.kernel?.status ?? null;
      }
    }
    return null;
  }, path);
}

/** Who the notebook's kernel holds: email and token digest (never the token). */
const WHO_CODE = `import hashlib, jupyterlab_carto_auth.kernel as _k
_s = _k.SESSION.current
print("who", _s.email if _s and _s.signed_in else None,
      hashlib.sha256(_s.access_token.encode()).hexdigest()[:16] if _s and _s.access_token else None)
del _k, _s`;

async function whoInKernel(
  page: Page,
  path: string
): Promise<{ email: string | null; token: string | null }> {
  const text = (await page.evaluate(
    async ({ path, code }) => {
      const app = (window as any).jupyterapp;
      for (const widget of app.shell.widgets('main')) {
        if (widget.context?.path === path) {
          const kernel = widget.sessionContext.session.kernel;
          let out = '';
          const future = kernel.requestExecute({
            code,
            silent: false,
            store_history: false
          });
          future.onIOPub = (msg: any) => {
            if (msg.header.msg_type === 'stream') {
              out += msg.content.text;
            }
          };
          await future.done;
          return out;
        }
      }
      throw new Error(`${path} is not open`);
    },
    { path, code: WHO_CODE }
  )) as string;
  const match = /who (\S+) (\S+)/.exec(text);
  if (!match) {
    throw new Error(`unexpected kernel answer: ${text}`);
  }
  const value = (s: string) => (s === 'None' ? null : s);
  return { email: value(match[1]), token: value(match[2]) };
}

/** Wait until the kernel holds a session for `email`; returns its token digest. */
async function kernelSignedInAs(
  page: Page,
  path: string,
  email: string
): Promise<string> {
  let token: string | null = null;
  await expect
    .poll(
      async () => {
        const who = await whoInKernel(page, path);
        token = who.token;
        return who.email;
      },
      { timeout: 30000 }
    )
    .toBe(email);
  return token!;
}

test('alice opening bob’s server never shows her session there nor puts her token into bob’s kernel', async ({
  browser
}) => {
  const info = hubInfo();
  const { alice: aliceAccount, bob: bobAccount } = info.hub_users;

  // Given alice and bob, each in their own browser, signed in to the hub and
  // to CARTO with their own sandbox account, each with a running notebook
  const alice = await logInToHub(browser, 'alice');
  const bob = await logInToHub(browser, 'bob');
  try {
    await signInToCarto(alice.page, aliceAccount);
    await signInToCarto(bob.page, bobAccount);
    await openNotebook(alice.page, 'alice.ipynb', true);
    await allowAccess(alice.page, 'alice.ipynb');
    await openNotebook(bob.page, 'bob.ipynb', true);
    await allowAccess(bob.page, 'bob.ipynb');
    const aliceToken = await kernelSignedInAs(
      alice.page,
      'alice.ipynb',
      aliceAccount.email
    );
    const bobToken = await kernelSignedInAs(
      bob.page,
      'bob.ipynb',
      bobAccount.email
    );
    expect(alice.tokens.has(aliceToken)).toBe(true);
    expect(bob.tokens.has(bobToken)).toBe(true);

    // When alice (a hub admin: access:servers) opens bob's server in a new
    // tab, while her own lab stays open in another, opens bob's notebook and
    // starts a new one there (a new kernel of bob's server)
    const intruder = await alice.context.newPage();
    await intruder.goto(`${info.hub_url}/user/bob/lab`);
    await waitForLab(intruder, '/user/bob/lab');
    await openNotebook(intruder, 'bob.ipynb', false);
    await openNotebook(intruder, 'opened-by-alice.ipynb', true);

    // Then alice's token reaches none of bob's kernels, and bob's kernel keeps
    // bob's session (a bounded watch: a lab attaches and pushes as soon as a
    // kernel connection turns idle)
    for (let i = 0; i < 6; i++) {
      const fresh = await whoInKernel(intruder, 'opened-by-alice.ipynb');
      expect(fresh.email).not.toBe(aliceAccount.email);
      expect(alice.tokens.has(fresh.token ?? '')).toBe(false);
      const who = await whoInKernel(bob.page, 'bob.ipynb');
      expect(who.email).toBe(bobAccount.email);
      expect(alice.tokens.has(who.token ?? '')).toBe(false);
      expect(bob.tokens.has(who.token ?? '')).toBe(true);
      await intruder.waitForTimeout(1000);
    }

    // And bob's lab in alice's browser shows no session, and says why
    const status = intruder.locator('.jp-CartoAuth-statusButton');
    await expect(status).toHaveAttribute('data-status', 'signed-out');
    await expect(status).toHaveAttribute('data-not-owner', 'true');
    await expect(status).toHaveAttribute(
      'title',
      /This Jupyter server belongs to bob: your CARTO session is not shared with its kernels\./
    );
    await expect(status).not.toContainText(aliceAccount.email);

    // And alice's and bob's own labs are unaffected
    await expect(
      alice.page.locator('.jp-CartoAuth-statusButton')
    ).toContainText(aliceAccount.email);
    await expect(bob.page.locator('.jp-CartoAuth-statusButton')).toContainText(
      bobAccount.email
    );
    const aliceAgain = await whoInKernel(alice.page, 'alice.ipynb');
    expect(aliceAgain.email).toBe(aliceAccount.email);
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
});

test('a named server keeps its own CARTO session, grants and kernels apart from the default server’s', async ({
  browser
}) => {
  const info = hubInfo();
  const named = info.hub_named_server;
  const account = info.hub_users[named.user];
  const defaultPath = `/user/${named.user}/lab`;
  const namedPath = `/user/${named.user}/${named.name}/lab`;
  // One notebook file: both servers run in carol's one home folder (and share
  // its workspace file), each with its own kernel for it.
  const notebook = 'carol.ipynb';

  // Given carol, signed in to the hub and, on her default server, to CARTO
  // with her account, with a notebook she allowed
  const carol = await logInToHub(browser, named.user);
  try {
    const home = carol.page;
    await signInToCarto(home, account);
    await openNotebook(home, notebook, true);
    await allowAccess(home, notebook);
    const homeToken = await kernelSignedInAs(home, notebook, account.email);
    expect(carol.tokens.has(homeToken)).toBe(true);

    // When she starts her named server in another tab of the same browser
    const work = await carol.context.newPage();
    await work.goto(`${info.hub_url}/hub/spawn/${named.user}/${named.name}`);
    await waitForLab(work, namedPath);

    // Then its lab, carol's own, does not adopt the default server's session
    const workStatus = work.locator('.jp-CartoAuth-statusButton');
    await expect(workStatus).toHaveAttribute('data-status', 'signed-out');
    await expect(workStatus).not.toHaveAttribute('data-not-owner', 'true');
    await expect(workStatus).not.toContainText(account.email);

    // When she signs in there (the callback under the named server's base
    // URL; the provider remembers her, as CARTO's does) and opens the same
    // notebook in a kernel of the named server
    await signInToCartoAgain(
      work,
      account.email,
      `${info.hub_url}/user/${named.user}/${named.name}/carto-auth/callback`
    );
    await openNotebook(work, notebook, false);

    // Then the default server's grant does not carry over: she is asked again
    await allowAccess(work, notebook);

    // And each server's kernel holds its own server's session
    const workToken = await kernelSignedInAs(work, notebook, account.email);
    expect(carol.tokens.has(workToken)).toBe(true);
    expect(workToken).not.toBe(homeToken);
    const homeWho = await whoInKernel(home, notebook);
    expect(homeWho).toEqual({ email: account.email, token: homeToken });
    await expect(home.locator('.jp-CartoAuth-statusButton')).toContainText(
      account.email
    );

    // When both labs are reloaded (their stores read back)
    await reloadLab(home, defaultPath);
    await reloadLab(work, namedPath);

    // Then each restores its own server's session
    const homeStatus = home.locator('.jp-CartoAuth-statusButton');
    await expect(homeStatus).toHaveAttribute('data-status', 'signed-in', {
      timeout: 30000
    });
    await expect(homeStatus).toContainText(account.email);
    await expect(workStatus).toHaveAttribute('data-status', 'signed-in', {
      timeout: 30000
    });
    await expect(workStatus).toContainText(account.email);

    // When she signs out of CARTO on the named server
    await signOutOfCarto(work, account.email);

    // Then the default server's lab and kernel keep her session (a bounded
    // watch: a sign-out reaches the other tabs of its scope at once)
    await openNotebook(home, notebook, false);
    for (let i = 0; i < 3; i++) {
      await expect(homeStatus).toHaveAttribute('data-status', 'signed-in');
      const who = await whoInKernel(home, notebook);
      expect(who.email).toBe(account.email);
      expect(who.token).not.toBeNull();
      await home.waitForTimeout(1000);
    }
  } finally {
    await carol.context.close();
  }
});
