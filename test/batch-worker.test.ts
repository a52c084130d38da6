/**
 * The Batch container's entry point (batch-container/worker.ts): environment validation, the
 * exit codes Batch's retry strategy reads, and the GPU fail-fast check. This machine has no GPU,
 * so the real CUDA check must refuse before anything is written.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decisiveError,
  EXIT,
  exitCodeFor,
  main,
  openLanes,
  partitionsOfChild,
  readWorkerSettings,
  runWorker,
  type WorkerDeps,
  type WorkerSettings,
} from '../batch-container/worker.ts';
import { buildBundles, DEFAULT_ENTRIES } from '../bin/build.ts';
import type { EmbeddingStore } from '../src/embeddings/types.ts';
import { connectLocalEmbeddings, type LocalEmbeddings, openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { deployModel } from '../src/pipeline/model.ts';
import { partitionSlice } from '../src/pipeline/partition.ts';
import { plan } from '../src/pipeline/plan.ts';
import type { PartitionResult, PipelineEnv } from '../src/pipeline/types.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { runNode } from '../src/testing/crash-harness.ts';
import { startDynamoFaultProxy } from '../src/testing/dynamo-fault-proxy.ts';
import { ModelError, NotFoundError, TransientError, ValidationError } from '../src/util/errors.ts';
import { fixtureModel, fixtureModelVersion, scanTable, syntheticDataDir } from './pipeline-helpers.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
const MV = fixtureModelVersion('tiny');
const DAY0 = '2026-03-01';
const RUN_DAY = '2026-03-03';
const hasGpu = existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0');
const BASE_ENV = {
  RUN_DATE: '2026-03-01',
  MODEL_VERSION: MV,
  AWS_BATCH_JOB_ARRAY_INDEX: '3',
  PARTITIONS: '8',
  PARTITIONS_PER_JOB: '1',
  OBJECT_STORE_URI: 's3://pinnerformer-data',
  TABLE_NAME: 'pinnerformer',
};

describe('worker environment', () => {
  it('reads its partition from AWS_BATCH_JOB_ARRAY_INDEX and defaults to the CUDA provider', () => {
    expect(readWorkerSettings(BASE_ENV)).toMatchObject({
      date: '2026-03-01',
      modelVersion: MV,
      partitions: [3],
      executionProvider: 'cuda',
      dtype: 'float16',
    });
  });

  it.each([
    // [partitions, per job, array index, the child's partitions]
    [8, 2, 3, [6, 7]],
    [7, 2, 3, [6]],
    [16, 4, 0, [0, 1, 2, 3]],
    [5, 1, 4, [4]],
  ])('with %i partitions and %i per job, child %i embeds %j', (partitions, perJob, index, expected) => {
    const env = {
      ...BASE_ENV,
      PARTITIONS: String(partitions),
      PARTITIONS_PER_JOB: String(perJob),
      AWS_BATCH_JOB_ARRAY_INDEX: String(index),
    };
    expect(readWorkerSettings(env).partitions).toEqual(expected);
    expect(partitionsOfChild(index, partitions, perJob)).toEqual(expected);
  });

  it.each([
    [{ RUN_DATE: undefined }, /RUN_DATE/],
    // a well-formed day that does not exist
    [{ RUN_DATE: '2026-02-31' }, /RUN_DATE: expected an existing day as YYYY-MM-DD/],
    [{ PARTITIONS: '4097' }, /PARTITIONS:/],
    [{ AWS_BATCH_JOB_ARRAY_INDEX: undefined }, /AWS_BATCH_JOB_ARRAY_INDEX/],
    [{ AWS_BATCH_JOB_ARRAY_INDEX: '8' }, /must be below the array size/],
    [{ PARTITIONS_PER_JOB: '3' }, /must be below the array size/],
    [{ PARTITIONS_PER_JOB: '0' }, /PARTITIONS_PER_JOB/],
    [{ PARTITIONS_PER_JOB: '17' }, /PARTITIONS_PER_JOB/],
    [{ PARTITIONS_PER_JOB: 'two' }, /PARTITIONS_PER_JOB/],
    [{ MODEL_VERSION: 'a/b' }, /MODEL_VERSION/],
    [{ EXECUTION_PROVIDER: 'tpu' }, /EXECUTION_PROVIDER/],
  ])('refuses %j with a ValidationError naming the variable', (change, message) => {
    const env = { ...BASE_ENV, ...change } as NodeJS.ProcessEnv;
    expect(() => readWorkerSettings(env)).toThrow(ValidationError);
    expect(() => readWorkerSettings(env)).toThrow(message);
  });
});

describe('exit codes for the Batch retry strategy', () => {
  it('retries transient failures (75) and nothing else', () => {
    expect(exitCodeFor(new TransientError('DynamoDB kept throttling'))).toBe(EXIT.transient);
    expect(exitCodeFor(new ValidationError('bad input'))).toBe(EXIT.invalid);
    expect(exitCodeFor(new NotFoundError('no work files'))).toBe(EXIT.invalid);
    expect(exitCodeFor(new ModelError('no GPU'))).toBe(EXIT.model);
    expect(exitCodeFor(new Error('bug'))).toBe(EXIT.unexpected);
    expect(new Set(Object.values(EXIT)).size).toBe(Object.values(EXIT).length);
  });

  it('exits 2 on a bad environment without touching any store', async () => {
    expect(await main({ ...BASE_ENV, RUN_DATE: 'yesterday', POWERTOOLS_LOG_LEVEL: 'SILENT' })).toBe(EXIT.invalid);
  });
});

describe('the GPU check', () => {
  let dir: string;
  let env: PipelineEnv;
  const settings: WorkerSettings = {
    date: '2026-03-01',
    modelVersion: MV,
    partitions: [0],
    objectStoreUri: '',
    tableName: 'unused',
    executionProvider: 'cuda',
    dtype: 'float16',
    retentionDays: 30,
  };
  const untouchedStore = new Proxy({} as EmbeddingStore, {
    get: (_t, property) =>
      property === 'then' ? undefined : () => Promise.reject(new Error(`store.${String(property)} called`)),
  });
  const metrics = () => new Metrics({ namespace: 'PinnerFormerTest', serviceName: 'embed-worker' });
  const noLanes: WorkerDeps['openLanes'] = () => {
    throw new Error('one partition runs in this thread, without lanes');
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pf-worker-'));
    const objects = new LocalObjectStore(dir);
    env = { objects, embeddings: untouchedStore };
    await deployModel(env, fixtureModel('tiny'));
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(hasGpu)('fails fast with ModelError when no GPU is visible, before embedding anything', async () => {
    // Prepare: the real GPU check; an embed stage that records whether it ran
    let embedded = false;
    const deps: WorkerDeps = {
      requireGpu: (await import('../src/inference/session.ts')).requireGpu,
      embedPartition: async () => {
        embedded = true;
        throw new Error('must not run');
      },
      openLanes: noLanes,
    };
    // Act + Assess
    await expect(runWorker(settings, env, metrics(), deps)).rejects.toThrow(ModelError);
    await expect(runWorker(settings, env, metrics(), deps)).rejects.toThrow(/GPU was required|CUDA/);
    expect(embedded).toBe(false);
    expect(await env.objects.list('embeddings/')).toEqual([]);
  });

  it('fails fast when the CUDA provider cannot run the model (no quiet CPU fallback)', async () => {
    // Prepare: a device node exists but the provider fails to load, as with a missing libcudnn.so.9
    let embedded = false;
    const deps: WorkerDeps = {
      requireGpu: async () => {
        throw new ModelError('the CUDA execution provider was requested but cannot run this model: libcudnn.so.9');
      },
      embedPartition: async () => {
        embedded = true;
        throw new Error('must not run');
      },
      openLanes: noLanes,
    };
    await expect(runWorker(settings, env, metrics(), deps)).rejects.toThrow(/libcudnn/);
    expect(embedded).toBe(false);
  });

  it('checks the GPU on the deployed model and then embeds the partition with the CUDA provider', async () => {
    // Prepare: a GPU check that passes (as on a g5/g6 host) and an embed stage that reports its input
    const checked: string[] = [];
    const inputs: unknown[] = [];
    const deps: WorkerDeps = {
      requireGpu: async (onnxPath) => {
        checked.push(onnxPath);
      },
      embedPartition: async (_env, input) => {
        inputs.push(input);
        return {
          partition: input.partition,
          users: 1,
          activeUsers: 1,
          embeddedUsers: 1,
          secondsByStep: {},
          writeStats: { items: 1, requests: 1, retries: 0 },
        } as never;
      },
      openLanes: noLanes,
    };
    // Act
    const result = await runWorker(settings, env, metrics(), deps);
    // Assess
    expect(checked).toHaveLength(1);
    expect(checked[0]).toMatch(/model\.onnx$/);
    expect(inputs).toEqual([{ date: '2026-03-01', modelVersion: MV, partition: 0, executionProvider: 'cuda' }]);
    expect(result.map((r) => r.embeddedUsers)).toEqual([1]);
  });
});

describe('several partitions per child (lanes)', () => {
  const metrics = () => new Metrics({ namespace: 'PinnerFormerTest', serviceName: 'embed-worker' });
  let dataDir: string;
  const tables: LocalEmbeddings[] = [];
  const copies: string[] = [];

  beforeAll(async () => {
    // Prepare: one run planned and partitioned (3 partitions), as the Lambdas leave it for Batch
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    dataDir = await syntheticDataDir(90, 3, DAY0);
    const objects = new LocalObjectStore(dataDir);
    // plan starts from the newest published day, so it reads a version registry (empty here)
    const registry = await openLocalEmbeddings({});
    tables.push(registry);
    const env: PipelineEnv = { objects, embeddings: registry.store };
    await deployModel(env, fixtureModel('tiny'));
    const run = await plan(env, { date: RUN_DAY, modelVersion: MV, partitions: 3, backfill: true });
    for (const slice of run.slices) await partitionSlice(env, { date: RUN_DAY, modelVersion: MV, slice: slice.index });
  });
  afterAll(async () => {
    for (const table of tables) await table.close();
    for (const dir of [dataDir, ...copies]) rmSync(dir, { recursive: true, force: true });
  });

  /** A copy of the partitioned run with its own table, and the worker's env on it as in AWS. */
  async function copyOfRun(
    name: string,
  ): Promise<{ env: PipelineEnv; settings: WorkerSettings; table: LocalEmbeddings }> {
    const objectsDir = `${dataDir}-${name}`;
    copies.push(objectsDir);
    cpSync(dataDir, objectsDir, { recursive: true });
    const table = await openLocalEmbeddings({ store: { wallClockExpiry: false } });
    tables.push(table);
    const settings: WorkerSettings = {
      date: RUN_DAY,
      modelVersion: MV,
      partitions: [],
      objectStoreUri: objectsDir,
      tableName: table.tableName,
      executionProvider: 'cpu',
      dtype: 'float16',
      retentionDays: 30,
    };
    const env: PipelineEnv = { objects: new LocalObjectStore(objectsDir), embeddings: table.store };
    return { env, settings, table };
  }

  const snapshotBytes = (objectsDir: string) =>
    readdirSync(objectsDir, { recursive: true, encoding: 'utf8' })
      .filter((path) => /^(sequences|embeddings)\//.test(path) && path.endsWith('.parquet'))
      .sort()
      .map((path) => [path, readFileSync(join(objectsDir, path)).toString('base64')]);

  it('embeds its partitions at once on lanes, with the same table items and snapshots as one per child', async () => {
    // Prepare: the same run twice: three children of one partition, and one child of three
    const single = await copyOfRun('objects-single');
    const laned = await copyOfRun('objects-lanes');
    // Act
    const singles: PartitionResult[] = [];
    for (const partition of [0, 1, 2]) {
      singles.push(...(await runWorker({ ...single.settings, partitions: [partition] }, single.env, metrics())));
    }
    const lanes = await runWorker({ ...laned.settings, partitions: [0, 1, 2] }, laned.env, metrics());
    // Assess: every partition embedded once, and byte-identical outputs
    expect(lanes.map((r) => r.partition)).toEqual([0, 1, 2]);
    expect(lanes.map((r) => r.embeddedUsers)).toEqual(singles.map((r) => r.embeddedUsers));
    expect(lanes.reduce((n, r) => n + r.embeddedUsers, 0)).toBeGreaterThan(30);
    const items = await scanTable(laned.table);
    expect(items.size).toBeGreaterThan(30);
    expect(items).toEqual(await scanTable(single.table));
    const snapshots = snapshotBytes(laned.settings.objectStoreUri);
    expect(snapshots.length).toBeGreaterThanOrEqual(6);
    expect(snapshots).toEqual(snapshotBytes(single.settings.objectStoreUri));
  });

  it('runs every partition to its end and exits with the failure that retrying cannot fix', async () => {
    // Prepare: real lanes on real faults: partition 1's work file is gone (bad input, a
    // ValidationError), and the table answers every BatchWriteItem with a throttle (through the
    // fault proxy in front of dynalite), so partitions 0 and 2 give up with a TransientError
    const { settings, table } = await copyOfRun('objects-faults');
    const objectsDir = settings.objectStoreUri;
    const workPrefix = join(objectsDir, 'work', MV, `dt=${RUN_DAY}`);
    const partition1 = readdirSync(workPrefix, { recursive: true, encoding: 'utf8' }).filter((p) =>
      /partition=0*1\/slice=\d+\.parquet$/.test(p),
    );
    expect(partition1.length).toBeGreaterThan(0);
    rmSync(join(workPrefix, partition1[0]!));
    const proxy = await startDynamoFaultProxy({
      target: table.endpoint,
      throttleRate: 1,
      unprocessedRate: 0,
      operations: ['BatchWriteItem'],
    });
    const throttled = connectLocalEmbeddings(proxy.endpoint, table.tableName, {
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
    });
    const logged: string[] = [];
    const env: PipelineEnv = {
      objects: new LocalObjectStore(objectsDir),
      embeddings: throttled.store,
      log: (message) => logged.push(message),
    };
    // the real lanes, watched: which partitions they were given and whether they were closed
    const started: number[] = [];
    let closed = false;
    const deps: WorkerDeps = {
      requireGpu: async () => {},
      embedPartition: async () => {
        throw new Error('several partitions run on lanes');
      },
      openLanes: (laneSettings, laneEnv, count) => {
        const lanes = openLanes(laneSettings, laneEnv, count);
        return {
          embed: (input) => {
            started.push(input.partition);
            return lanes.embed(input);
          },
          close: async () => {
            await lanes.close();
            closed = true;
          },
        };
      },
    };
    // Act
    const failure = await runWorker({ ...settings, partitions: [0, 1, 2] }, env, metrics(), deps)
      .catch((e) => e)
      .finally(async () => {
        throttled.close();
        await proxy.close();
      });
    // Assess: all three ran, each failed for its own reason, the lanes closed, and the exit code
    // is "do not retry"
    expect(started).toEqual([0, 1, 2]);
    expect(closed).toBe(true);
    const failed = (partition: number) => logged.find((m) => m.startsWith(`partition ${partition} failed: `));
    expect(failed(1)).toMatch(/work files missing/);
    expect(failed(0)).toMatch(/BatchWriteItem .*still unwritten after 2 attempts/);
    expect(failed(2)).toMatch(/BatchWriteItem .*still unwritten after 2 attempts/);
    expect(proxy.stats.throttled).toBeGreaterThanOrEqual(4); // two groups, two attempts each, at least
    expect(failure).toBeInstanceOf(ValidationError);
    expect(failure.message).toMatch(/partition 1: 1 work files missing/);
    expect(exitCodeFor(failure)).toBe(EXIT.invalid);
    expect(decisiveError([new TransientError('a'), new TransientError('b')])).toBeInstanceOf(TransientError);
    expect(exitCodeFor(decisiveError([new TransientError('a'), new Error('bug')]))).toBe(EXIT.unexpected);
  });

  it('runs bundled, as the container does (dist/batch-worker.mjs, no tsx), with the same outputs as the sources', async () => {
    // Prepare: the bundles `make build` and the Dockerfile make, in a folder whose node_modules
    // resolve (the externals: onnxruntime-node, parquet-wasm); the same run twice
    const scratch = join(import.meta.dirname, '..', '.pinnerformer');
    mkdirSync(scratch, { recursive: true });
    const bundleDir = mkdtempSync(join(scratch, 'test-bundle-'));
    try {
      const bundles = await buildBundles({
        outDir: bundleDir,
        entries: { 'batch-worker': DEFAULT_ENTRIES['batch-worker']! },
      });
      const fromSources = await copyOfRun('objects-sources');
      const bundled = await copyOfRun('objects-bundled');
      await runWorker({ ...fromSources.settings, partitions: [0, 1, 2] }, fromSources.env, metrics());
      // Act: array children 0 (partitions 0 and 1, on two lanes) and 1 (partition 2), as Batch starts them
      const children = await Promise.all(
        [0, 1].map((index) =>
          runNode(bundles['batch-worker']!, [], {
            env: {
              // no loader from the parent's options, and the worker's own log level (this file silences its own)
              NODE_OPTIONS: '',
              POWERTOOLS_LOG_LEVEL: 'INFO',
              RUN_DATE: RUN_DAY,
              MODEL_VERSION: MV,
              PARTITIONS: '3',
              PARTITIONS_PER_JOB: '2',
              AWS_BATCH_JOB_ARRAY_INDEX: String(index),
              OBJECT_STORE_URI: bundled.settings.objectStoreUri,
              TABLE_NAME: bundled.table.tableName,
              DYNAMODB_ENDPOINT: bundled.table.endpoint,
              EXECUTION_PROVIDER: 'cpu',
              AWS_REGION: 'local',
              AWS_ACCESS_KEY_ID: 'local',
              AWS_SECRET_ACCESS_KEY: 'local',
              POWERTOOLS_METRICS_DISABLED: 'true',
            },
          }),
        ),
      );
      // Assess: both exit 0 having logged their partitions; the bundles never load tsx; same bytes
      for (const child of children) expect(child.code, child.stderr + child.stdout).toBe(EXIT.ok);
      const logged = children.flatMap((c) =>
        c.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line)),
      );
      const embedded = logged.filter((line) => line.message === 'partition embedded');
      expect(embedded.map((line) => line.result.partition).sort()).toEqual([0, 1, 2]);
      for (const path of Object.values(bundles))
        expect(readFileSync(path, 'utf8')).not.toMatch(/["']tsx(\/[^"']*)?["']/);
      const items = await scanTable(bundled.table);
      expect(items.size).toBeGreaterThan(30);
      expect(items).toEqual(await scanTable(fromSources.table));
      expect(snapshotBytes(bundled.settings.objectStoreUri)).toEqual(
        snapshotBytes(fromSources.settings.objectStoreUri),
      );
    } finally {
      rmSync(bundleDir, { recursive: true, force: true });
    }
  }, 180_000);
});
