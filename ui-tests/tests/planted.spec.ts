// Opening a notebook runs no code from its folder (issue 8, section 1): a folder
// holds a planted `jupyterlab_carto_auth/` package beside the notebook; the lab's
// silent attach must import the installed package, not the planted one, and leave
// the kernel's sys.path as IPython made it. Real JupyterLab, real ipykernel.
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

/** Writes `planted-ran` next to its own folder when imported. */
const PLANTED = `import pathlib
pathlib.Path(__file__).resolve().parent.parent.joinpath("planted-ran").write_text("ran")
`;

/** What the kernel holds, as JSON; reads sys.modules only, imports nothing new. */
const STATE = `import json as _t_json, os as _t_os, sys as _t_sys
_t_k = _t_sys.modules.get("jupyterlab_carto_auth.kernel")
_t_p = _t_sys.modules.get("jupyterlab_carto_auth")
print(_t_json.dumps({
    "attached": bool(_t_k and _t_k.is_attached()),
    "package": getattr(_t_p, "__file__", None),
    "path": _t_sys.path,
    "cwd": _t_os.getcwd(),
    "marker": _t_os.path.exists("planted-ran"),
    "names": sorted(n for n in globals() if "carto" in n),
}))
del _t_json, _t_os, _t_sys, _t_k, _t_p`;

interface IKernelState {
  attached: boolean;
  package: string | null;
  path: string[];
  cwd: string;
  marker: boolean;
  names: string[];
}

/** Run `code` silently in the current notebook's kernel; its stdout. */
async function kernelOutput(
  page: IJupyterLabPageFixture,
  code: string
): Promise<string> {
  return page.evaluate(async code => {
    const panel = (window as any).jupyterapp.shell.currentWidget;
    const kernel = panel.sessionContext.session.kernel;
    let out = '';
    const future = kernel.requestExecute({
      code,
      silent: false,
      store_history: false
    });
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

test('opening a notebook beside a planted jupyterlab_carto_auth runs none of it', async ({
  page,
  tmpPath
}) => {
  await page.contents.createDirectory(`${tmpPath}/jupyterlab_carto_auth`);
  await page.contents.uploadContent(
    PLANTED,
    'text',
    `${tmpPath}/jupyterlab_carto_auth/__init__.py`
  );
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
  const path = `${tmpPath}/planted.ipynb`;
  await page.contents.uploadContent(JSON.stringify(notebook), 'text', path);
  await page.evaluate(async path => {
    const app = (window as any).jupyterapp;
    const panel = await app.commands.execute('docmanager:open', { path });
    await panel.sessionContext.ready;
    await panel.sessionContext.session.kernel.info;
  }, path);
  await page.notebook.activate('planted.ipynb');

  // The lab attaches the kernel at its first idle: wait until it has (the real
  // package is installed in this kernel's environment), or the planted code ran.
  let state: IKernelState | undefined;
  await expect
    .poll(
      async () => {
        state = JSON.parse(await kernelOutput(page, STATE)) as IKernelState;
        return state.attached || state.marker;
      },
      { timeout: 60000, intervals: [500] }
    )
    .toBe(true);
  state = state!;

  expect(state.marker).toBe(false);
  expect(await page.contents.fileExists(`${tmpPath}/planted-ran`)).toBe(false);
  expect(state.attached).toBe(true);
  expect(state.cwd.endsWith(tmpPath)).toBe(true);
  // The package came from where it is installed, not from the notebook's folder,
  // although IPython's '' (that folder) comes first: what made it a trap.
  const installed = state.package!.replace(
    /\/jupyterlab_carto_auth\/__init__\.py$/,
    ''
  );
  expect(installed).not.toBe(state.cwd);
  expect(state.path).toContain(installed);
  // sys.path is as IPython made it: '' once, ahead of the installed package
  // (an attach that did not put it back leaves no '').
  expect(state.path.filter(p => p === '')).toHaveLength(1);
  expect(state.path.indexOf('')).toBeLessThan(state.path.indexOf(installed));
  expect(state.names).toEqual([]);
});
