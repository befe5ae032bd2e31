// ESLint flat config: the recommended JavaScript rules everywhere, and
// typescript-eslint's type-checked rules on TypeScript, typed by
// tsconfig.check.json (sources, tests, benchmarks and examples together).
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Build output, installed packages, token data and notebooks (JSON) are not linted.
    ignores: ['dist/', 'build/', 'coverage/', 'node_modules/', 'runs/', 'data/', 'notebooks/'],
  },
  eslint.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        project: './tsconfig.check.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    // Build, benchmark and Jest configuration scripts run in Node as CommonJS.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
);
