import tseslint from 'typescript-eslint';

// Dependencies point one way: edge → chat/social → store/bus; ops observes and carries no
// message; core/ never imports the harness or the command layer; the client package imports only
// the protocol it speaks. A relative import that climbs into a forbidden folder fails the lint.
const HARNESS = { regex: '^(\\.\\./)+(loadtest|nightly|dashboards|flags|cli)(/|$)', message: 'core/ never imports the harness or the command layer (cli/ assembles them)' };
const layer = (files, folders, why) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', {
      patterns: [HARNESS, { regex: `^\\.\\./(${folders.join('|')})(/|\\.ts$)`, message: why }, { regex: '^\\.\\./server\\.ts$', message: 'only the composition root imports the server' }],
    }],
  },
});

export default tseslint.config(
  { ignores: ['dist/', '**/dist/', 'node_modules/', 'data/', 'out/', 'dashboards/*.json', 'loadtest/k6/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // Tests may drive the CLI (they test what users run); the code under core/ may not.
  { files: ['core/**/*.ts'], ignores: ['core/**/*.test.ts', 'core/test/**'], rules: { 'no-restricted-imports': ['error', { patterns: [HARNESS] }] } },
  layer(['core/store/**/*.ts', 'core/bus/**/*.ts'], ['edge', 'ops', 'chat', 'social'], 'store/ and bus/ are the bottom layer: they import no edge/, ops/, chat/ or social/ code'),
  layer(['core/chat/**/*.ts'], ['edge', 'ops', 'social'], 'chat/ carries messages: it imports no edge/, ops/ or social/ code (social plugs in through hooks)'),
  layer(['core/social/**/*.ts'], ['edge', 'ops'], 'social/ imports no edge/ or ops/ code'),
  {
    files: ['core/client/**/*.ts'],
    ignores: ['core/client/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ regex: '^\\.\\./(?!protocol\\.ts$|errors\\.ts$)', message: 'the client package ships only itself and the protocol it speaks (../protocol.ts, ../errors.ts)' }],
      }],
    },
  },
);
