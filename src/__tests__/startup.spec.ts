// What src/index.ts loads synchronously, following static imports (not
// `import type`, not `await import()`): the heavy parts must stay out, so
// that webpack leaves them in chunks loaded on first use.
import * as fs from 'fs';
import * as path from 'path';

const SRC = path.resolve(__dirname, '..');
const STATIC_IMPORT =
  /^(?:import|export)\s+(?!type\b)(?:[^;'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;

function resolve(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) {
    return null;
  }
  const base = path.resolve(path.dirname(from), spec);
  for (const ext of ['.ts', '.tsx']) {
    if (fs.existsSync(base + ext)) {
      return base + ext;
    }
  }
  return null;
}

/** Every module and package the entry point reaches by static imports. */
function startupClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length) {
    const file = queue.pop()!;
    const source = fs.readFileSync(file, 'utf-8');
    for (const [, spec] of source.matchAll(STATIC_IMPORT)) {
      const local = resolve(file, spec);
      const key = local ? path.relative(SRC, local) : spec;
      if (!seen.has(key)) {
        seen.add(key);
        if (local) {
          queue.push(local);
        }
      }
    }
  }
  return seen;
}

describe('start-up imports', () => {
  const closure = startupClosure(path.join(SRC, 'index.ts'));

  it('reach the session, the status item and the kernel watch', () => {
    expect(closure).toContain('session.ts');
    expect(closure).toContain('statusbar.tsx');
    expect(closure).toContain('kernelwatch.ts');
  });

  it.each([
    'oidc-client-ts',
    'js-yaml',
    'dialogs.tsx',
    'signin.ts',
    'oidc.ts',
    'grants.ts',
    'tokenresponse.ts',
    'discovery.ts',
    // the bridge, its protocol and the grants load with the first kernel
    'kernels.ts',
    'protocol.ts',
    'access.ts',
    // token requests load with the first one
    'transport.ts',
    'request.ts'
  ])('leave out %s', heavy => {
    expect(closure).not.toContain(heavy);
  });
});
