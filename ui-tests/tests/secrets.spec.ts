// A full session leaves no token in clear anywhere (reliability issue,
// "Secrets"). Sign-in, two refreshes of 12-second tokens, kernel use (the
// lab's session, the %carto magics, an M2M sign-in with its owner-only cache,
// failing API calls, bad arguments), sign-out; then every place a token could
// land is scanned for every token the session was given, and the mode of every
// file it wrote is checked. The test knows the tokens; it never prints them:
// a hit is reported by place and kind only. The figures are printed and
// written to secrets.json in the test's output folder (docs/reliability.md).
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  captureTokens,
  kernelPrints,
  newNotebook,
  runCommand,
  sandboxInfo,
  savedWorkspace,
  setLifetimes,
  signInWithPopup,
  tokenForms
} from './helpers';

// The real server-side workspace, so what lands on disk is what is scanned.
test.use({ mockState: false });

const TTL = 12;
/** A signed JWT (header, payload, signature), as the sandbox issues. */
const JWT = /eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{20,}/;
const PYTHON =
  process.env.CARTO_TEST_PYTHON ||
  path.resolve(__dirname, '..', '..', '.venv', 'bin', 'python');

/** A secret the session was given, by kind; the value is never printed. */
interface ISecret {
  label: string;
  forms: string[];
  /** Files allowed to hold it (its own owner-only cache file). */
  allowedIn?: (file: string) => boolean;
}

/** What one place held, and where a secret was found in it. */
interface IPlace {
  place: string;
  items: number;
  bytes: number;
  hits: string[];
}

/** Every file under `dir`, without following links. */
function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) {
    return [];
  }
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? walk(full) : entry.isFile() ? [full] : [];
  });
}

/** Scan `items` for every form of every secret. */
function scan(
  place: string,
  items: { name: string; text: string }[],
  secrets: ISecret[]
): IPlace {
  const hits: string[] = [];
  let bytes = 0;
  for (const { name, text } of items) {
    bytes += text.length;
    for (const secret of secrets) {
      if (secret.allowedIn?.(name)) {
        continue;
      }
      const form = secret.forms.findIndex(f => text.includes(f));
      if (form >= 0) {
        hits.push(`${secret.label} (form ${form}) in ${name}`);
      }
    }
    // (and a token the capture missed: anything shaped like a signed JWT)
    if (!secrets.some(s => s.allowedIn?.(name)) && JWT.test(text)) {
      hits.push(`a JWT-shaped string in ${name}`);
    }
  }
  return { place, items: items.length, bytes, hits };
}

/** Everything in the page's localStorage, sessionStorage and IndexedDB, as text. */
async function browserStorage(page: IJupyterLabPageFixture) {
  return page.evaluate(async () => {
    const bytes = (value: ArrayBuffer | ArrayBufferView) => {
      const array =
        value instanceof ArrayBuffer
          ? new Uint8Array(value)
          : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      let text = '';
      array.forEach(byte => (text += String.fromCharCode(byte)));
      return text;
    };
    const keys: { extractable: boolean; type: string }[] = [];
    const plain = (value: any): any => {
      if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
        const text = bytes(value);
        return { bytes: text, base64: btoa(text) };
      }
      if (value instanceof CryptoKey) {
        keys.push({ extractable: value.extractable, type: value.type });
        return { cryptoKey: value.type, extractable: value.extractable };
      }
      if (Array.isArray(value)) {
        return value.map(plain);
      }
      if (value && typeof value === 'object') {
        return Object.fromEntries(
          Object.entries(value).map(([k, v]) => [k, plain(v)])
        );
      }
      return value;
    };
    const entries = (storage: Storage) =>
      Object.keys(storage).map(key => ({
        name: key,
        text: `${key}=${storage.getItem(key)}`
      }));
    const request = <T>(r: IDBRequest<T>) =>
      new Promise<T>((resolve, reject) => {
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
    const records: { name: string; text: string }[] = [];
    for (const { name } of await indexedDB.databases()) {
      const db = await request(indexedDB.open(name!));
      for (const store of Array.from(db.objectStoreNames)) {
        const objects = db.transaction(store, 'readonly').objectStore(store);
        const [ids, values] = await Promise.all([
          request(objects.getAllKeys()),
          request(objects.getAll())
        ]);
        values.forEach((value, i) =>
          records.push({
            name: `${name}/${store}/${String(ids[i])}`,
            text: JSON.stringify({ key: plain(ids[i]), value: plain(value) })
          })
        );
      }
      db.close();
    }
    return {
      local: entries(localStorage),
      session: entries(sessionStorage),
      indexedDB: records,
      keys
    };
  });
}

/** The rows of IPython's history database, as text (python's sqlite3). */
function historyRows(file: string): { name: string; text: string }[] {
  const script = `import json, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = []
for (table,) in db.execute("select name from sqlite_master where type='table'"):
    for row in db.execute(f"select * from {table}"):
        rows.append({"name": table, "text": json.dumps(row, default=str)})
print(json.dumps(rows))`;
  return JSON.parse(
    execFileSync(PYTHON, ['-c', script, file], { encoding: 'utf-8' })
  );
}

/** The text outputs (streams, results, errors) of the current notebook's cells. */
async function cellOutputs(page: IJupyterLabPageFixture) {
  return page.evaluate(() => {
    const panel = (window as any).jupyterapp.shell.currentWidget;
    const outputs: { name: string; text: string; error: boolean }[] = [];
    panel.content.widgets.forEach((cell: any, index: number) => {
      const list = cell.model.outputs;
      for (let i = 0; i < (list?.length ?? 0); i++) {
        const output = list.get(i).toJSON();
        outputs.push({
          name: `cell ${index} output ${i} (${output.output_type})`,
          text: JSON.stringify(output),
          error:
            output.output_type === 'error' ||
            (output.output_type === 'stream' && output.name === 'stderr')
        });
      }
    });
    return outputs;
  });
}

/**
 * Append a code cell to the current notebook, run it and return its text
 * outputs (through the notebook model and commands: no clicks).
 */
async function runCell(
  page: IJupyterLabPageFixture,
  source: string
): Promise<string> {
  return page.evaluate(async source => {
    const app = (window as any).jupyterapp;
    const notebook = app.shell.currentWidget.content;
    const index = notebook.model.cells.length;
    notebook.model.sharedModel.insertCell(index, {
      cell_type: 'code',
      source
    });
    notebook.activeCellIndex = index;
    await app.commands.execute('notebook:run-cell');
    const outputs = notebook.widgets[index].model.outputs;
    let text = '';
    for (let i = 0; i < outputs.length; i++) {
      const output = outputs.get(i).toJSON();
      text +=
        output.output_type === 'stream'
          ? output.text
          : output.output_type === 'error'
            ? `${output.ename}: ${output.evalue}`
            : (output.data?.['text/plain'] ?? '');
      text += '\n';
    }
    return text;
  }, source);
}

test.afterEach(async () => {
  await setLifetimes({ access_token_ttl: 3600 });
});

test('a full session leaves no token in clear anywhere', async ({
  page,
  tmpPath
}, testInfo) => {
  test.setTimeout(150000);
  const info = sandboxInfo();
  const started = Date.now();
  const context = page.context();
  const tokens = captureTokens(page);
  const consoleTexts: { name: string; text: string }[] = [];
  context.on('console', message =>
    consoleTexts.push({
      name: `console ${message.type()}`,
      text: `${message.text()} ${JSON.stringify(message.location())}`
    })
  );
  context.on('weberror', error =>
    consoleTexts.push({ name: 'page error', text: String(error.error()) })
  );
  const html: { name: string; text: string }[] = [];
  const responses: Promise<void>[] = [];
  context.on('response', response => {
    if (response.request().resourceType() === 'document') {
      responses.push(
        response
          .text()
          .then(text => {
            html.push({ name: `page ${response.url().split('?')[0]}`, text });
          })
          .catch(() => undefined)
      );
    }
  });
  const snapshot = async (moment: string) =>
    html.push({ name: `lab DOM ${moment}`, text: await page.content() });
  html.push({ name: 'lab DOM at start', text: await page.content() });

  // An M2M credentials file, owner-only and outside every scanned folder: the
  // client secret must not reach any cell, output, log or history.
  const m2m = info.clients.m2m;
  const credsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carto-secrets-'));
  const creds = path.join(credsDir, 'credentials.json');
  fs.writeFileSync(
    creds,
    JSON.stringify({
      api_base_url: info.api_base_url,
      client_id: m2m.client_id,
      client_secret: m2m.client_secret
    }),
    { mode: 0o600 }
  );

  // Given short tokens, so that the session refreshes during the test
  await setLifetimes({ access_token_ttl: TTL });

  // When the user signs in, looks at the account and uses a kernel
  await signInWithPopup(page);
  await snapshot('signed in');
  await runCommand(page, 'carto-auth:show-account');
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText(info.user.email);
  await snapshot('with the account dialog');
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);

  await newNotebook(page, tmpPath, 'secrets.ipynb');
  const cells = [
    // the lab's session, used without printing it; the repr is shown
    `%load_ext jupyterlab_carto_auth
from jupyterlab_carto_auth import CartoAuth
import jupyterlab_carto_auth.magics as magics, time
magics.TOKEN_SHOW_SECONDS = 2
auth = CartoAuth.from_oauth()
first = auth.get_access_token()
print("token", len(first) > 100)
auth`,
    '%carto status',
    '%carto whoami',
    '%carto token',
    // wrong arguments
    '%carto token --bogus',
    '%carto frobnicate',
    // an API call that works, and three errors carrying the token
    'print(auth.get_carto_dw_credentials()[0])',
    `CartoAuth(mode="oauth", access_token=auth.get_access_token() + "x",
          expiration=time.time() + 600, api_base_url=auth.get_api_base_url()).get_carto_dw_credentials()`,
    `CartoAuth(mode="oauth", access_token=auth.get_access_token(),
          expiration=time.time() + 600, api_base_url=auth.get_api_base_url() + "/nope").get_carto_dw_credentials()`,
    'CartoAuth(mode="oauth", access_token=auth.get_access_token(), expiration="soon")',
    // a kernel-side sign-in, whose token is cached on disk
    `m2m = CartoAuth.from_m2m(${JSON.stringify(creds)})
print("m2m", len(m2m.get_access_token()) > 20)
m2m`
  ];
  const printed: string[] = [];
  for (const source of cells) {
    printed.push(await runCell(page, source));
  }
  expect(printed[0]).toContain('token True');
  expect(printed[1]).toContain(info.user.email);
  expect(printed[3]).toContain('masked');
  expect(printed[4]).toContain('Usage: %carto');
  expect(printed[5]).toContain('Usage: %carto');
  expect(printed[6]).toContain('carto-dw-sandbox-project');
  for (const index of [7, 8, 9]) {
    expect(printed[index]).toMatch(/Error/);
  }
  expect(printed[10]).toContain('m2m True');
  await snapshot('after the errors');

  // And the session refreshes at least twice, which the kernel gets
  await expect
    .poll(() => tokens.access.length, { timeout: 6 * TTL * 1000 })
    .toBeGreaterThanOrEqual(3);
  const renewed = await runCell(
    page,
    'print("renewed", auth.get_access_token() != first)'
  );
  expect(renewed).toContain('renewed True');
  // (%carto token --show shows it on purpose, then masks it in the output)
  const shown = await runCell(page, '%carto token --show');
  expect(shown).toContain('The token was shown');
  expect(
    await kernelPrints(page, 'print(auth.get_access_token() != first)')
  ).toContain('True');

  // (the sealed session, while there is one: storage and workspace)
  const storageSignedIn = await browserStorage(page);
  const workspaceSignedIn = await savedWorkspace();

  // And signs out
  await runCommand(page, 'carto-auth:sign-out');
  await expect(page.locator('.jp-CartoAuth-statusButton')).toHaveAttribute(
    'data-status',
    'signed-out'
  );
  expect(await runCell(page, '%carto status')).toMatch(/signed in\s*no/);
  const outputs = await cellOutputs(page);
  await page.notebook.save();
  await snapshot('signed out');
  // (the lab saves its state with a debounce: wait until the sign-out is saved)
  const workspaceFiles = () =>
    walk(info.workspaces_dir).filter(
      file => fs.statSync(file).mtimeMs >= started
    );
  await expect
    .poll(
      () =>
        workspaceFiles().length > 0 &&
        workspaceFiles().every(
          file =>
            !(
              'jupyterlab-carto-auth:session' in
              (JSON.parse(fs.readFileSync(file, 'utf-8')).data ?? {})
            )
        ),
      { timeout: 15000 }
    )
    .toBe(true);
  await Promise.all(responses);
  const storage = await browserStorage(page);
  const restWorkspaces = await (
    await page.request.get('/lab/api/workspaces')
  ).text();

  // The secrets: every token the browser was given (access, refresh, id),
  // the M2M client secret, and the token the kernel cached for it
  const cacheFiles = walk(path.join(info.cache_dir, 'jupyterlab-carto-auth'));
  expect(cacheFiles).toHaveLength(1);
  const cached = JSON.parse(fs.readFileSync(cacheFiles[0], 'utf-8'));
  const cacheFile = path.relative(info.lab_dir, cacheFiles[0]);
  const secrets: ISecret[] = [
    ...tokens.access.map((t, i) => ({
      label: `access token ${i + 1}`,
      forms: tokenForms(t)
    })),
    ...tokens.refresh.map((t, i) => ({
      label: `refresh token ${i + 1}`,
      forms: tokenForms(t)
    })),
    ...tokens.id.map((t, i) => ({
      label: `id token ${i + 1}`,
      forms: tokenForms(t)
    })),
    // (its credentials file is outside every folder scanned)
    { label: 'M2M client secret', forms: [m2m.client_secret!] },
    {
      label: 'M2M access token',
      forms: tokenForms(cached.access_token),
      allowedIn: (file: string) => file === cacheFile
    }
  ];
  expect(tokens.access.length).toBeGreaterThanOrEqual(3);
  expect(tokens.refresh.length).toBeGreaterThanOrEqual(1);

  // Then no place holds any of them in clear
  const files = (dir: string, filter: (file: string) => boolean = () => true) =>
    walk(dir)
      .filter(filter)
      .map(file => ({
        name: path.relative(info.lab_dir, file),
        text: fs.readFileSync(file, 'latin1')
      }));
  const history = path.join(
    info.ipython_dir,
    'profile_default',
    'history.sqlite'
  );
  const others = (file: string) =>
    ![
      info.root_dir,
      info.workspaces_dir,
      info.ipython_dir,
      info.cache_dir,
      info.server_log,
      info.server_output
    ].some(dir => file === dir || file.startsWith(dir + path.sep));
  const places: IPlace[] = [
    scan(
      'notebook files (on disk, with checkpoints)',
      files(info.root_dir),
      secrets
    ),
    scan(
      'cell outputs (streams, results, errors)',
      outputs.map(({ name, text }) => ({ name, text })),
      secrets
    ),
    scan(
      'exception texts (error and stderr outputs)',
      outputs.filter(o => o.error).map(({ name, text }) => ({ name, text })),
      secrets
    ),
    scan('IPython history.sqlite (rows)', historyRows(history), secrets),
    scan('IPython folder (raw bytes)', files(info.ipython_dir), secrets),
    scan('browser console and page errors', consoleTexts, secrets),
    scan(
      'server log (DEBUG) and server and kernel output',
      [info.server_log, info.server_output].map(file => ({
        name: path.basename(file),
        text: fs.readFileSync(file, 'latin1')
      })),
      secrets
    ),
    scan(
      'workspace files (disk and REST)',
      [
        ...files(info.workspaces_dir),
        { name: 'workspace files while signed in', text: workspaceSignedIn },
        { name: 'GET /lab/api/workspaces', text: restWorkspaces }
      ],
      secrets
    ),
    ...(['local', 'session', 'indexedDB'] as const).map(kind =>
      scan(
        `${kind === 'indexedDB' ? 'IndexedDB (records, bytes in clear)' : kind + 'Storage'}, signed in and out`,
        [...storageSignedIn[kind], ...storage[kind]],
        secrets
      )
    ),
    scan('kernel cache folder', files(info.cache_dir), secrets),
    scan('HTML of every page and dialog', html, secrets),
    scan(
      'other files of the lab (settings, config, runtime, data)',
      files(info.lab_dir, others),
      secrets
    )
  ];

  // And the files the session wrote are owner-only where they hold a secret
  const written = walk(info.lab_dir)
    .filter(file => fs.statSync(file).mtimeMs >= started)
    .map(file => ({
      file: path.relative(info.lab_dir, file),
      mode: (fs.statSync(file).mode & 0o777).toString(8).padStart(4, '0')
    }));
  // (the log is at DEBUG: what a scan of it found nothing in is the most it says)
  const debugLines = fs
    .readFileSync(info.server_log, 'utf-8')
    .split('\n')
    .filter(line => line.startsWith('[D ')).length;
  expect(debugLines).toBeGreaterThan(0);
  const cacheDirMode = fs.statSync(path.dirname(cacheFiles[0])).mode & 0o777;
  const summary = {
    tokens: {
      access: tokens.access.length,
      refresh: tokens.refresh.length,
      id: tokens.id.length,
      m2m: 1,
      client_secrets: 1
    },
    forms_per_token: tokenForms(tokens.access[0]).length,
    places: places.map(({ place, items, bytes, hits }) => ({
      place,
      items,
      bytes,
      hits: hits.length
    })),
    server_log_debug_lines: debugLines,
    crypto_keys: storageSignedIn.keys,
    html: html.map(item => item.name),
    cache_dir_mode: cacheDirMode.toString(8),
    written
  };
  const lines = [
    `secrets scan: ${secrets.length} secrets (${summary.tokens.access} access, ${summary.tokens.refresh} refresh, ${summary.tokens.id} id tokens, 1 M2M token, 1 client secret)`,
    ...places.map(
      p =>
        `  ${p.place}: ${p.items} items, ${p.bytes} bytes, ${p.hits.length} hits`
    ),
    `  server log: ${debugLines} DEBUG lines`,
    `  files written: ${written.map(w => `${w.file} ${w.mode}`).join(', ')}`
  ];
  console.log(lines.join('\n'));
  fs.writeFileSync(
    testInfo.outputPath('secrets.json'),
    JSON.stringify(summary, null, 2)
  );
  fs.rmSync(credsDir, { recursive: true, force: true });

  for (const place of places) {
    expect(place.hits, place.place).toEqual([]);
    if (!place.place.startsWith('sessionStorage')) {
      expect(place.items, place.place).toBeGreaterThan(0);
    }
  }
  // The one file holding a token in clear is the kernel's cache: 0600 in 0700
  expect(written).toContainEqual({ file: cacheFile, mode: '0600' });
  expect(cacheDirMode).toBe(0o700);
  // The lab's key that seals the session cannot be read out of the browser
  expect(storageSignedIn.keys.length).toBeGreaterThan(0);
  for (const key of [...storageSignedIn.keys, ...storage.keys]) {
    expect(key.extractable).toBe(false);
  }
});
