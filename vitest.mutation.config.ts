import { defineConfig } from 'vitest/config';

// `make mutation` (bin/mutation.js): each module runs only its own fast test files, named in
// PF_MUTATION_TESTS, so that a run is affordable on a small machine.
const include = (process.env.PF_MUTATION_TESTS ?? '').split(',').filter(Boolean);
if (include.length === 0) throw new Error('PF_MUTATION_TESTS names no test files (run it through bin/mutation.js)');

export default defineConfig({
  test: { include, testTimeout: 120_000, hookTimeout: 120_000 },
});
