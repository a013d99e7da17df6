// Shared helpers of the UI tests: the sandbox's URLs (written by
// sandbox/launch.py) and where screenshots go.
import { expect } from '@jupyterlab/galata';
import { Page } from '@playwright/test';
import * as fs from 'fs';
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
}

/** Record every token response the page receives from now on. */
export function captureTokens(page: Page): ICapturedTokens {
  const captured: ICapturedTokens = { access: [], refresh: [] };
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
