/**
 * The Batch container's entry point (batch-container/worker.ts): environment validation, the
 * exit codes Batch's retry strategy reads, and the GPU fail-fast check. This machine has no GPU,
 * so the real CUDA check must refuse before anything is written.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EXIT,
  exitCodeFor,
  main,
  readWorkerSettings,
  runWorker,
  type WorkerDeps,
  type WorkerSettings,
} from '../batch-container/worker.ts';
import type { EmbeddingStore } from '../src/embeddings/types.ts';
import { deployModel } from '../src/pipeline/model.ts';
import type { PipelineEnv } from '../src/pipeline/types.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { ModelError, NotFoundError, TransientError, ValidationError } from '../src/util/errors.ts';
import { fixtureModel, fixtureModelVersion } from './pipeline-helpers.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
const MV = fixtureModelVersion('tiny');
const hasGpu = existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0');
const BASE_ENV = {
  RUN_DATE: '2026-03-01',
  MODEL_VERSION: MV,
  AWS_BATCH_JOB_ARRAY_INDEX: '3',
  PARTITIONS: '8',
  OBJECT_STORE_URI: 's3://pinnerformer-data',
  TABLE_NAME: 'pinnerformer',
};

describe('worker environment', () => {
  it('reads its partition from AWS_BATCH_JOB_ARRAY_INDEX and defaults to the CUDA provider', () => {
    expect(readWorkerSettings(BASE_ENV)).toMatchObject({
      date: '2026-03-01',
      modelVersion: MV,
      partition: 3,
      executionProvider: 'cuda',
      dtype: 'float16',
    });
  });

  it.each([
    [{ RUN_DATE: undefined }, /RUN_DATE/],
    [{ AWS_BATCH_JOB_ARRAY_INDEX: undefined }, /AWS_BATCH_JOB_ARRAY_INDEX/],
    [{ AWS_BATCH_JOB_ARRAY_INDEX: '8' }, /must be below PARTITIONS/],
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
    partition: 0,
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
    };
    // Act
    const result = await runWorker(settings, env, metrics(), deps);
    // Assess
    expect(checked).toHaveLength(1);
    expect(checked[0]).toMatch(/model\.onnx$/);
    expect(inputs).toEqual([{ date: '2026-03-01', modelVersion: MV, partition: 0, executionProvider: 'cuda' }]);
    expect(result.embeddedUsers).toBe(1);
  });
});

describe('batch-container/Dockerfile (static checks; it cannot be built here)', () => {
  const root = join(import.meta.dirname, '..');
  const dockerfile = readFileSync(join(root, 'batch-container', 'Dockerfile'), 'utf8');

  it('runs the worker on a CUDA 12 + cuDNN 9 runtime with Node 22, as a non-root user', () => {
    const bases = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(bases).toContain('node:22-bookworm-slim');
    // CUDA 12 images tagged "cudnn" (12.4 and later) carry cuDNN 9
    expect(bases.at(-1)).toMatch(/^nvidia\/cuda:12\.([4-9]|\d\d)\.\d+-cudnn-runtime-/);
    expect(dockerfile).toMatch(/ONNXRUNTIME_NODE_INSTALL_CUDA=v12/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const user = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]).at(-1);
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(dockerfile).toMatch(/ENTRYPOINT \["node", "--import", "tsx", "batch-container\/worker\.ts"\]/);
  });

  it('copies only paths that exist and that the CDK asset and .dockerignore both send', async () => {
    const { IMAGE_CONTEXT_EXCLUDE } = await import('../cdk/constructs/embed-batch.ts');
    const ignore = readFileSync(join(root, 'batch-container', 'Dockerfile.dockerignore'), 'utf8')
      .trim()
      .split('\n');
    expect(ignore).toEqual(IMAGE_CONTEXT_EXCLUDE);
    // CDK runs `docker build -f batch-container/Dockerfile` in the staged context: it must be sent
    expect(IMAGE_CONTEXT_EXCLUDE).toContain('!batch-container/Dockerfile');
    const sources = [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)].flatMap((m) =>
      m[1]!.trim().split(/\s+/),
    );
    expect(sources.length).toBeGreaterThan(3);
    for (const source of sources) {
      expect(existsSync(join(root, source)), source).toBe(true);
      const included = IMAGE_CONTEXT_EXCLUDE.some((p) => p === `!${source}` || p === `!${source}/**`);
      expect(included, `${source} is sent in the build context`).toBe(true);
    }
  });
});
