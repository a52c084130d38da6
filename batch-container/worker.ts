/**
 * Entry point of the Batch GPU container: one array child embeds one partition
 * (AWS_BATCH_JOB_ARRAY_INDEX) of the run the state machine passes in RUN_DATE / MODEL_VERSION.
 * With the CUDA provider it first proves the GPU is really used (a CUDA session on the deployed
 * model with CPU fallback disabled) and fails fast otherwise. Exit codes drive Batch's retry
 * strategy (cdk/constructs/embed-batch.ts): 75 = transient, retried; anything else = not retried.
 */
import { pathToFileURL } from 'node:url';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { DynamoEmbeddingStore } from '../src/embeddings/dynamo-store.ts';
import { requireGpu } from '../src/inference/session.ts';
import { embedPartition, localModelDirectory } from '../src/pipeline/index.ts';
import type { ExecutionProvider, PartitionResult, PipelineEnv } from '../src/pipeline/types.ts';
import { openObjectStore } from '../src/storage/open-object-store.ts';
import { PinnerFormerError, TransientError, ValidationError } from '../src/util/errors.ts';

/** Exit codes; 75 (EX_TEMPFAIL) must match WORKER_RETRYABLE_EXIT_CODE in the job definition. */
export const EXIT = { ok: 0, unexpected: 1, invalid: 2, model: 3, transient: 75 } as const;

const WorkerSettingsSchema = z
  .object({
    RUN_DATE: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD'),
    MODEL_VERSION: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected [A-Za-z0-9._-]{1,64}'),
    AWS_BATCH_JOB_ARRAY_INDEX: z.coerce.number().int().min(0),
    PARTITIONS: z.coerce.number().int().min(1),
    OBJECT_STORE_URI: z.string().min(1),
    TABLE_NAME: z.string().min(1),
    EXECUTION_PROVIDER: z.enum(['cpu', 'cuda']).default('cuda'),
    EMBEDDING_DTYPE: z.enum(['float16', 'float32']).default('float16'),
    EMBEDDING_RETENTION_DAYS: z.coerce.number().int().positive().default(30),
    /** Local runs and tests only. */
    DYNAMODB_ENDPOINT: z.url().optional(),
  })
  .refine((s) => s.AWS_BATCH_JOB_ARRAY_INDEX < s.PARTITIONS, {
    message: 'AWS_BATCH_JOB_ARRAY_INDEX must be below PARTITIONS',
    path: ['AWS_BATCH_JOB_ARRAY_INDEX'],
  });

export interface WorkerSettings {
  readonly date: string;
  readonly modelVersion: string;
  readonly partition: number;
  readonly objectStoreUri: string;
  readonly tableName: string;
  readonly executionProvider: ExecutionProvider;
  readonly dtype: 'float16' | 'float32';
  readonly retentionDays: number;
  readonly dynamoEndpoint?: string;
}

export function readWorkerSettings(env: NodeJS.ProcessEnv): WorkerSettings {
  const result = WorkerSettingsSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ValidationError(`invalid worker environment: ${problems.join('; ')}`);
  }
  const s = result.data;
  return {
    date: s.RUN_DATE,
    modelVersion: s.MODEL_VERSION,
    partition: s.AWS_BATCH_JOB_ARRAY_INDEX,
    objectStoreUri: s.OBJECT_STORE_URI,
    tableName: s.TABLE_NAME,
    executionProvider: s.EXECUTION_PROVIDER,
    dtype: s.EMBEDDING_DTYPE,
    retentionDays: s.EMBEDDING_RETENTION_DAYS,
    ...(s.DYNAMODB_ENDPOINT ? { dynamoEndpoint: s.DYNAMODB_ENDPOINT } : {}),
  };
}

export function openWorkerEnv(settings: WorkerSettings, log: Logger): PipelineEnv {
  const onS3 = settings.objectStoreUri.startsWith('s3://');
  return {
    objects: openObjectStore(settings.objectStoreUri, onS3 ? { conditionalPuts: 'native' } : {}),
    embeddings: new DynamoEmbeddingStore({
      tableName: settings.tableName,
      // The store retries throttled batch writes itself with bounded backoff; SDK retries would multiply them.
      client: new DynamoDBClient({
        maxAttempts: 1,
        ...(settings.dynamoEndpoint ? { endpoint: settings.dynamoEndpoint } : {}),
      }),
      // described as data too, so that the embed stage's writer thread opens its own client (same settings)
      connection: settings.dynamoEndpoint ? { endpoint: settings.dynamoEndpoint } : {},
      dtype: settings.dtype,
      retentionDays: settings.retentionDays,
    }),
    log: (message, fields) => log.info(message, { ...fields }),
  };
}

/** The parts of the worker a test may replace to inject faults; defaults are the real stages. */
export interface WorkerDeps {
  readonly requireGpu: (onnxPath: string) => Promise<void>;
  readonly embedPartition: typeof embedPartition;
}

const realDeps: WorkerDeps = { requireGpu: (onnxPath) => requireGpu(onnxPath), embedPartition };

/** Maps a failure to the exit code Batch's retry strategy reads. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof TransientError) return EXIT.transient;
  if (error instanceof PinnerFormerError) {
    if (error.code === 'MODEL') return EXIT.model;
    return EXIT.invalid;
  }
  return EXIT.unexpected;
}

/**
 * Embeds the partition. With CUDA: GPU check first, before anything is written. Emits the
 * PartitionSucceeded/PartitionFailed metrics the partition-failure alarm reads.
 */
export async function runWorker(
  settings: WorkerSettings,
  env: PipelineEnv,
  metrics: Metrics,
  deps: WorkerDeps = realDeps,
): Promise<PartitionResult> {
  try {
    if (settings.executionProvider === 'cuda') {
      const model = await localModelDirectory(env, settings.modelVersion);
      await deps.requireGpu(model.onnxPath);
      env.log?.('GPU check passed: the CUDA execution provider runs the model', { partition: settings.partition });
    }
    const result = await deps.embedPartition(env, {
      date: settings.date,
      modelVersion: settings.modelVersion,
      partition: settings.partition,
      executionProvider: settings.executionProvider,
    });
    metrics.addMetric('PartitionSucceeded', 'Count', 1);
    metrics.addMetric('EmbeddedUsers', 'Count', result.embeddedUsers);
    return result;
  } catch (error) {
    metrics.addMetric('PartitionFailed', 'Count', 1);
    throw error;
  } finally {
    metrics.publishStoredMetrics();
  }
}

/** The container's main: exit code for Batch, one JSON log line per outcome. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const logger = new Logger({ serviceName: 'embed-worker' });
  const metrics = new Metrics({ serviceName: 'embed-worker' });
  try {
    const settings = readWorkerSettings(env);
    logger.appendKeys({ date: settings.date, modelVersion: settings.modelVersion, partition: settings.partition });
    const result = await runWorker(settings, openWorkerEnv(settings, logger), metrics);
    logger.info('partition embedded', { result: { ...result } });
    return EXIT.ok;
  } catch (error) {
    const code = exitCodeFor(error);
    logger.error('partition failed', { exitCode: code, error: error as Error });
    return code;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
