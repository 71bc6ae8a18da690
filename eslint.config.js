// ESLint with typescript-eslint; the import rules keep each folder to where its code can run:
// src-main/common runs anywhere (no Node, no Electron), the engine never imports Electron or the
// app, the client and the command load no engine code, only src-main/app (Electron's main process)
// imports Electron, and the renderer never imports Node or the engine.
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'path', 'os', 'child_process', 'net', 'worker_threads', 'crypto'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'native/**'] },
  ...tseslint.configs.recommended,
  // An argument a method takes for its signature only (an API method with no fields) starts with _.
  { rules: { '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }] } },
  {
    files: ['src-main/common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [...nodeBuiltins, 'electron', 'lmdb', '**/native/**', '**/engine/**', '**/cli/**', '**/app/**'] },
      ],
    },
  },
  {
    files: ['src-main/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['electron', '**/app/**', '**/src-renderer/**'] }],
    },
  },
  // Only Electron's main process (src-main/app) imports Electron.
  {
    files: ['src-main/client/**/*.ts', 'src-main/cli/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['electron', '**/app/**'] }] },
  },
  // The client, the command and the app talk to an engine; they load none of it (no LMDB, no FUSE
  // binding) but the data directory's paths and the log's format. `bazil daemon` imports the engine
  // dynamically, which this rule does not see.
  {
    files: ['src-main/client/**/*.ts', 'src-main/cli/**/*.ts', 'src-main/app/**/*.ts', 'src-main/app/**/*.cts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['lmdb', '**/native/**', '**/src-renderer/**'] },
            {
              group: ['**/engine/**', '!**/engine/data-dir.js', '!**/engine/engine-log.js'],
              allowTypeImports: true,
              message: 'the client and the command load no engine code (types are fine)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src-renderer/src/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...nodeBuiltins,
            'electron',
            'lmdb',
            '**/native/**',
            '**/engine/**',
            '**/cli/**',
            '**/client/**',
            '**/app/**',
          ],
        },
      ],
    },
  },
);
