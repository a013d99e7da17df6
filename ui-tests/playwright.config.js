// Galata (Playwright) configuration: Debian's Chromium, never a downloaded
// browser; a web server (sandbox provider + JupyterLab) started on free
// loopback ports by sandbox/launch.py and stopped by Playwright, even on failure.
const { execFileSync } = require('child_process');
const os = require('os');
const path = require('path');
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const root = path.resolve(__dirname, '..');
const python =
  process.env.CARTO_TEST_PYTHON || path.join(root, '.venv', 'bin', 'python');

// Chosen once in the main process; workers inherit the environment.
if (!process.env.CARTO_TEST_LAB_PORT) {
  process.env.CARTO_TEST_LAB_PORT = execFileSync(python, [
    // Outside the ephemeral range, so nothing else is handed it before the lab binds it.
    path.join(root, 'sandbox', 'ports.py')
  ])
    .toString()
    .trim();
  process.env.CARTO_TEST_INFO = path.join(
    os.tmpdir(),
    `carto-auth-ui-${process.env.CARTO_TEST_LAB_PORT}.json`
  );
}
const port = process.env.CARTO_TEST_LAB_PORT;

module.exports = {
  ...baseConfig,
  testDir: './tests',
  outputDir: './test-results',
  timeout: 90000,
  expect: { timeout: 15000 },
  retries: 0,
  workers: 1,
  reporter: [['list']],
  use: {
    ...baseConfig.use,
    baseURL: `http://localhost:${port}`,
    video: 'off',
    trace: 'off',
    launchOptions: {
      executablePath: process.env.CARTO_TEST_CHROMIUM || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    }
  },
  webServer: {
    command: `"${python}" sandbox/launch.py --test --lab-port ${port} --info-file "${process.env.CARTO_TEST_INFO}"`,
    cwd: root,
    url: `http://localhost:${port}/lab`,
    timeout: 120000,
    reuseExistingServer: false,
    stdout: 'ignore',
    stderr: 'pipe'
  }
};
