import { defineConfig } from 'vitest/config';

// `make mutation` (bin/mutation.js): each module runs only its own fast test files, named in
// PF_MUTATION_TESTS, so that a run is affordable on a small machine.
const include = (process.env.PF_MUTATION_TESTS ?? '').split(',').filter(Boolean);
if (include.length === 0) throw new Error('PF_MUTATION_TESTS names no test files (run it through bin/mutation.js)');

export default defineConfig({
  test: {
    include,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Sources load once per test runner instead of once per mutant: loading them (onnxruntime,
    // the AWS SDK, parquet) cost ~6 s a mutant on the shared machine, the tests often far less.
    // Stryker switches mutants at run time, so this is sound as long as the mutated modules keep
    // no state across calls (they keep none); a static mutant (one evaluated while the module
    // loads) is then never active and counts as survived, which can only lower a score.
    isolate: false,
  },
});
