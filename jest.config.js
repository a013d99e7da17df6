// Jest runs the TypeScript unit tests in src/**/__tests__ with JupyterLab's
// own jest preset (jsdom, ts-jest, ESM packages transformed).
const jestJupyterLab = require('@jupyterlab/testutils/lib/jest-config');

const esModules = [
  '@codemirror',
  '@jupyter/',
  '@microsoft/',
  'exenv-es6',
  'lodash-es',
  '@jupyterlab/',
  'lib0',
  'nanoid',
  'oidc-client-ts',
  'vscode-ws-jsonrpc',
  'y-protocols',
  'y-websocket',
  'yjs'
].join('|');

const baseConfig = jestJupyterLab(__dirname);

module.exports = {
  ...baseConfig,
  automock: false,
  collectCoverageFrom: [
    'src/**/*.{ts,tsx}',
    '!src/**/*.d.ts',
    '!src/**/.ipynb_checkpoints/*'
  ],
  coverageReporters: ['lcov', 'text-summary'],
  roots: ['<rootDir>/src'],
  testRegex: 'src/(.*/)?__tests__/.*\\.spec\\.tsx?$',
  transformIgnorePatterns: [`/node_modules/(?!${esModules}).+`]
};
