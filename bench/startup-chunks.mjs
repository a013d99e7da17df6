// Which chunks of the lab extension a browser loads at JupyterLab start-up,
// with their raw and gzip sizes: what the lazy `await import()` calls keep
// out of start-up shows here.
//
// Usage: node bench/startup-chunks.mjs 'http://127.0.0.1:8888/lab?token=...'
// Needs a running JupyterLab with the extension installed; launches Debian's
// Chromium (never a downloaded browser) through playwright-core.
import { gzipSync } from 'node:zlib';

import { chromium } from 'playwright-core';

const PREFIX = '/lab/extensions/jupyterlab-carto-auth/static/';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run'
];

const target = process.argv[2];
if (!target) {
  console.error(
    'usage: node bench/startup-chunks.mjs <JupyterLab URL with token>'
  );
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ARGS
});
try {
  const page = await browser.newPage();
  const seen = new Map();
  page.on('response', response => {
    const path = new URL(response.url()).pathname;
    if (path.includes(PREFIX) && path.endsWith('.js') && !seen.has(path)) {
      seen.set(path, response);
    }
  });
  await page.goto(target);
  // The status item is the last thing this extension adds at start-up.
  await page.waitForSelector('.jp-CartoAuth-status', { timeout: 120_000 });
  await page.waitForLoadState('networkidle');

  const rows = [];
  for (const [path, response] of seen) {
    const body = await response.body();
    rows.push({
      file: path.split(PREFIX)[1],
      raw: body.length,
      gzip: gzipSync(body, { level: 9 }).length
    });
  }
  const width = Math.max(5, ...rows.map(row => row.file.length));
  const line = (file, raw, gzip) =>
    `${file.padEnd(width)}  ${String(raw).padStart(8)}  ${String(gzip).padStart(8)}`;
  console.log(line('chunk', 'raw B', 'gzip B'));
  for (const row of rows) {
    console.log(line(row.file, row.raw, row.gzip));
  }
  const raw = rows.reduce((sum, row) => sum + row.raw, 0);
  const gzip = rows.reduce((sum, row) => sum + row.gzip, 0);
  console.log(line('total', raw, gzip));
  // Last line, for bench/bench.py: the same figures as JSON.
  console.log(
    JSON.stringify({
      startup_raw_bytes: raw,
      startup_gzip_bytes: gzip,
      chunks: rows
    })
  );
} finally {
  await browser.close();
}
