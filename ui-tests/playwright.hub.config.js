// Galata/Playwright configuration of the JupyterHub test (ui-tests/hub/): a real
// JupyterHub with three users (carol also has a named server), configured as
// docs/jupyterhub.md says, started on free loopback ports by
// ui-tests/hub/launch_hub.py and stopped by Playwright, even on failure. Kept
// apart from playwright.config.js so the default lab's web server never
// starts a hub, and the hub's never starts a lab.
const { execFileSync } = require('child_process');
const os = require('os');
const path = require('path');
const base = require('./playwright.config');

const root = path.resolve(__dirname, '..');
const python =
  process.env.CARTO_TEST_PYTHON || path.join(root, '.venv', 'bin', 'python');

if (!process.env.CARTO_HUB_PORT) {
  process.env.CARTO_HUB_PORT = execFileSync(python, [
    // Outside the ephemeral range, so nothing else is handed it before the lab binds it.
    path.join(root, 'sandbox', 'ports.py')
  ])
    .toString()
    .trim();
  process.env.CARTO_HUB_INFO = path.join(
    os.tmpdir(),
    `carto-auth-hub-${process.env.CARTO_HUB_PORT}.json`
  );
}
const port = process.env.CARTO_HUB_PORT;

module.exports = {
  ...base,
  testDir: './hub',
  // Each test (its users' servers, their sign-ins) stays well under 3 minutes.
  timeout: 170000,
  use: { ...base.use, baseURL: `http://127.0.0.1:${port}` },
  webServer: {
    command: `"${python}" ui-tests/hub/launch_hub.py --port ${port} --info-file "${process.env.CARTO_HUB_INFO}"`,
    cwd: root,
    url: `http://127.0.0.1:${port}/hub/health`,
    timeout: 90000,
    reuseExistingServer: false,
    // SIGTERM to the whole group: the hub stops its servers and its proxy
    // (which runs in a session of its own), then launch_hub.py sweeps.
    gracefulShutdown: { signal: 'SIGTERM', timeout: 30000 },
    stdout: 'ignore',
    stderr: 'pipe'
  }
};
