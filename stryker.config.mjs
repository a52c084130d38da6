// StrykerJS for one module of bin/mutation-modules.js (PF_MUTATION_MODULE); run `make mutation`.
import { MODULES } from './bin/mutation-modules.js';

const name = process.env.PF_MUTATION_MODULE ?? '';
const module = MODULES[name];
if (!module) throw new Error(`PF_MUTATION_MODULE must be one of ${Object.keys(MODULES).join(', ')}; got "${name}"`);
process.env.PF_MUTATION_TESTS = module.tests.join(',');

export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  mutate: module.mutate,
  coverageAnalysis: 'perTest',
  concurrency: 1,
  timeoutMS: 60_000,
  reporters: ['clear-text', 'json', 'progress'],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  // A rerun retests only the mutants whose code or covering tests changed (the rest keep their
  // last status); \`make mutation MUTATION_FLAGS=--force\` retests everything.
  incremental: true,
  incrementalFile: `reports/mutation/${name}.incremental.json`,
  // one folder per module, so that two modules may run at once
  tempDirName: `.stryker-tmp/${name}`,
  cleanTempDir: true,
  // Anchored at the root: a bare 'models' also dropped test/fixtures/models from the sandbox.
  ignorePatterns: ['/.pinnerformer', '/cdk.out', '/dist', '/reports', '/training/.venv', '/models', '/.stryker-tmp'],
};
