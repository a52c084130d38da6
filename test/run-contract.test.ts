/**
 * The run contract (src/contract/run-contract.ts) is where the run date, model version, zod issue
 * format and Batch limits are defined; every reader applies that one definition.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { planRuns } from '../src/cli/aws.ts';
import { dateString, parseFlags } from '../src/cli/local-env.ts';
import { modelVersionSchema, runDateSchema } from '../src/contract/messages.ts';
import { BATCH_ARRAY_SIZE, formatIssues, MODEL_VERSION_PATTERN, RUN_DATE_HINT } from '../src/contract/run-contract.ts';
import { readWorkerEnv } from '../src/contract/stage-env.ts';
import { modelManifestSchema } from '../src/inference/manifest.ts';
import { AWS_LIMITS } from '../src/pipeline/sizing.ts';
import { generateOptionsSchema } from '../src/synth/generate.ts';

const NOT_A_DAY = '2026-02-31';

describe('run contract', () => {
  it('refuses a day that does not exist wherever a run date is read', () => {
    const worker = { MODEL_VERSION: 'm', AWS_BATCH_JOB_ARRAY_INDEX: '0', OBJECT_STORE_URI: 'x', TABLE_NAME: 't' };
    expect(runDateSchema.safeParse('2026-02-28').success).toBe(true);
    expect(runDateSchema.safeParse(NOT_A_DAY).success).toBe(false);
    expect(dateString.safeParse(NOT_A_DAY).success).toBe(false);
    expect(generateOptionsSchema.safeParse({ users: 1, days: 1, start: NOT_A_DAY }).success).toBe(false);
    expect(() => readWorkerEnv({ ...worker, RUN_DATE: NOT_A_DAY })).toThrow(RUN_DATE_HINT);
    expect(() => planRuns({ date: NOT_A_DAY })).toThrow(/existing day/);
    expect(() => parseFlags(z.object({ date: dateString }), { date: NOT_A_DAY })).toThrow(`--date: ${RUN_DATE_HINT}`);
  });

  it('applies one model-version pattern to run requests and model manifests', () => {
    const tooLong = 'm'.repeat(65);
    for (const bad of [tooLong, 'bad version!', 'a#b', 'a@b']) {
      expect(MODEL_VERSION_PATTERN.test(bad)).toBe(false);
      expect(modelVersionSchema.safeParse(bad).success).toBe(false);
      expect(modelManifestSchema.shape.modelVersion.safeParse(bad).success).toBe(false);
    }
    expect(() => planRuns({ date: '2026-03-01', modelVersion: 'bad version!' })).toThrow(/invalid run: modelVersion/);
    expect(modelManifestSchema.shape.modelVersion.safeParse('m'.repeat(64)).success).toBe(true);
    // a manifest's version also starts with a letter or digit, so it is never a hidden name
    expect(modelManifestSchema.shape.modelVersion.safeParse('.hidden').success).toBe(false);
  });

  it('formats zod issues one way, naming the path or the root', () => {
    const issues = z.object({ maxRows: z.number(), nested: z.object({ at: z.string() }) }).safeParse({ nested: {} })
      .error!.issues;
    expect(formatIssues(issues)).toEqual([
      'maxRows: Invalid input: expected number, received undefined',
      'nested.at: Invalid input: expected string, received undefined',
    ]);
    expect(formatIssues(z.string().safeParse(1).error!.issues, '(root)')).toEqual([
      '(root): Invalid input: expected string, received number',
    ]);
    expect(formatIssues(issues, 'input', (path) => `--${String(path[0])}`)[1]).toMatch(/^--nested: /);
  });

  it('sizes runs within the Batch array limit it shares with CDK and the plan', () => {
    expect(AWS_LIMITS.batchArraySize).toBe(BATCH_ARRAY_SIZE.max);
  });
});
