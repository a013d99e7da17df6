// Profiles end to end: this package's kernel side (hello features
// ["profiles"], %carto profiles, %carto use, from_oauth(org=...)) against this
// package's lab side, with two sandbox accounts in two organizations. Real
// JupyterLab, real ipykernel, real sandbox provider and API.
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import {
  allowAccess,
  Info,
  kernelPrints,
  newNotebook,
  run,
  sandboxInfo,
  setSource,
  signInTwo
} from './helpers';

const ANA_NAME = 'analyst@example.com · acme';
const BOB_NAME = 'colleague@example.com · globex';

/** Who the CARTO API stand-in says `from_oauth(args)`'s token belongs to. */
const who = (args: string) => `import json, urllib.request
from jupyterlab_carto_auth import CartoAuth
_auth = CartoAuth.from_oauth(${args})
_req = urllib.request.Request(
    _auth.get_api_base_url() + "/accounts",
    headers={"Authorization": "Bearer " + _auth.get_access_token()},
)
_body = json.load(urllib.request.urlopen(_req, timeout=10))
print("who", json.dumps([_body["email"], _body["org"]]))`;

async function whoIs(page: IJupyterLabPageFixture, args = '') {
  const out = await kernelPrints(page, who(args));
  const match = /who (.*)/.exec(out);
  if (!match) {
    throw new Error(`no identity in ${out}`);
  }
  return JSON.parse(match[1]);
}

/** The current notebook's binding (its metadata key carto_auth). */
function binding(page: IJupyterLabPageFixture) {
  return page.evaluate(() =>
    (window as any).jupyterapp.shell.currentWidget.model.getMetadata(
      'carto_auth'
    )
  );
}

test('the kernel lists the lab profiles, switches with %carto use and from_oauth(org=...), and names them for an unknown one', async ({
  page,
  tmpPath
}) => {
  test.setTimeout(120000);
  const info = sandboxInfo() as Info;

  // Given Ana (acme, the default) and Bob (globex) signed in to the lab, and
  // a notebook of the default profile
  await signInTwo(page, info);
  const path = await newNotebook(page, tmpPath, 'both.ipynb');

  // When the notebook runs %carto profiles
  const listed = await run(
    page,
    0,
    '%load_ext jupyterlab_carto_auth\n%carto profiles'
  );

  // Then it lists both, with this notebook's marked, and no token
  const line = (name: string) =>
    listed.split('\n').find(l => l.includes(name)) ?? '';
  expect(line(ANA_NAME)).toMatch(/^\*/);
  expect(line(ANA_NAME)).toContain(info.user.email);
  expect(line(ANA_NAME)).toContain('acme');
  expect(line(ANA_NAME)).toContain('default');
  expect(line(BOB_NAME)).not.toMatch(/^\*/);
  expect(line(BOB_NAME)).toContain(info.second_user.email);
  expect(line(BOB_NAME)).toContain('globex');
  expect(listed).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
  expect(await whoIs(page)).toEqual([info.user.email, 'acme']);

  // When it runs %carto use <Bob's profile> and the user allows the pair
  await page.notebook.addCell('code', '#');
  await setSource(page, 1, `%carto use ${BOB_NAME}`);
  const running = page.notebook.runCell(1);
  await allowAccess(page, path);
  await running;
  const used = ((await page.notebook.getCellTextOutput(1)) ?? []).join('');

  // Then the notebook is Bob's: its next token is his, its binding too
  expect(used).toContain(`now uses the CARTO profile '${BOB_NAME}'`);
  expect(await whoIs(page)).toEqual([info.second_user.email, 'globex']);
  expect(await binding(page)).toEqual({ profile: BOB_NAME, org: 'globex' });

  // When it asks from_oauth for organization acme, it is Ana's again
  expect(await whoIs(page, 'org="acme"')).toEqual([info.user.email, 'acme']);
  expect(await binding(page)).toEqual({ profile: ANA_NAME, org: 'acme' });
  expect(await whoIs(page)).toEqual([info.user.email, 'acme']);

  // When it asks for a profile the lab does not have, it hears the names
  const unknown = await kernelPrints(page, '%carto use nosuch');
  expect(unknown).toContain('nosuch');
  expect(unknown).toContain(ANA_NAME);
  expect(unknown).toContain(BOB_NAME);
  expect(await binding(page)).toEqual({ profile: ANA_NAME, org: 'acme' });
});
