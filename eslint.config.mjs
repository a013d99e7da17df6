// Lint TypeScript sources, the sandbox and the UI tests. Formatting is
// prettier's job (jlpm prettier:check); eslint-config-prettier turns off the
// rules that would fight it.
import jupyter from '@jupyter/eslint-plugin';
import prettierConfig from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'lib/**',
      'coverage/**',
      'jupyterlab_carto_auth/labextension/**',
      'ui-tests/test-results/**',
      'ui-tests/playwright-report/**',
      '.venv/**',
      '.venv-bench/**',
      '**/*.d.ts',
      'babel.config.js',
      'jest.config.js'
    ]
  },
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.{ts,tsx}'],
    ...jupyter.configs.recommended[1],
    plugins: jupyter.configs.recommended[0].plugins,
    rules: {
      ...jupyter.configs.recommended[1].rules,
      // Tests are not user-facing: untranslated strings there are fine.
      'jupyter/no-untranslated-string': 'off'
    }
  },
  {
    files: ['src/**/*.{ts,tsx}'],
    rules: {
      '@typescript-eslint/naming-convention': [
        'error',
        {
          selector: 'interface',
          format: ['PascalCase'],
          custom: { regex: '^I[A-Z]', match: true }
        }
      ],
      '@typescript-eslint/no-unused-vars': ['warn', { args: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-use-before-define': 'off',
      curly: ['error', 'all'],
      eqeqeq: 'error',
      'prefer-arrow-callback': 'error'
    }
  },
  {
    files: ['sandbox/**/*.mjs', 'ui-tests/**/*.{js,ts,mjs}'],
    languageOptions: { globals: { ...globals.node } }
  },
  {
    files: ['ui-tests/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { caughtErrors: 'none' }]
    }
  },
  {
    // Build scripts run by node as CommonJS (jest requires them too).
    files: ['scripts/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node } },
    rules: { '@typescript-eslint/no-require-imports': 'off' }
  },
  {
    // Playwright loads its configuration as CommonJS.
    files: ['ui-tests/playwright*.config.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' }
  },
  prettierConfig
);
