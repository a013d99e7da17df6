// Shared helpers of the UI tests: the sandbox's URLs (written by
// sandbox/launch.py) and where screenshots go.
import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import { Page } from '@playwright/test';
import { ChildProcess, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';

/** The sandbox's ready line plus the lab URL. */
export interface ISandboxInfo {
  issuer: string;
  token_url: string;
  access_code_url: string;
  api_base_url: string;
  stats_url: string;
  callback_port: number;
  lab_url: string;
  workspaces_dir: string;
  /** The lab's scratch folder and what it holds (launch.py --test). */
  lab_dir: string;
  root_dir: string;
  ipython_dir: string;
  cache_dir: string;
  runtime_dir: string;
  data_dir: string;
  /** The server's log at DEBUG, and all it and its kernels printed. */
  server_log: string;
  server_output: string;
  user: { email: string; password: string; name: string };
  clients: Record<string, { client_id: string; client_secret?: string }>;
}

/** Read the info file of the running sandbox. */
export function sandboxInfo(): ISandboxInfo {
  const file = process.env.CARTO_TEST_INFO;
  if (!file) {
    throw new Error(
      'CARTO_TEST_INFO is not set: run the UI tests with jlpm ui-test'
    );
  }
  return JSON.parse(fs.readFileSync(file, 'utf-8'));
}

/** Path of a screenshot the README may show. */
export function screenshot(name: string): string {
  return path.join(__dirname, '..', 'screenshots', name);
}

/** Sign in through the popup, as a user would. */
export async function signInWithPopup(page: Page): Promise<void> {
  const info = sandboxInfo();
  const status = page.locator('.jp-CartoAuth-statusButton');
  const popupOpened = page.waitForEvent('popup');
  await status.click();
  await logInOnSandbox(await popupOpened);
  await expect(status).toHaveAttribute('data-status', 'signed-in');
  await expect(status).toContainText(info.user.email);
}

/** Tokens the provider handed to the browser, captured from the network. */
export interface ICapturedTokens {
  access: string[];
  refresh: string[];
  id: string[];
}

/**
 * A token as it could appear in a file: plain, JSON-escaped, base64, and the
 * parts of a JWT but its header (the same for every token the key signs, and
 * secret-free: `{"alg":…,"kid":…}`).
 */
export function tokenForms(token: string): string[] {
  const isHeader = (part: string) => {
    try {
      return 'alg' in JSON.parse(Buffer.from(part, 'base64url').toString());
    } catch {
      return false;
    }
  };
  const parts = token
    .split('.')
    .filter((part, i) => part.length >= 16 && !(i === 0 && isHeader(part)));
  return [
    token,
    JSON.stringify(token).slice(1, -1),
    Buffer.from(token).toString('base64'),
    Buffer.from(token).toString('base64url'),
    encodeURIComponent(token),
    ...parts
  ];
}

/** Record every token response the page receives from now on. */
export function captureTokens(page: Page): ICapturedTokens {
  const captured: ICapturedTokens = { access: [], refresh: [], id: [] };
  page.context().on('response', async response => {
    if (!/\/oauth\/token|proxy\/raw/.test(response.url()) || !response.ok()) {
      return;
    }
    try {
      const body = await response.json();
      if (body.access_token) {
        captured.access.push(body.access_token);
      }
      if (body.refresh_token) {
        captured.refresh.push(body.refresh_token);
      }
      if (body.id_token) {
        captured.id.push(body.id_token);
      }
    } catch {
      // not a token answer
    }
  });
  return captured;
}

/**
 * Wait until the server's workspace file holds the CARTO session (the lab
 * saves state with a short debounce) and return the file's text.
 */
export async function savedWorkspace(): Promise<string> {
  const dir = sandboxInfo().workspaces_dir;
  let text = '';
  await expect
    .poll(
      () => {
        text = fs.existsSync(dir)
          ? fs
              .readdirSync(dir)
              .map(name => fs.readFileSync(path.join(dir, name), 'utf-8'))
              .join('\n')
          : '';
        return text.includes('jupyterlab-carto-auth:session');
      },
      { timeout: 15000 }
    )
    .toBe(true);
  return text;
}

/** Change the sandbox's token and code lifetimes for what it issues next. */
export async function setLifetimes(lifetimes: {
  access_token_ttl?: number;
  code_ttl?: number;
}): Promise<void> {
  const url = new URL('__sandbox/lifetimes', sandboxInfo().issuer);
  for (const [key, value] of Object.entries(lifetimes)) {
    url.searchParams.set(key, String(value));
  }
  const response = await fetch(url, { method: 'POST' });
  if (!response.ok) {
    throw new Error(`lifetimes hook: ${response.status}`);
  }
}

/** Call a sandbox test hook (down, up, stats/reset). */
export async function sandboxHook(name: string): Promise<any> {
  const response = await fetch(
    new URL(`__sandbox/${name}`, sandboxInfo().issuer),
    {
      method: name === 'stats' ? 'GET' : 'POST'
    }
  );
  return response.json();
}

/** Log in on the sandbox's sign-in page shown in `page`. */
export async function logInOnSandbox(page: Page): Promise<void> {
  const info = sandboxInfo();
  try {
    await page.waitForSelector('#email', { timeout: 15000 });
  } catch (error) {
    // Say where the sign-in window ended up instead of only "no #email".
    throw new Error(
      `No sign-in form at ${page.url()}: ${(await page.textContent('body').catch(() => ''))?.slice(0, 500)}`
    );
  }
  await page.fill('#email', info.user.email);
  await page.fill('#password', info.user.password);
  await page.click('button[type="submit"]:has-text("Sign in")');
}

/** Run a JupyterLab command in the page. */
export async function runCommand(page: Page, id: string): Promise<void> {
  await page.evaluate(async command => {
    void (window as any).jupyterapp.commands.execute(command);
  }, id);
}

// --- two profiles (issue 12) ------------------------------------------------

/** Log in on the sandbox's form in a sign-in popup. */
export async function logInAs(
  popup: Page,
  user: { email: string; password: string }
): Promise<void> {
  await popup.waitForSelector('#email', { timeout: 15000 });
  await popup.fill('#email', user.email);
  await popup.fill('#password', user.password);
  await popup.click('button[type="submit"]:has-text("Sign in")');
}

export type Info = ISandboxInfo & {
  second_user: { email: string; password: string };
};

/** The account panel (CARTO Account). */
export function accountPanel(page: Page) {
  return page.locator('.jp-Dialog-content', {
    has: page.locator('.jp-CartoAuth-account')
  });
}

/**
 * Ana signs in through organization acme, then Bob, another account, is
 * added from the account panel through globex.
 */
export async function signInTwo(page: Page, info: Info): Promise<void> {
  const status = page.locator('.jp-CartoAuth-statusButton');
  await runCommand(page, 'carto-auth:sign-in-sso');
  const sso = page.locator('.jp-Dialog');
  await sso.locator('input').fill('acme');
  const firstPopup = page.waitForEvent('popup');
  await sso.locator('button', { hasText: 'Sign in' }).click();
  await logInAs(await firstPopup, info.user);
  await expect(status).toHaveAttribute('data-status', 'signed-in');
  await expect(status).toContainText('acme');

  // The provider forgets Ana's login, so that it asks who signs in
  await page.context().clearCookies({ name: /^_(session|interaction)/ });
  await runCommand(page, 'carto-auth:show-account');
  await accountPanel(page)
    .getByRole('button', { name: '…with SSO organization' })
    .click();
  const orgDialog = page.locator('.jp-Dialog-content', {
    hasText: 'Sign in to another CARTO account with SSO'
  });
  await orgDialog.locator('input').fill('globex');
  const secondPopup = page.waitForEvent('popup');
  await orgDialog.locator('button', { hasText: 'Sign in' }).click();
  await logInAs(await secondPopup, info.second_user);
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);
}

// --- notebooks ---------------------------------------------------------------

/**
 * Open a new notebook with a Python kernel, without the kernel dialog. When
 * the lab is signed in its kernel's attach asks for the user's grant: the
 * user clicks Allow, unless `allow` is false (the dialog is then left open).
 * Returns the notebook's path.
 */
export async function newNotebook(
  page: IJupyterLabPageFixture,
  tmpPath: string,
  name: string,
  options: { allow?: boolean } = {}
): Promise<string> {
  const notebook = {
    cells: [
      {
        cell_type: 'code',
        source: '',
        metadata: {},
        outputs: [],
        execution_count: null
      }
    ],
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3',
        language: 'python'
      }
    },
    nbformat: 4,
    nbformat_minor: 5
  };
  const path = `${tmpPath}/${name}`;
  await page.contents.uploadContent(JSON.stringify(notebook), 'text', path);
  await page.evaluate(async path => {
    const app = (window as any).jupyterapp;
    const panel = await app.commands.execute('docmanager:open', { path });
    await panel.sessionContext.ready;
    await panel.sessionContext.session.kernel.info;
  }, path);
  await kernelIdle(page);
  const signedIn =
    (await page
      .locator('.jp-CartoAuth-statusButton')
      .getAttribute('data-status')) === 'signed-in';
  if (signedIn && options.allow !== false) {
    await allowAccess(page, path);
  }
  if (options.allow !== false) {
    await page.notebook.activate(name);
  }
  return path;
}

/** The grant dialog (Allow / Deny) for `path`. */
export function accessDialog(page: Page, path: string) {
  return page.locator('.jp-CartoAuth-accessDialog', { hasText: path });
}

/** The user allows the notebook at `path` to use the CARTO session. */
export async function allowAccess(page: Page, path: string): Promise<void> {
  const dialog = accessDialog(page, path);
  await expect(dialog).toBeVisible({ timeout: 30000 });
  await dialog.getByRole('button', { name: 'Allow', exact: true }).click();
  await expect(dialog).toHaveCount(0);
}

/**
 * Run `code` in the current notebook's kernel outside any cell (usable while
 * a dialog is open) and return what it printed.
 */
export async function kernelPrints(page: Page, code: string): Promise<string> {
  return page.evaluate(async code => {
    const kernel = (window as any).jupyterapp.shell.currentWidget.sessionContext
      .session.kernel;
    let out = '';
    const future = kernel.requestExecute({ code, store_history: false });
    future.onIOPub = (msg: any) => {
      if (msg.header.msg_type === 'stream') {
        out += msg.content.text;
      } else if (msg.header.msg_type === 'error') {
        out += `${msg.content.ename}: ${msg.content.evalue}`;
      }
    };
    await future.done;
    return out;
  }, code);
}

/** Wait until the current notebook's kernel is idle. */
export async function kernelIdle(page: IJupyterLabPageFixture) {
  await expect
    .poll(
      () =>
        page.evaluate(
          () =>
            (window as any).jupyterapp.shell.currentWidget?.sessionContext
              ?.session?.kernel?.status
        ),
      { timeout: 60000 }
    )
    .toBe('idle');
}

/**
 * Put source into a cell through the notebook model (typing it would let the
 * editor re-indent Python).
 */
export async function setSource(
  page: IJupyterLabPageFixture,
  index: number,
  source: string
) {
  await page.notebook.setCell(index, 'code', '#');
  await page.evaluate(
    ({ index, source }) => {
      const panel = (window as any).jupyterapp.shell.currentWidget;
      panel.content.widgets[index].model.sharedModel.setSource(source);
    },
    { index, source }
  );
}

/** Run a cell and return its text output (waits for the cell to finish). */
export async function run(
  page: IJupyterLabPageFixture,
  index: number,
  source: string
) {
  await setSource(page, index, source);
  await page.notebook.runCell(index);
  return ((await page.notebook.getCellTextOutput(index)) ?? []).join('');
}

/** The project's Python (the one `make install` set up), for the specs' own servers. */
export const testPython =
  process.env.CARTO_TEST_PYTHON ||
  path.join(__dirname, '..', '..', '.venv', 'bin', 'python');

/**
 * A free loopback port outside the kernel's ephemeral range (`sandbox/ports.py`): a
 * port from `bind(0)` can be handed to a kernel's socket or a connection before the
 * server we start binds it.
 */
export function freePort(): number {
  return Number(
    execFileSync(testPython, [
      path.join(__dirname, '..', '..', 'sandbox', 'ports.py')
    ])
      .toString()
      .trim()
  );
}

function portOpen(port: number): Promise<boolean> {
  return new Promise<boolean>(resolve => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Wait until `port` on 127.0.0.1 is open (or, with `open: false`, closed),
 * at most `ms`; fails at once if `proc` (the server a spec started) exits.
 */
export async function waitForPort(
  port: number,
  proc: ChildProcess,
  ms: number,
  { open = true, name = 'the server' } = {}
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) {
      throw new Error(`${name} exited with ${proc.exitCode}`);
    }
    if ((await portOpen(port)) === open) {
      return;
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
  throw new Error(
    `${name}: port ${port} did not ${open ? 'open' : 'close'} within ${ms} ms`
  );
}
