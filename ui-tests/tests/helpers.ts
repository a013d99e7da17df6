// Shared helpers of the UI tests: the sandbox's URLs (written by
// sandbox/launch.py) and where screenshots go.
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
