// Real-time collaboration (jupyter-collaboration): two browsers, signed in to
// two sandbox accounts, on one notebook and so one kernel. The kernel's CARTO
// identity stays the first person's (docs/protocol.md, "Several labs on one
// kernel"). This test starts its own sandbox and collaborative JupyterLab
// (sandbox/launch.py --collaborative) on free loopback ports and stops them,
// even on failure.
import {
  expect,
  galata,
  IJupyterLabPageFixture,
  test
} from '@jupyterlab/galata';
import { Page } from '@playwright/test';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { allowAccess, freePort, testPython, waitForPort } from './helpers';

const root = path.resolve(__dirname, '..', '..');
const python = testPython;
const NOTEBOOK = 'rtc/shared.ipynb';

/** Sign in through the popup as `user` (each browser context has its own cookies). */
async function signInAs(
  page: Page,
  user: { email: string; password: string }
): Promise<void> {
  const status = page.locator('.jp-CartoAuth-statusButton');
  const popupOpened = page.waitForEvent('popup');
  await status.click();
  const popup = await popupOpened;
  await popup.waitForSelector('#email', { timeout: 15000 });
  await popup.fill('#email', user.email);
  await popup.fill('#password', user.password);
  await popup.click('button[type="submit"]:has-text("Sign in")');
  await expect(status).toHaveAttribute('data-status', 'signed-in');
  await expect(status).toContainText(user.email);
}

/** Open the shared notebook; returns this browser's kernel client id. */
async function openShared(page: IJupyterLabPageFixture): Promise<string> {
  return page.evaluate(async path => {
    const app = (window as any).jupyterapp;
    const panel = await app.commands.execute('docmanager:open', { path });
    await panel.sessionContext.ready;
    const kernel = panel.sessionContext.session.kernel;
    await kernel.info;
    // What this lab sends and receives on the carto_auth comm, from now on.
    const seen: any[] = ((window as any).cartoSeen = []);
    kernel.anyMessage.connect((_: unknown, args: any) => {
      const { msg, direction } = args;
      if (msg.header.msg_type.startsWith('comm_')) {
        seen.push({
          direction,
          type: msg.header.msg_type,
          parent: msg.parent_header?.session ?? null,
          comm: msg.content.comm_id,
          data: msg.content.data?.type ?? null,
          reason: msg.content.data?.reason ?? null
        });
      }
    });
    return kernel.clientId;
  }, NOTEBOOK);
}

function seen(page: IJupyterLabPageFixture): Promise<any[]> {
  return page.evaluate(() => (window as any).cartoSeen);
}

async function run(
  page: IJupyterLabPageFixture,
  index: number,
  source: string
): Promise<string> {
  await page.notebook.setCell(index, 'code', '#');
  await page.evaluate(
    ({ index, source }) => {
      const panel = (window as any).jupyterapp.shell.currentWidget;
      panel.content.widgets[index].model.sharedModel.setSource(source);
    },
    { index, source }
  );
  await page.notebook.runCell(index);
  return ((await page.notebook.getCellTextOutput(index)) ?? []).join('');
}

/** Who the kernel's session is, and its token's first characters. */
const IDENTITY = `import json, jupyterlab_carto_auth.kernel as k
c = k.SESSION.current
print("identity", json.dumps([c.email, c.reason, c.access_token[-12:]] if c and c.signed_in else None))`;

function identity(output: string): [string, string, string] | null {
  const match = /identity (.*)/.exec(output);
  if (!match) {
    throw new Error(`no identity in ${output}`);
  }
  return JSON.parse(match[1]);
}

test('two people on one notebook: the kernel keeps the first one’s CARTO identity', async ({
  browser,
  waitForApplication
}) => {
  test.setTimeout(240000);
  const port = freePort();
  const infoFile = path.join(os.tmpdir(), `carto-auth-rtc-${port}.json`);
  const server = spawn(
    python,
    [
      'sandbox/launch.py',
      '--test',
      '--collaborative',
      '--lab-port',
      String(port),
      '--info-file',
      infoFile
    ],
    { cwd: root, stdio: 'ignore' }
  );
  const pages: IJupyterLabPageFixture[] = [];
  try {
    await waitForPort(port, server, 60000, {
      name: 'the collaborative lab'
    });
    const info = JSON.parse(fs.readFileSync(infoFile, 'utf-8'));
    const baseURL = `http://localhost:${port}`;
    const cell = {
      cell_type: 'code',
      source: '',
      metadata: {},
      outputs: [],
      execution_count: null
    };
    const notebook = {
      cells: Array.from({ length: 8 }, () => ({ ...cell })),
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
    const put = async (where: string, body: unknown) => {
      const response = await fetch(`${baseURL}/api/contents/${where}`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body)
      });
      expect(response.status).toBe(201);
    };
    await put('rtc', { type: 'directory' });
    await put(NOTEBOOK, {
      type: 'notebook',
      format: 'json',
      content: notebook
    });
    // Tokens of 30 s: each lab refreshes, and pushes, during the test.
    const lifetimes = new URL('__sandbox/lifetimes', info.issuer);
    lifetimes.searchParams.set('access_token_ttl', '30');
    expect((await fetch(lifetimes, { method: 'POST' })).ok).toBe(true);
    const open = async () => {
      const { page } = await galata.newPage({
        browser,
        baseURL,
        waitForApplication,
        mockKernels: false,
        mockSessions: false,
        tmpPath: 'rtc'
      });
      pages.push(page);
      return page;
    };

    // Given Ana signed in to CARTO in her browser, with the notebook open
    const ana = await open();
    await signInAs(ana, info.user);
    const anaClient = await openShared(ana);
    // Ana allows this notebook to use her CARTO account (the grant)
    await allowAccess(ana, NOTEBOOK);
    await expect
      .poll(async () => identity(await run(ana, 0, IDENTITY))?.[0], {
        timeout: 30000
      })
      .toBe(info.user.email);

    // When Bob, signed in to another CARTO account, opens the same notebook
    const bob = await open();
    await signInAs(bob, info.second_user);
    const bobClient = await openShared(bob);
    // Bob allows it too, in his browser: his lab then offers his session
    await allowAccess(bob, NOTEBOOK);
    expect(bobClient).not.toBe(anaClient);
    // Bob's lab attached the kernel: Ana's lab saw the comm his attach opened
    await expect
      .poll(
        async () =>
          (await seen(ana)).some(
            m => m.type === 'comm_open' && m.parent === bobClient
          ),
        { timeout: 30000 }
      )
      .toBe(true);
    // And Ana's lab did not answer that hello: only Bob's did (and the kernel refused it)
    const bobsComm = (await seen(ana)).find(
      m => m.type === 'comm_open' && m.parent === bobClient
    ).comm;
    expect(
      (await seen(ana)).filter(
        m =>
          m.comm === bobsComm && m.direction === 'send' && m.reason === 'attach'
      )
    ).toEqual([]);
    // Then the kernel is still Ana's
    expect(identity(await run(ana, 1, IDENTITY))?.[0]).toBe(info.user.email);

    // When each lab refreshes its token (and pushes it)
    for (const page of [ana, bob]) {
      await expect
        .poll(
          async () =>
            (await seen(page)).some(
              m => m.direction === 'send' && m.reason === 'refresh'
            ),
          { timeout: 60000 }
        )
        .toBe(true);
    }
    // Then the kernel holds Ana's refreshed token, never Bob's
    const afterRefresh = identity(await run(ana, 2, IDENTITY));
    expect(afterRefresh?.[0]).toBe(info.user.email);
    expect(afterRefresh?.[1]).toBe('refresh');

    // When Bob runs a cell that calls CartoAuth.from_oauth()
    const bobCell = await run(
      bob,
      3,
      `from jupyterlab_carto_auth import CartoAuth
import jupyterlab_carto_auth.kernel as k
auth = CartoAuth.from_oauth()
print("source", auth.source, k.SESSION.current.email)
try:
    k.request_session(min_ttl=0, interactive=False, timeout=10)
except k.LabError as e:
    print("asked", e.code, e)`
    );
    // Then it runs with the kernel's identity, and his lab's answer is refused with a reason
    expect(bobCell).toContain(`source lab ${info.user.email}`);
    expect(bobCell).toContain(
      'asked denied This kernel already uses the CARTO account that another JupyterLab'
    );
    // Ana's lab left Bob's cell's request to Bob's lab
    const anaSaw = await seen(ana);
    const bobsRequests = anaSaw.filter(
      m => m.data === 'request' && m.parent === bobClient
    );
    expect(bobsRequests.length).toBeGreaterThan(0);
    expect(identity(await run(ana, 4, IDENTITY))?.[0]).toBe(info.user.email);
    // And Bob's own lab still shows Bob signed in: nothing crossed into his browser
    await expect(bob.locator('.jp-CartoAuth-statusButton')).toContainText(
      info.second_user.email
    );
  } finally {
    for (const page of pages) {
      await page.unrouteAll({ behavior: 'ignoreErrors' });
      await page.context().close();
    }
    server.kill('SIGTERM');
    await new Promise(resolve => {
      const timer = setTimeout(() => {
        server.kill('SIGKILL');
        resolve(null);
      }, 15000);
      server.once('exit', () => {
        clearTimeout(timer);
        resolve(null);
      });
    });
    fs.rmSync(infoFile, { force: true });
  }
});
