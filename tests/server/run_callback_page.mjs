// Runs the callback page's inline script (stdin: JSON [script, href]) with the
// few browser objects it touches, and prints the [channel name, message] pairs
// it posted (a BroadcastChannel is per origin: its name is the scope).
// Used by tests/server/test_callback_page.py and src/__tests__/scope.spec.ts.
import { readFileSync } from 'node:fs';

const [script, href] = JSON.parse(readFileSync(0, 'utf8'));
const posted = [];
globalThis.window = {
  location: { href, pathname: new URL(href).pathname },
  close() {}
};
globalThis.history = { replaceState() {} };
globalThis.document = { getElementById: () => ({}) };
globalThis.setTimeout = () => 0;
globalThis.BroadcastChannel = class {
  constructor(name) {
    this.name = name;
  }
  postMessage(message) {
    posted.push([this.name, message]);
  }
};
new Function(script)();
process.stdout.write(JSON.stringify(posted));
