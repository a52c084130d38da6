import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.ts';

// `make check`: the inner loop. Every suite except those that start the CLI end to end, train a
// model, bundle, or run the reliability trials; `make test` (and CI) runs those too.
const SLOW_SUITES = [
  'test/reliability/**',
  'test/e2e-daily.test.ts',
  'test/state-chain-runs.test.ts',
  'test/cross-language.test.ts',
  'test/pipeline-cli.test.ts',
  'test/public-formats.test.ts',
  'test/recommend-cli.test.ts',
  'test/write-policy.test.ts',
  'test/batch-worker.test.ts',
  'test/lambdas-bundle.test.ts',
  'test/bundle.test.ts',
  'test/cdk-nag.test.ts',
  'test/image.test.ts',
  'test/gpu-smoke.test.ts',
  'test/importers-integrity.test.ts',
  'test/cli-errors.test.ts',
  'test/model-deploy-checks.test.ts',
  'test/rollback-forward.test.ts',
];

// Files share a worker's module cache (no per-file isolation): the suites here keep no state across
// files, and loading the AWS SDK and CDK once per worker instead of once per file saves most of the import time.
export default mergeConfig(base, defineConfig({ test: { exclude: SLOW_SUITES, isolate: false } }));
