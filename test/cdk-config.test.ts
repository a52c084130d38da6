/** The deployment config: defaults, `-c key=value` overrides, and clear errors for bad values. */
import { describe, expect, it } from 'vitest';
import { CONFIG_CONTEXT_KEY, parseDeploymentConfig, readDeploymentConfig } from '../cdk/config.ts';
import { PARTITIONS } from '../src/contract/run-contract.ts';
import { ValidationError } from '../src/util/errors.ts';

const context =
  (values: Record<string, unknown>) =>
  (key: string): unknown =>
    values[key];

describe('deployment config', () => {
  it('documents defaults for every setting', () => {
    const config = parseDeploymentConfig({});
    expect(config).toMatchObject({
      stackName: 'PinnerFormer',
      scheduleExpression: 'cron(0 3 * * ? *)',
      partitions: PARTITIONS.default,
      partitionsPerJob: 2,
      instanceTypes: ['g5', 'g6'],
      maxVcpus: 64,
      spot: true,
      scheduleEnabled: false,
      trigger: 'schedule',
      runnableTimeoutMinutes: 60,
      dataWaitHours: 6,
      lookupReservedConcurrency: 20,
      refreshAgeDays: 7,
      requireSuccessMarker: false,
      embeddingRetentionDays: 30,
      embeddingDtype: 'float16',
      writeSkipCosine: 0.95,
      compactEveryDays: 7,
      compactDeltaShare: 0.5,
      runWriteUnitsPerSecond: 32_000,
      lookupAuth: 'function-url-iam',
    });
    expect(config.imageUri).toBeUndefined();
    expect(config.vpcId).toBeUndefined();
  });

  it('reads the cdk.json object and lets string overrides from -c win, coerced to their types', () => {
    // Prepare: cdk.json context plus `-c partitions=32 -c spot=false -c instanceTypes=g6,g6e.xlarge`
    const get = context({
      [CONFIG_CONTEXT_KEY]: { partitions: 8, maxVcpus: 128 },
      partitions: '32',
      spot: 'false',
      instanceTypes: 'g6,g6e.2xlarge',
    });
    // Act
    const config = readDeploymentConfig(get);
    // Assess
    expect(config.partitions).toBe(32);
    expect(config.maxVcpus).toBe(128);
    expect(config.spot).toBe(false);
    expect(config.instanceTypes).toEqual(['g6', 'g6e.2xlarge']);
  });

  it('refuses as many partitions per child as partitions: a Batch array has at least 2 children', () => {
    expect(() => parseDeploymentConfig({ partitions: 4, partitionsPerJob: 4 })).toThrow(ValidationError);
    expect(() => parseDeploymentConfig({ partitions: 4, partitionsPerJob: 4 })).toThrow(
      /partitionsPerJob \(4\) must be below partitions \(4\)/,
    );
    expect(() => parseDeploymentConfig({ partitionsPerJob: 17 })).toThrow(/partitionsPerJob/);
    expect(parseDeploymentConfig({ partitions: 4, partitionsPerJob: 3 }).partitionsPerJob).toBe(3);
  });

  it('names every bad key in one ValidationError', () => {
    const attempt = () =>
      parseDeploymentConfig({ partitions: 0, instanceTypes: ['m5.large'], spot: 'sometimes', embeddingDtype: 'int8' });
    expect(attempt).toThrow(ValidationError);
    try {
      attempt();
    } catch (error) {
      const message = (error as Error).message;
      for (const key of ['partitions', 'instanceTypes.0', 'spot', 'embeddingDtype'])
        expect(message).toContain(`${key}:`);
      expect(message).toContain('GPU instance');
    }
  });

  it('refuses unknown keys (typos) and malformed ids', () => {
    expect(() => parseDeploymentConfig({ partitons: 4 })).toThrow(/partitons|Unrecognized/);
    expect(() => parseDeploymentConfig({ vpcId: 'my-vpc' })).toThrow(/vpcId: expected a VPC id/);
    expect(() => parseDeploymentConfig({ imageUri: 'nginx' })).toThrow(/imageUri/);
    expect(() => parseDeploymentConfig({ scheduleExpression: '0 3 * * *' })).toThrow(/cron\(\.\.\.\)/);
    expect(() => parseDeploymentConfig({ logRetentionDays: 2 })).toThrow(/logRetentionDays: expected one of/);
  });

  it('keeps the refresh age below the embedding retention so no embedding expires', () => {
    expect(() => parseDeploymentConfig({ refreshAgeDays: 30, embeddingRetentionDays: 30 })).toThrow(/refreshAgeDays/);
    expect(parseDeploymentConfig({ refreshAgeDays: 28, embeddingRetentionDays: 30 }).refreshAgeDays).toBe(28);
  });

  it('refuses at synth the configs that could never run, with the setting to change', () => {
    // ARM instances cannot run the amd64 image
    expect(() => parseDeploymentConfig({ instanceTypes: ['g5g'] })).toThrow(
      /instanceTypes\.0: g5g is ARM \(Graviton\)/,
    );
    // 2 lanes need 8 vCPUs and 28 GiB: a g5.xlarge (4 vCPUs, 16 GiB) never fits
    expect(() => parseDeploymentConfig({ instanceTypes: ['g5.xlarge'] })).toThrow(
      /instanceTypes: no g5\.xlarge size fits the job \(a child of 2 lane\(s\) needs 8 vCPUs and 28 GiB\)/,
    );
    expect(parseDeploymentConfig({ instanceTypes: ['g5.xlarge'], partitionsPerJob: 1 }).instanceTypes).toEqual([
      'g5.xlarge',
    ]);
    // the memory counts too: 4 lanes = 16 vCPUs + 56 GiB; g5.4xlarge has 16 vCPUs but 64 GiB (60 for containers)
    expect(parseDeploymentConfig({ instanceTypes: ['g5.4xlarge'], partitionsPerJob: 4 }).partitionsPerJob).toBe(4);
    expect(() => parseDeploymentConfig({ instanceTypes: ['g5.4xlarge'], partitionsPerJob: 5 })).toThrow(
      /no g5\.4xlarge size fits/,
    );
    // maxVcpus below the smallest fitting instance: nothing could ever start
    expect(() => parseDeploymentConfig({ maxVcpus: 4 })).toThrow(
      /maxVcpus \(4\) is below the smallest instance that fits the job \(8 vCPUs/,
    );
    expect(() => parseDeploymentConfig({ trigger: 'completion-marker', scheduleEnabled: true })).toThrow(
      /scheduleEnabled must be false with trigger=completion-marker/,
    );
  });

  it('takes each run limit and default from the run contract, as the runtime does', async () => {
    const { readHandlerSettings, readWorkerEnv } = await import('../src/contract/stage-env.ts');
    const { PLAN_DEFAULTS } = await import('../src/pipeline/plan.ts');
    const { PARTITIONS_PER_JOB, REFRESH_AGE_DAYS } = await import('../src/contract/run-contract.ts');
    const worker = {
      RUN_DATE: '2026-03-01',
      MODEL_VERSION: 'm',
      AWS_BATCH_JOB_ARRAY_INDEX: '0',
      OBJECT_STORE_URI: 'x',
      TABLE_NAME: 't',
    };
    // defaults: one each
    expect(parseDeploymentConfig({}).partitions).toBe(readHandlerSettings({}).PARTITIONS);
    expect(PLAN_DEFAULTS.partitions).toBe(PARTITIONS.default);
    expect(parseDeploymentConfig({}).partitionsPerJob).toBe(readHandlerSettings({}).PARTITIONS_PER_JOB);
    expect(readWorkerEnv({ ...worker, PARTITIONS: String(PARTITIONS.max) }).PARTITIONS_PER_JOB).toBe(
      parseDeploymentConfig({}).partitionsPerJob,
    );
    expect(parseDeploymentConfig({}).refreshAgeDays).toBe(readHandlerSettings({}).REFRESH_AGE_DAYS);
    // limits: what CDK accepts, the plan Lambda and the worker accept, and nothing above
    const wide = { instanceTypes: ['g5'], maxVcpus: 10_000 };
    expect(parseDeploymentConfig({ ...wide, partitions: PARTITIONS.max }).partitions).toBe(PARTITIONS.max);
    expect(readHandlerSettings({ PARTITIONS: String(PARTITIONS.max) }).PARTITIONS).toBe(PARTITIONS.max);
    expect(readWorkerEnv({ ...worker, PARTITIONS: String(PARTITIONS.max) }).PARTITIONS).toBe(PARTITIONS.max);
    expect(() => parseDeploymentConfig({ ...wide, partitions: PARTITIONS.max + 1 })).toThrow(/partitions:/);
    expect(() => readHandlerSettings({ PARTITIONS: String(PARTITIONS.max + 1) })).toThrow(/PARTITIONS:/);
    expect(() => readWorkerEnv({ ...worker, PARTITIONS: String(PARTITIONS.max + 1) })).toThrow(/PARTITIONS:/);
    for (const [key, env, limit] of [
      ['partitionsPerJob', 'PARTITIONS_PER_JOB', PARTITIONS_PER_JOB],
      ['refreshAgeDays', 'REFRESH_AGE_DAYS', REFRESH_AGE_DAYS],
    ] as const) {
      expect(() => parseDeploymentConfig({ ...wide, [key]: limit.max + 1 })).toThrow(new RegExp(`${key}:`));
      expect(() => readHandlerSettings({ [env]: String(limit.max + 1) })).toThrow(new RegExp(`${env}:`));
      expect(readHandlerSettings({ [env]: String(limit.max) })[env]).toBe(limit.max);
      const roomy = { ...wide, partitions: PARTITIONS.max, embeddingRetentionDays: 3650 };
      expect(parseDeploymentConfig({ ...roomy, [key]: limit.max })[key]).toBe(limit.max);
    }
    // the worker reads the per-job count with the same limit
    const atMax = { ...worker, PARTITIONS: String(PARTITIONS.max) };
    expect(readWorkerEnv({ ...atMax, PARTITIONS_PER_JOB: String(PARTITIONS_PER_JOB.max) }).PARTITIONS_PER_JOB).toBe(
      PARTITIONS_PER_JOB.max,
    );
    expect(() => readWorkerEnv({ ...atMax, PARTITIONS_PER_JOB: String(PARTITIONS_PER_JOB.max + 1) })).toThrow(
      /PARTITIONS_PER_JOB:/,
    );
  });

  it("takes the write policy's threshold (default and limit) from the run contract, `off` to write every user", async () => {
    const { readHandlerSettings } = await import('../src/contract/stage-env.ts');
    const { WRITE_SKIP_COSINE } = await import('../src/contract/run-contract.ts');
    const { DEFAULT_SKIP_COSINE } = await import('../src/pipeline/write-policy.ts');
    expect(parseDeploymentConfig({}).writeSkipCosine).toBe(WRITE_SKIP_COSINE.default);
    expect(DEFAULT_SKIP_COSINE).toBe(WRITE_SKIP_COSINE.default);
    // -c overrides arrive as strings
    expect(readDeploymentConfig(context({ writeSkipCosine: '0.9' })).writeSkipCosine).toBe(0.9);
    expect(readDeploymentConfig(context({ writeSkipCosine: 'off' })).writeSkipCosine).toBe(false);
    expect(parseDeploymentConfig({ writeSkipCosine: false }).writeSkipCosine).toBe(false);
    expect(parseDeploymentConfig({ writeSkipCosine: WRITE_SKIP_COSINE.max }).writeSkipCosine).toBe(1);
    for (const bad of [0, -0.1, WRITE_SKIP_COSINE.max + 0.01, 'sometimes']) {
      expect(() => parseDeploymentConfig({ writeSkipCosine: bad as number })).toThrow(/writeSkipCosine/);
    }
    // the plan Lambda accepts what CDK accepts, and nothing else
    expect(readHandlerSettings({ WRITE_SKIP_COSINE: '1' }).WRITE_SKIP_COSINE).toBe(1);
    expect(readHandlerSettings({}).WRITE_SKIP_COSINE).toBeUndefined();
    expect(() => readHandlerSettings({ WRITE_SKIP_COSINE: '0' })).toThrow(/WRITE_SKIP_COSINE:/);
    expect(() => readHandlerSettings({ WRITE_SKIP_COSINE: '1.01' })).toThrow(/WRITE_SKIP_COSINE:/);
  });

  it('takes compaction (defaults and limits) from the run contract, the same for CDK, the plan Lambda, the plan and the CLI', async () => {
    const { readHandlerSettings } = await import('../src/contract/stage-env.ts');
    const { COMPACT_DELTA_SHARE, COMPACT_EVERY_DAYS } = await import('../src/contract/run-contract.ts');
    const { PLAN_DEFAULTS } = await import('../src/pipeline/plan.ts');
    // one default
    expect(parseDeploymentConfig({}).compactEveryDays).toBe(COMPACT_EVERY_DAYS.default);
    expect(readHandlerSettings({}).COMPACT_EVERY_DAYS).toBe(COMPACT_EVERY_DAYS.default);
    expect(PLAN_DEFAULTS.compactEveryDays).toBe(COMPACT_EVERY_DAYS.default);
    expect(parseDeploymentConfig({}).compactDeltaShare).toBe(COMPACT_DELTA_SHARE.default);
    expect(readHandlerSettings({}).COMPACT_DELTA_SHARE).toBe(COMPACT_DELTA_SHARE.default);
    expect(PLAN_DEFAULTS.compactDeltaShare).toBe(COMPACT_DELTA_SHARE.default);
    // -c overrides arrive as strings
    expect(readDeploymentConfig(context({ compactEveryDays: '3' })).compactEveryDays).toBe(3);
    expect(readDeploymentConfig(context({ compactDeltaShare: '0.25' })).compactDeltaShare).toBe(0.25);
    // one limit: what CDK accepts the plan Lambda accepts, and nothing beyond it
    expect(readHandlerSettings({ COMPACT_EVERY_DAYS: String(COMPACT_EVERY_DAYS.max) }).COMPACT_EVERY_DAYS).toBe(
      COMPACT_EVERY_DAYS.max,
    );
    for (const bad of [0, COMPACT_EVERY_DAYS.max + 1, 2.5]) {
      expect(() => parseDeploymentConfig({ compactEveryDays: bad })).toThrow(/compactEveryDays:/);
      expect(() => readHandlerSettings({ COMPACT_EVERY_DAYS: String(bad) })).toThrow(/COMPACT_EVERY_DAYS:/);
    }
    for (const bad of [0, -0.5, COMPACT_DELTA_SHARE.max + 1]) {
      expect(() => parseDeploymentConfig({ compactDeltaShare: bad })).toThrow(/compactDeltaShare:/);
      expect(() => readHandlerSettings({ COMPACT_DELTA_SHARE: String(bad) })).toThrow(/COMPACT_DELTA_SHARE:/);
    }
  });

  it("takes the run's write budget and the table's warm throughput, refusing what could not work", async () => {
    const { readWorkerEnv } = await import('../src/contract/stage-env.ts');
    const { RUN_WRITE_UNITS_PER_SECOND } = await import('../src/contract/run-contract.ts');
    expect(parseDeploymentConfig({}).runWriteUnitsPerSecond).toBe(RUN_WRITE_UNITS_PER_SECOND.default);
    expect(parseDeploymentConfig({}).tableWarmWriteUnitsPerSecond).toBeUndefined();
    const raised = readDeploymentConfig(
      context({ runWriteUnitsPerSecond: '64000', tableWarmWriteUnitsPerSecond: '64000' }),
    );
    expect(raised).toMatchObject({ runWriteUnitsPerSecond: 64_000, tableWarmWriteUnitsPerSecond: 64_000 });
    for (const bad of [0, 1.5, RUN_WRITE_UNITS_PER_SECOND.max + 1]) {
      expect(() => parseDeploymentConfig({ runWriteUnitsPerSecond: bad })).toThrow(/runWriteUnitsPerSecond:/);
    }
    // below what a new on-demand table serves anyway, a pre-warm would buy nothing
    expect(() => parseDeploymentConfig({ tableWarmWriteUnitsPerSecond: 1000 })).toThrow(
      /tableWarmWriteUnitsPerSecond:/,
    );
    // the worker refuses a pace that is not a positive number
    const worker = {
      RUN_DATE: '2026-01-02',
      MODEL_VERSION: 'pf-test',
      AWS_BATCH_JOB_ARRAY_INDEX: '0',
      PARTITIONS: '4',
      OBJECT_STORE_URI: 's3://bucket',
      TABLE_NAME: 'table',
    };
    expect(readWorkerEnv({ ...worker, WRITE_UNITS_PER_SECOND_PER_LANE: '2000' }).WRITE_UNITS_PER_SECOND_PER_LANE).toBe(
      2000,
    );
    expect(() => readWorkerEnv({ ...worker, WRITE_UNITS_PER_SECOND_PER_LANE: '0' })).toThrow(
      /WRITE_UNITS_PER_SECOND_PER_LANE/,
    );
  });

  it('refuses a context value that is not an object', () => {
    expect(() => readDeploymentConfig(context({ [CONFIG_CONTEXT_KEY]: 'x' }))).toThrow(/must be an object/);
  });
});
