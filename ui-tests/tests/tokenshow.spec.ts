// `%carto token --show` shows the token in the notebook for a while and the
// saved notebook never holds it (issue 8, section 4). Real JupyterLab, real
// ipykernel, real sandbox provider; what is checked is the file on disk.
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import { allowAccess, signInWithPopup } from './helpers';

/** What an access token of the sandbox looks like (a JWT). */
const JWT = /eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]+/;

async function setSource(
  page: IJupyterLabPageFixture,
  index: number,
  source: string
) {
  await page.evaluate(
    ({ index, source }) => {
      const panel = (window as any).jupyterapp.shell.currentWidget;
      panel.content.widgets[index].model.sharedModel.setSource(source);
    },
    { index, source }
  );
}

async function output(page: IJupyterLabPageFixture, index: number) {
  return ((await page.notebook.getCellTextOutput(index)) ?? []).join('');
}

test('%carto token --show: shown for a while, masked in the saved notebook', async ({
  page,
  tmpPath
}) => {
  await signInWithPopup(page);
  const cell = {
    cell_type: 'code',
    source: '',
    metadata: {},
    outputs: [],
    execution_count: null
  };
  const notebook = {
    cells: [cell, { ...cell }],
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
  const path = `${tmpPath}/token.ipynb`;
  await page.contents.uploadContent(JSON.stringify(notebook), 'text', path);
  await page.evaluate(async path => {
    const app = (window as any).jupyterapp;
    const panel = await app.commands.execute('docmanager:open', { path });
    await panel.sessionContext.ready;
    await panel.sessionContext.session.kernel.info;
  }, path);
  // The user allows this notebook to use the CARTO account (the grant)
  await allowAccess(page, path);
  await page.notebook.activate('token.ipynb');

  await setSource(
    page,
    0,
    '%load_ext jupyterlab_carto_auth\nimport jupyterlab_carto_auth.magics as m\nm.TOKEN_SHOW_SECONDS = 4\nprint("ready")'
  );
  await page.notebook.runCell(0);
  expect(await output(page, 0)).toContain('ready');

  await setSource(page, 1, '%carto token --show');
  await page.notebook.selectCells(1);
  // Not awaited: the cell runs for TOKEN_SHOW_SECONDS while we look at it.
  void page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('notebook:run-cell')
  );

  // Shown, with the word that it is not saved.
  await expect.poll(() => output(page, 1), { timeout: 30000 }).toMatch(JWT);
  const shown = await output(page, 1);
  expect(shown).toContain('not saved in the notebook');
  expect(shown).toContain('Shown for 4 s');

  // Then masked, in the same output.
  await expect
    .poll(() => output(page, 1), { timeout: 30000 })
    .toContain('The token was shown');
  expect(await output(page, 1)).not.toMatch(JWT);

  await page.notebook.save();
  const saved = await page.evaluate(
    async path =>
      JSON.stringify(
        (
          await (window as any).jupyterapp.serviceManager.contents.get(path, {
            content: true
          })
        ).content
      ),
    path
  );
  expect(saved).toContain('The token was shown');
  expect(saved).not.toMatch(JWT);
});
