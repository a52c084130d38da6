/**
 * Entry point of the Batch GPU container: array child i embeds partitions i·K .. i·K+K-1
 * (K = PARTITIONS_PER_JOB, the run contract's default when unset, as for the plan) of the run the state machine passes in RUN_DATE /
 * MODEL_VERSION. With K > 1 the partitions run at once on K lanes (stage threads, each with
 * its own session on the same GPU, inference thread and writer thread), so the container's CPU work
 * (read, merge, featurize, write) keeps pace with its GPU (docs/deploy.md). With the CUDA provider
 * it first proves the GPU is really used (a CUDA session on the deployed model with CPU fallback
 * disabled) and fails fast otherwise. Exit codes drive Batch's retry strategy
 * (src/contract/run-contract.ts EXIT_CODES): 75 = transient, retried; anything else = not retried.
 */
import { availableParallelism } from 'node:os';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EXIT_CODES, METRIC_SERVICES, RUN_METRICS } from '../src/contract/run-contract.ts';
import { readWorkerEnv } from '../src/contract/stage-env.ts';
import { DynamoEmbeddingWriter, threadConfigOf } from '../src/embeddings/embedding-writer.ts';
import { storeClient } from '../src/embeddings/store-config.ts';
import { requireGpu } from '../src/inference/session.ts';
import type { EmbedPartitionInput } from '../src/pipeline/embed.ts';
import { embedPartition, localModelDirectory } from '../src/pipeline/index.ts';
import { defaultOverlap } from '../src/pipeline/overlap.ts';
import type { StageThreadConfig } from '../src/pipeline/stage-thread.ts';
import { StageThreadPool } from '../src/pipeline/stage-thread-pool.ts';
import type { EmbedEnv, ExecutionProvider, PartitionResult } from '../src/pipeline/types.ts';
import { openObjectStore } from '../src/storage/open-object-store.ts';
import { PinnerFormerError, TransientError, ValidationError } from '../src/util/errors.ts';

/** Exit codes Batch's retry strategy reads (the run contract): 75 = transient, retried. */
export const EXIT = EXIT_CODES;

/** The partitions array child `index` embeds: K consecutive ones, fewer in the last child. */
export function partitionsOfChild(index: number, partitions: number, perJob: number): number[] {
  const first = index * perJob;
  return Array.from({ length: Math.max(0, Math.min(perJob, partitions - first)) }, (_, i) => first + i);
}

export interface WorkerSettings {
  readonly date: string;
  readonly modelVersion: string;
  /** This child's partitions, embedded at once (one lane each) when there are several. */
  readonly partitions: readonly number[];
  readonly objectStoreUri: string;
  readonly tableName: string;
  readonly executionProvider: ExecutionProvider;
  readonly dtype: 'float16' | 'float32';
  readonly retentionDays: number;
  /** Each lane's write pace (write units per second); absent: unpaced. */
  readonly writeUnitsPerSecond?: number;
  readonly dynamoEndpoint?: string;
}

export function readWorkerSettings(env: NodeJS.ProcessEnv): WorkerSettings {
  const s = readWorkerEnv(env);
  return {
    date: s.RUN_DATE,
    modelVersion: s.MODEL_VERSION,
    partitions: partitionsOfChild(s.AWS_BATCH_JOB_ARRAY_INDEX, s.PARTITIONS, s.PARTITIONS_PER_JOB),
    objectStoreUri: s.OBJECT_STORE_URI,
    tableName: s.TABLE_NAME,
    executionProvider: s.EXECUTION_PROVIDER,
    dtype: s.EMBEDDING_DTYPE,
    retentionDays: s.EMBEDDING_RETENTION_DAYS,
    ...(s.WRITE_UNITS_PER_SECOND_PER_LANE === undefined
      ? {}
      : { writeUnitsPerSecond: s.WRITE_UNITS_PER_SECOND_PER_LANE }),
    ...(s.DYNAMODB_ENDPOINT ? { dynamoEndpoint: s.DYNAMODB_ENDPOINT } : {}),
  };
}

const conditionalPutsFor = (uri: string) => (uri.startsWith('s3://') ? ({ conditionalPuts: 'native' } as const) : {});

/** The embed stage's stores: the object store and the table's writer role, nothing else (src/contract/table-access.ts). */
export function openWorkerEnv(settings: WorkerSettings, log: Logger): EmbedEnv {
  const connection = settings.dynamoEndpoint ? { endpoint: settings.dynamoEndpoint } : {};
  return {
    objects: openObjectStore(settings.objectStoreUri, conditionalPutsFor(settings.objectStoreUri)),
    embeddings: new DynamoEmbeddingWriter({
      tableName: settings.tableName,
      client: storeClient(connection),
      // described as data too, so that the embed stage's writer thread opens its own client (same settings)
      connection,
      dtype: settings.dtype,
      retentionDays: settings.retentionDays,
    }),
    log: (message, fields) => log.info(message, { ...fields }),
  };
}

/** Partitions embedded at once, one per lane; close() ends the lanes. */
export interface Lanes {
  embed(input: EmbedPartitionInput): Promise<PartitionResult>;
  close(): Promise<void>;
}

/**
 * K lanes on stage threads (src/pipeline/stage-thread-pool.ts), each opening the same object
 * store and table as `env` from their descriptions. With the CPU provider the cores are shared out
 * between the lanes' onnxruntime threads.
 */
export function openLanes(settings: WorkerSettings, env: EmbedEnv, lanes: number): Lanes {
  const store = threadConfigOf(env.embeddings);
  if (!store) throw new ValidationError('the embedding writer cannot be described for lane threads');
  const config: StageThreadConfig = {
    objects: settings.objectStoreUri,
    ...conditionalPutsFor(settings.objectStoreUri),
    store,
    overlap: defaultOverlap(settings.executionProvider),
  };
  const pool = new StageThreadPool(lanes, config, (message) => env.log?.(message));
  const threads =
    settings.executionProvider === 'cpu' ? Math.max(1, Math.floor(availableParallelism() / lanes)) : undefined;
  return {
    embed: (input) =>
      pool.run<PartitionResult>({ kind: 'embed', input: { ...input, ...(threads === undefined ? {} : { threads }) } }),
    close: () => pool.close(),
  };
}

/** The parts of the worker a test may replace to inject faults; defaults are the real stages. */
export interface WorkerDeps {
  readonly requireGpu: (onnxPath: string) => Promise<void>;
  /** One partition in this thread (a child with one partition). */
  readonly embedPartition: typeof embedPartition;
  /** Lanes for a child with several partitions. */
  readonly openLanes: typeof openLanes;
}

const realDeps: WorkerDeps = { requireGpu: (onnxPath) => requireGpu(onnxPath), embedPartition, openLanes };

/**
 * The error a child with several failed partitions exits with: one that retrying cannot fix wins
 * (its partition would fail again), else a transient one (Batch reruns the child; the partitions
 * that succeeded are rewritten with the same bytes).
 */
export function decisiveError(errors: readonly unknown[]): unknown {
  return errors.find((error) => exitCodeFor(error) !== EXIT.transient) ?? errors[0];
}

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
 * Embeds the child's partitions: one in this thread, several at once on lanes. With CUDA: GPU
 * check first, before anything is written. Emits the PartitionSucceeded/PartitionFailed metrics
 * the partition-failure alarm reads, one count per partition. Every partition runs to its end
 * even when another fails; then the child fails with decisiveError.
 */
export async function runWorker(
  settings: WorkerSettings,
  env: EmbedEnv,
  metrics: Metrics,
  deps: WorkerDeps = realDeps,
): Promise<PartitionResult[]> {
  const { partitions } = settings;
  const inputOf = (partition: number): EmbedPartitionInput => ({
    date: settings.date,
    modelVersion: settings.modelVersion,
    partition,
    executionProvider: settings.executionProvider,
    ...(settings.writeUnitsPerSecond === undefined ? {} : { writeUnitsPerSecond: settings.writeUnitsPerSecond }),
  });
  let lanes: Lanes | undefined;
  try {
    try {
      if (settings.executionProvider === 'cuda') {
        const model = await localModelDirectory(env, settings.modelVersion);
        await deps.requireGpu(model.onnxPath);
        env.log?.('GPU check passed: the CUDA execution provider runs the model', { partitions: [...partitions] });
      }
      if (partitions.length > 1) lanes = deps.openLanes(settings, env, partitions.length);
    } catch (error) {
      // nothing ran: every partition of the child failed
      metrics.addMetric(RUN_METRICS.partitionFailed.name, 'Count', partitions.length);
      throw error;
    }
    const outcomes = await Promise.allSettled(
      partitions.map((partition) =>
        lanes ? lanes.embed(inputOf(partition)) : deps.embedPartition(env, inputOf(partition)),
      ),
    );
    const results: PartitionResult[] = [];
    const errors: unknown[] = [];
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') {
        results.push(outcome.value);
        metrics.addMetric(RUN_METRICS.partitionSucceeded.name, 'Count', 1);
        metrics.addMetric(RUN_METRICS.embeddedUsers.name, 'Count', outcome.value.embeddedUsers);
      } else {
        errors.push(outcome.reason);
        metrics.addMetric(RUN_METRICS.partitionFailed.name, 'Count', 1);
        env.log?.(`partition ${partitions[i]} failed: ${(outcome.reason as Error)?.message ?? outcome.reason}`);
      }
    });
    if (errors.length > 0) throw decisiveError(errors);
    return results;
  } finally {
    await lanes?.close();
    metrics.publishStoredMetrics();
  }
}

/** The container's main: exit code for Batch, one JSON log line per outcome. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const logger = new Logger({ serviceName: METRIC_SERVICES.embedWorker });
  const metrics = new Metrics({ serviceName: METRIC_SERVICES.embedWorker });
  try {
    const settings = readWorkerSettings(env);
    logger.appendKeys({ date: settings.date, modelVersion: settings.modelVersion, partitions: settings.partitions });
    const results = await runWorker(settings, openWorkerEnv(settings, logger), metrics);
    for (const result of results) logger.info('partition embedded', { result: { ...result } });
    return EXIT.ok;
  } catch (error) {
    const code = exitCodeFor(error);
    logger.error('partitions failed', { exitCode: code, error: error as Error });
    return code;
  }
}
