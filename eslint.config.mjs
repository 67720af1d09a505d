// ESLint (typescript-eslint, flat config): `npm run lint` runs it, then the layering rules
// (.dependency-cruiser.js). Formatting is Prettier's (.prettierrc.json), not ESLint's.
import tseslint from 'typescript-eslint';

const TEST_FILES = ['**/*.spec.ts', 'test/**/*.ts', 'bench/**/*.ts'];

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'dist/**', '.data/**', '.stryker-tmp/**', 'reports/**', 'coverage/**', '**/*.js', '**/*.mjs', '**/*.d.ts'],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // `import x = require('…')` is the typed form; only bare require() calls are refused.
      '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }],
      // Another library through its alias and public entry only (dependency-cruiser checks the rest).
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^(\\.\\./)+libs/', message: 'import a library through its alias, @wegent-codex/<lib>' },
            { regex: '^@wegent-codex/[^/]+/', message: 'import @wegent-codex/<lib>, not a file inside it' },
          ],
        },
      ],
    },
  },
  {
    // Tests read JSON bodies and fixtures whose shape they assert: `any` is allowed there.
    files: TEST_FILES,
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
