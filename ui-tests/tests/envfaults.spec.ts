// Faults of the environment, not of CARTO: the Jupyter server restarted while
// signed in, the browser offline for longer than a token's life, a kernel
// killed while a refresh is pushed, a kernel restarted during an interactive
// sign-in, two tabs starting a sign-in at once, and a reload while a
// synchronous cell waits. Each ends with the session consistent (status item,
// one session in every tab) and every live kernel holding the lab's newest
// token, compared by fingerprint (a hash prefix; no token is printed).
import {
  expect,
  galata,
  IJupyterLabPageFixture,
  test
} from '@jupyterlab/galata';
import { BrowserContext, Page, Request, Route } from '@playwright/test';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  allowAccess,
  freePort,
  kernelIdle,
  logInOnSandbox,
  newNotebook,
  runCommand,
  sandboxHook,
  setLifetimes,
  setSource,
  signInWithPopup,
  testPython,
  waitForPort
} from './helpers';

const SESSION = 'jupyterlab-carto-auth:session';
const SETTINGS = {
  ...galata.DEFAULT_SETTINGS,
  [SESSION]: { signInTimeoutSeconds: 30 }
};

// The lab's own kernel calls (restart, kill); galata's tracking would intercept them.
test.use({ kernels: null, sessions: null, mockSettings: SETTINGS });

test.afterEach(async () => {
  await sandboxHook('up');
  await setLifetimes({ access_token_ttl: 3600 });
});

/** What the lab holds: its status, token fingerprint and expiry (ms). */
interface IHeld {
  status: string;
  fp: string | null;
  expiresAt: number | null;
}

/** The lab's session as its service sees it (the token only as a fingerprint). */
function labHolds(page: Page): Promise<IHeld> {
  return page.evaluate(async id => {
    // The plugin's service, through the lab object every tab exposes.
    const app = (window as any).jupyterapp;
    const session: any = (app.pluginRegistry ?? app)._plugins.get(id).service;
    const info = session.info;
    const token: string | null =
      info.status === 'signed-in' ? await session.getAccessToken(0) : null;
    let fp: string | null = null;
    if (token) {
      const digest = await crypto.subtle.digest(
        'SHA-256',
        new TextEncoder().encode(token)
      );
      fp = Array.from(new Uint8Array(digest).slice(0, 8))
        .map(b => b.toString(16).padStart(2, '0'))
        .join('');
    }
    return { status: info.status, fp, expiresAt: info.expiresAt };
  }, SESSION);
}

/** What the kernel holds: the same fingerprint and expiry, read without printing the token. */
const HOLDS = `import hashlib as _h, json as _j, jupyterlab_carto_auth.kernel as _k
_c = _k.SESSION.current
print("holds", _j.dumps([_h.sha256(_c.access_token.encode()).hexdigest()[:16], round(_c.expires_at * 1000)] if _c is not None and _c.signed_in else None))
del _h, _j, _k, _c`;

/** Run code in the kernel of the notebook at `nbPath` (outside any cell) and return what it printed. */
function inKernel(page: Page, nbPath: string, code: string): Promise<string> {
  return page.evaluate(
    async ({ nbPath, code }) => {
      const app = (window as any).jupyterapp;
      const widget = Array.from(app.shell.widgets('main')).find(
        (w: any) => w.context?.path === nbPath
      ) as any;
      const kernel = widget?.sessionContext?.session?.kernel;
      if (!kernel) {
        return 'no kernel';
      }
      let out = '';
      try {
        const future = kernel.requestExecute({ code, store_history: false });
        future.onIOPub = (msg: any) => {
          if (msg.header.msg_type === 'stream') {
            out += msg.content.text;
          } else if (msg.header.msg_type === 'error') {
            out += `${msg.content.ename}: ${msg.content.evalue}`;
          }
        };
        await future.done;
      } catch (error) {
        out += `no answer (${error})`; // a kernel restarting: polled again
      }
      return out;
    },
    { nbPath, code }
  );
}

async function kernelHolds(
  page: Page,
  nbPath: string
): Promise<[string, number] | null | string> {
  const out = await inKernel(page, nbPath, HOLDS);
  const match = /holds (.*)/.exec(out);
  return match ? JSON.parse(match[1]) : out;
}

/**
 * The session ends consistent: every tab signed in with no error left in
 * the status item, all on one token, and every notebook's kernel holding
 * that token (pushes are asynchronous: polled, bounded).
 */
async function expectConsistent(
  pages: Page[],
  notebooks: string[] = [],
  timeout = 30000
): Promise<IHeld> {
  for (const tab of pages) {
    const status = tab.locator('.jp-CartoAuth-statusButton');
    await expect(status).toHaveAttribute('data-status', 'signed-in', {
      timeout
    });
    await expect(status).toHaveAttribute('title', /^Signed in to CARTO/, {
      timeout
    });
  }
  let held = await labHolds(pages[0]);
  await expect
    .poll(
      async () => {
        held = await labHolds(pages[0]);
        const all = await Promise.all(pages.map(labHolds));
        return all.every(h => h.fp !== null && h.fp === held.fp);
      },
      { timeout }
    )
    .toBe(true);
  for (const nb of notebooks) {
    await expect
      .poll(
        async () => {
          held = await labHolds(pages[0]);
          return JSON.stringify(await kernelHolds(pages[0], nb));
        },
        { timeout }
      )
      .toBe(JSON.stringify([held.fp, held.expiresAt]));
  }
  return held;
}

/** Whether a request is a real refresh (not the sign-in's route probe). */
function isRefresh(request: Request): boolean {
  const body = request.postData() ?? '';
  return (
    request.method() === 'POST' &&
    body.includes('grant_type=refresh_token') &&
    !body.includes('refresh_token=cors-probe')
  );
}

/** Errors the page did not handle, collected from now on. */
function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', error => {
    // JupyterLab's own code split, fetched while the browser is offline, is not ours
    if (!/ChunkLoadError: .*\/static\/lab\//s.test(String(error))) {
      errors.push(String(error));
    }
  });
  return errors;
}

/** The toast of a cell waiting for the user to sign in. */
function waitingToast(page: Page) {
  return page.locator('.Toastify__toast', {
    hasText: 'waiting for you to sign in to CARTO'
  });
}

/** Complete a sign-in in `popup`; the provider may remember the user and skip its form. */
async function completeInPopup(popup: Page): Promise<void> {
  const form = await popup
    .waitForSelector('#email', { timeout: 10000 })
    .catch(() => null);
  if (form) {
    await logInOnSandbox(popup);
  }
}

/**
 * Close JupyterLab's own "Server Connection Error" dialog, shown while the
 * server could not be reached (not the extension's: it says nothing of CARTO).
 */
async function dismissConnectionLost(page: Page): Promise<number> {
  const dialogs = page.locator('.jp-Dialog', {
    hasText: 'Server Connection Error'
  });
  const shown = await dialogs.count();
  for (let i = 0; i < shown; i++) {
    await dialogs
      .first()
      .getByRole('button', { name: /^(Close|Dismiss)$/ })
      .click({ timeout: 5000 })
      .catch(() => undefined);
  }
  return shown;
}

/** A notebook allowed while signed in, then signed out (grants stay). */
async function allowedThenSignedOut(
  page: IJupyterLabPageFixture,
  tmpPath: string,
  name: string
): Promise<string> {
  await signInWithPopup(page);
  const nb = await newNotebook(page, tmpPath, name);
  await runCommand(page, 'carto-auth:sign-out');
  await expect(page.locator('.jp-CartoAuth-statusButton')).toHaveAttribute(
    'data-status',
    'signed-out'
  );
  return nb;
}

test('offline for longer than a token’s life, then back: the lab recovers without a reload', async ({
  page,
  context,
  tmpPath
}) => {
  test.setTimeout(120000);
  const TTL = 10;
  const errors = pageErrors(page);
  await setLifetimes({ access_token_ttl: TTL });
  await signInWithPopup(page);
  const nb = await newNotebook(page, tmpPath, 'offline.ipynb');
  const before = await expectConsistent([page], [nb]);

  // When the browser is offline for longer than the token lasts
  const status = page.locator('.jp-CartoAuth-statusButton');
  await context.setOffline(true);
  await page.waitForTimeout((TTL + 4) * 1000);
  const during = await status.getAttribute('title');
  await context.setOffline(false);
  const online = Date.now();

  // Then, back online, the lab recovers without a reload: it renewed the
  // session, or it says plainly to sign in again and a sign-in does it.
  await expect
    .poll(
      async () =>
        (await status.getAttribute('data-status')) === 'signed-out' ||
        /^Signed in to CARTO/.test((await status.getAttribute('title')) ?? ''),
      { timeout: 30000 }
    )
    .toBe(true);
  await dismissConnectionLost(page);
  if ((await status.getAttribute('data-status')) === 'signed-out') {
    await expect(status).toHaveAttribute(
      'title',
      /Sign in to CARTO\nThe CARTO session has expired\. Sign in again\./
    );
    // The kernel was told too: it holds no expired token
    await expect.poll(() => kernelHolds(page, nb)).toBeNull();
    const popupOpened = page.waitForEvent('popup');
    await status.click();
    await completeInPopup(await popupOpened);
  }
  const after = await expectConsistent([page], [nb]);
  expect(after.fp).not.toBe(before.fp);
  expect(errors).toEqual([]);
  console.log(
    `offline ${TTL + 4} s, TTL ${TTL} s; consistent again ${Date.now() - online} ms after coming back (one sign-in click); while offline: ${during}`
  );
});

test('a kernel killed while a refresh is pushed: the others get it, the restarted one on attach', async ({
  page,
  context,
  tmpPath
}) => {
  test.setTimeout(120000);
  const errors = pageErrors(page);
  await setLifetimes({ access_token_ttl: 16 });
  await signInWithPopup(page);
  const a = await newNotebook(page, tmpPath, 'killed.ipynb');
  const b = await newNotebook(page, tmpPath, 'survivor.ipynb');
  const first = await expectConsistent([page], [a, b]);
  const pid = Number(
    /pid (\d+)/.exec(
      await inKernel(page, a, 'import os; print("pid", os.getpid())')
    )![1]
  );

  // When the next refresh's answer arrives, kill the first kernel's process
  // before the lab pushes the new token to it
  let killedAt = 0;
  const onRoute = async (route: Route) => {
    if (!isRefresh(route.request()) || killedAt) {
      return route.fallback();
    }
    const response = await route.fetch();
    process.kill(pid, 'SIGKILL');
    killedAt = Date.now();
    await route.fulfill({ response });
  };
  await context.route('**/*', onRoute);
  try {
    await expect.poll(() => killedAt, { timeout: 30000 }).toBeGreaterThan(0);

    // Then the survivor holds the refreshed token, and the killed kernel,
    // restarted by the server, gets it when it attaches
    const after = await expectConsistent([page], [b, a], 60000);
    expect(after.fp).not.toBe(first.fp);
    const newPid = Number(
      /pid (\d+)/.exec(
        await inKernel(page, a, 'import os; print("pid", os.getpid())')
      )![1]
    );
    expect(newPid).not.toBe(pid);
    console.log(
      `kernel killed in a push: consistent ${Date.now() - killedAt} ms after the kill`
    );
  } finally {
    await context.unroute('**/*', onRoute);
  }
  expect(errors).toEqual([]);
});

test('a kernel restarted during an interactive sign-in: no error, the new kernel gets the token', async ({
  page,
  tmpPath
}) => {
  test.setTimeout(120000);
  const errors = pageErrors(page);
  const nb = await allowedThenSignedOut(page, tmpPath, 'restart-signin.ipynb');

  // Given a cell waiting in from_oauth() for the user to sign in
  await setSource(
    page,
    0,
    'from jupyterlab_carto_auth import CartoAuth\nauth = CartoAuth.from_oauth()'
  );
  void page.notebook.runCell(0).catch(() => undefined);
  await expect(waitingToast(page)).toBeVisible({ timeout: 30000 });
  const popupOpened = page.waitForEvent('popup');
  await waitingToast(page)
    .getByRole('button', { name: 'Sign in to CARTO' })
    .click();
  const popup = await popupOpened;

  // When the kernel restarts while the sign-in window is open
  await page.evaluate(async nbPath => {
    const app = (window as any).jupyterapp;
    const widget = Array.from(app.shell.widgets('main')).find(
      (w: any) => w.context?.path === nbPath
    ) as any;
    await widget.sessionContext.session.kernel.restart();
  }, nb);
  await kernelIdle(page);

  // And then the sign-in completes
  await completeInPopup(popup);

  // Then the lab is signed in with no error, the waiting toast is gone, and
  // the new kernel holds the token
  await expectConsistent([page], [nb]);
  await expect(waitingToast(page)).toHaveCount(0);
  await expect(page.locator('.Toastify__toast--error')).toHaveCount(0);
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('two tabs start a sign-in at once: one session in both, one refresh per cycle', async ({
  page,
  context,
  tmpPath
}) => {
  test.setTimeout(120000);
  const TTL = 16;
  await setLifetimes({ access_token_ttl: TTL });
  const second = await context.newPage();
  await second.goto(page.url());
  await second.waitForSelector('#jupyterlab-splash', { state: 'detached' });
  const tabs = [page, second];
  const errors = [...tabs.map(pageErrors)];
  for (const tab of tabs) {
    await expect(tab.locator('.jp-CartoAuth-statusButton')).toHaveAttribute(
      'data-status',
      'signed-out'
    );
  }
  await sandboxHook('stats/reset');

  // When both tabs start a sign-in at once
  const popups = await Promise.all(
    tabs.map(async tab => {
      const opened = tab.waitForEvent('popup');
      await tab.locator('.jp-CartoAuth-statusButton').click();
      return opened;
    })
  );

  // Then the server's relay keeps the later one (it listens on CARTO's
  // fixed callback port for one attempt): the other tab's attempt ends
  // quietly, signed out with no error dialog, and the later one goes on
  const states = async () =>
    (
      await Promise.all(
        tabs.map(tab =>
          tab.locator('.jp-CartoAuth-statusButton').getAttribute('data-status')
        )
      )
    )
      .slice()
      .sort();
  await expect
    .poll(states, { timeout: 20000 })
    .toEqual(['signed-out', 'signing-in']);
  for (const tab of tabs) {
    await expect(tab.locator('.jp-Dialog')).toHaveCount(0);
  }
  const live =
    (await page
      .locator('.jp-CartoAuth-statusButton')
      .getAttribute('data-status')) === 'signing-in'
      ? 0
      : 1;

  // And when the user signs in in that window (and closes the other, left on
  // the provider's page), both tabs end on one session
  await logInOnSandbox(popups[live]);
  await popups[1 - live].close();
  await expectConsistent(tabs);
  for (const tab of tabs) {
    await expect(tab.locator('.jp-Dialog')).toHaveCount(0);
  }
  const nb = await newNotebook(page, tmpPath, 'two-tabs.ipynb');
  const signedIn = await expectConsistent(tabs, [nb]);

  // And over the next refresh cycle the provider sees one refresh
  const stats0 = await sandboxHook('stats');
  await expect
    .poll(
      async () => {
        const { fp } = await labHolds(page);
        return fp !== null && fp !== signedIn.fp;
      },
      { timeout: TTL * 1000 }
    )
    .toBe(true);
  await page.waitForTimeout(2000);
  const stats1 = await sandboxHook('stats');
  expect(
    stats1.token_requests.refresh_token - stats0.token_requests.refresh_token
  ).toBe(1);
  // One sign-in reached the provider: one code exchange for both tabs
  expect(stats1.token_requests.authorization_code).toBe(1);
  await expectConsistent(tabs, [nb]);
  console.log(
    `two tabs: ${stats1.token_requests.authorization_code} code exchanges, ` +
      `${stats1.token_requests.refresh_token - stats0.token_requests.refresh_token} refresh in a cycle`
  );
  for (const list of errors) {
    expect(list).toEqual([]);
  }
  await second.close();
});

test('a reload while a synchronous cell waits: the cell ends in bounded time, saying what to do', async ({
  page,
  tmpPath
}) => {
  test.setTimeout(120000);
  const WAIT = 15;
  const nb = await allowedThenSignedOut(page, tmpPath, 'reload.ipynb');

  // Given a synchronous cell waiting in from_oauth() for a sign-in
  await setSource(
    page,
    0,
    `import os, time
os.environ["CARTO_SIGNIN_TIMEOUT"] = "${WAIT}"
from jupyterlab_carto_auth import CartoAuth
_t0 = time.monotonic()
try:
    CartoAuth.from_oauth()
    outcome = "signed in"
except Exception as e:
    outcome = f"{type(e).__name__}: {e}"
waited = time.monotonic() - _t0`
  );
  void page.notebook.runCell(0).catch(() => undefined);
  await expect(waitingToast(page)).toBeVisible({ timeout: 30000 });

  // When the lab reloads, and the user signs in in the reloaded lab
  // (the notebook, not the Launcher, is the reloaded lab's current tab)
  await page.reload({ waitForIsReady: false });
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
  await page.evaluate(
    async path =>
      (window as any).jupyterapp.commands.execute('docmanager:open', { path }),
    nb
  );
  const status = page.locator('.jp-CartoAuth-statusButton');
  await expect(status).toHaveAttribute('data-status', 'signed-out');
  const popupOpened = page.waitForEvent('popup');
  await status.click();
  await completeInPopup(await popupOpened);

  // Then the cell ends within its bound, saying what to do
  await expect
    .poll(() => inKernel(page, nb, 'print("outcome", outcome)'), {
      timeout: (WAIT + 20) * 1000
    })
    .toMatch(/outcome /);
  const outcome = await inKernel(
    page,
    nb,
    'print(outcome); print("waited", round(waited, 1))'
  );
  console.log(`reload while a cell waits: ${outcome.replace(/\n/g, ' | ')}`);
  expect(outcome).toMatch(/run this cell again/);
  const waited = Number(/waited ([\d.]+)/.exec(outcome)![1]);
  expect(waited).toBeLessThan(WAIT + 5);

  // And afterwards the kernel holds the lab's token: the next run needs no click
  await expectConsistent([page], [nb]);
});

// --- the Jupyter server restarted -------------------------------------------

const root = path.resolve(__dirname, '..', '..');
const python = testPython;
const LAUNCHER = 'sandbox/launch.py';

test('the Jupyter server restarted while signed in: the session goes on, the new kernel gets the token', async ({
  browser,
  waitForApplication
}) => {
  test.setTimeout(180000);
  const port = freePort();
  const infoFile = path.join(os.tmpdir(), `carto-auth-restart-${port}.json`);
  // Its messages, for a failure's diagnosis (named in the error below).
  const logFile = path.join(os.tmpdir(), `carto-auth-restart-${port}.log`);
  const log = fs.openSync(logFile, 'w');
  // Its own sandbox and lab, stopped below even on failure.
  const server = spawn(
    python,
    [
      'sandbox/launch.py',
      '--test',
      '--lab-port',
      String(port),
      '--info-file',
      infoFile,
      '--access-token-ttl',
      '20'
    ],
    { cwd: root, stdio: ['ignore', log, log] }
  );
  fs.closeSync(log);
  let passed = false;
  let context: BrowserContext | null = null;
  try {
    await waitForPort(port, server, 90000, { name: LAUNCHER });
    const info = JSON.parse(fs.readFileSync(infoFile, 'utf-8'));
    const made = await fetch(`http://localhost:${port}/api/contents/restart`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'directory' })
    });
    expect(made.status).toBe(201);
    const { page } = await galata.newPage({
      browser,
      baseURL: `http://localhost:${port}`,
      waitForApplication,
      mockKernels: false,
      mockSessions: false,
      // Its routes would proxy to the server while it is down and fail the test.
      mockTerminals: false,
      mockConfig: false,
      mockSettings: SETTINGS,
      tmpPath: 'restart'
    });
    context = page.context();
    const errors = pageErrors(page);
    const refreshes: string[] = [];
    context.on('requestfinished', async request => {
      if (isRefresh(request)) {
        const response = await request.response();
        refreshes.push(`${Date.now()} ${response?.status()} ${request.url()}`);
      }
    });
    context.on('requestfailed', request => {
      if (isRefresh(request)) {
        refreshes.push(`${Date.now()} failed ${request.url()}`);
      }
    });
    test.info().annotations.push({ type: 'server log', description: logFile });
    const status = page.locator('.jp-CartoAuth-statusButton');
    const popupOpened = page.waitForEvent('popup');
    await status.click();
    const popup = await popupOpened;
    await popup.waitForSelector('#email');
    await popup.fill('#email', info.user.email);
    await popup.fill('#password', info.user.password);
    await popup.click('button[type="submit"]:has-text("Sign in")');
    await expect(status).toHaveAttribute('data-status', 'signed-in');
    const nb = 'restart/restart.ipynb';
    const put = await fetch(`http://localhost:${port}/api/contents/${nb}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        type: 'notebook',
        format: 'json',
        content: {
          cells: [],
          metadata: {
            kernelspec: { name: 'python3', display_name: 'Python 3' }
          },
          nbformat: 4,
          nbformat_minor: 5
        }
      })
    });
    expect(put.status).toBe(201);
    await page.evaluate(
      async path =>
        (window as any).jupyterapp.commands.execute('docmanager:open', {
          path
        }),
      nb
    );
    await allowAccess(page, nb);
    const before = await expectConsistent([page], [nb]);
    /** A refresh gave the lab a token other than `than`'s. */
    const refreshedSince = async (than: IHeld) => {
      const now = await labHolds(page);
      return now.fp !== null && now.fp !== than.fp;
    };
    // Right after a refresh, so that the next one falls after the restart (a
    // server down past the token's expiry signs the lab out, as offline does)
    await expect
      .poll(() => refreshedSince(before), { timeout: 30000 })
      .toBe(true);
    const fresh = await labHolds(page);

    // When the Jupyter server restarts (its kernels end with it)
    const t0 = Date.now();
    process.kill(server.pid!, 'SIGUSR1');
    await waitForPort(port, server, 30000, { open: false, name: LAUNCHER });
    await waitForPort(port, server, 90000, { name: LAUNCHER });
    const restartMs = Date.now() - t0;

    // Then the lab is still signed in, and refreshes through the new server
    await expect
      .poll(() => refreshedSince(fresh), { timeout: 30000 })
      .toBe(true);
    await dismissConnectionLost(page);
    // And when the user opens the notebook again (its session and kernel
    // ended with the server), its new kernel gets the newest token on attach
    await page.evaluate(async nbPath => {
      const app = (window as any).jupyterapp;
      const widget = Array.from(app.shell.widgets('main')).find(
        (w: any) => w.context?.path === nbPath
      ) as any;
      widget.dispose();
      const panel = await app.commands.execute('docmanager:open', {
        path: nbPath
      });
      await panel.sessionContext.ready;
    }, nb);
    await kernelIdle(page);
    const t1 = Date.now();
    await expectConsistent([page], [nb], 40000).catch(error => {
      throw new Error(
        `${error}\nrefreshes (restart at ${t0}, reopen at ${t1}):\n${refreshes.join('\n')}\nserver log: ${logFile}`
      );
    });
    expect(errors).toEqual([]);
    console.log(
      `server restart: port closed and open again in ${restartMs} ms`
    );
    passed = true;
  } finally {
    await context?.close().catch(() => undefined);
    server.kill('SIGTERM');
    await new Promise(resolve => {
      const timer = setTimeout(() => {
        server.kill('SIGKILL');
        resolve(null);
      }, 20000);
      server.once('exit', () => {
        clearTimeout(timer);
        resolve(null);
      });
    });
    fs.rmSync(infoFile, { force: true });
    if (passed) {
      fs.rmSync(logFile, { force: true });
    }
  }
});
