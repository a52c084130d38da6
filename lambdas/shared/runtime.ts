/**
 * What every handler shares: its settings from the environment (validated once), Powertools
 * (structured logs, EMF metrics, X-Ray tracing of the SDK clients) and the stores. Each handler
 * opens only the table role its stage uses (docs/versioning.md, "Roles"); the partition stage
 * opens none. Stores are created once per container and reused across invocations.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { type HandlerSettings, readHandlerSettings } from '../../src/contract/stage-env.ts';
import { DynamoEmbeddingReader } from '../../src/embeddings/embedding-reader.ts';
import { DynamoRunLockTaker } from '../../src/embeddings/run-lock.ts';
import { storeClient } from '../../src/embeddings/store-config.ts';
import type { TableStoreOptions } from '../../src/embeddings/store-options.ts';
import type { EmbeddingReader, RunLockTaker } from '../../src/embeddings/types.ts';
import { DynamoVersionReader } from '../../src/embeddings/version-reader.ts';
import { DynamoVersionRegistry } from '../../src/embeddings/version-registry.ts';
import type { PartitionEnv, PlanEnv, PublishEnv } from '../../src/pipeline/types.ts';
import { openObjectStore } from '../../src/storage/open-object-store.ts';
import { PinnerFormerError, ValidationError } from '../../src/util/errors.ts';

export type { HandlerSettings } from '../../src/contract/stage-env.ts';

/** The function's settings from the environment the stack sets (src/contract/stage-env.ts). */
export function readSettings(env: NodeJS.ProcessEnv = process.env): HandlerSettings {
  return readHandlerSettings(env);
}

export const logger = new Logger();
export const metrics = new Metrics();
export const tracer = new Tracer();

function required(value: string | undefined, name: string): string {
  if (!value) throw new ValidationError(`${name} is not set for this function`);
  return value;
}

const cache = new Map<string, unknown>();

/** One value per container and settings: stores are created once and reused across invocations. */
function once<T>(what: string, settings: HandlerSettings, build: () => T): T {
  const key = JSON.stringify([what, settings]);
  if (!cache.has(key)) cache.set(key, build());
  return cache.get(key) as T;
}

/** The function's object store and log: every stage has them; the partition stage nothing else. */
export function objectsEnv(settings: HandlerSettings): PartitionEnv {
  return once('objects', settings, () => ({
    // S3 has native conditional puts: no probe object (and no s3:DeleteObject) needed.
    objects: openObjectStore(required(settings.OBJECT_STORE_URI, 'OBJECT_STORE_URI'), { conditionalPuts: 'native' }),
    log: (message: string, fields?: Record<string, unknown>) => logger.info(message, { ...fields }),
  }));
}

/** How the function opens a table role (src/embeddings): traced client, the stack's dtype and retention. */
function tableOptions(settings: HandlerSettings): TableStoreOptions {
  return once('table', settings, () => ({
    tableName: required(settings.TABLE_NAME, 'TABLE_NAME'),
    client: tracer.captureAWSv3Client(storeClient({ endpoint: settings.DYNAMODB_ENDPOINT })),
    dtype: settings.EMBEDDING_DTYPE,
    retentionDays: settings.EMBEDDING_RETENTION_DAYS,
  }));
}

/**
 * The plan step's stores: the versions, read only, and the run lock it takes (the state machine
 * releases it). Its role grants exactly these (src/contract/table-access.ts, `plan`).
 */
export function planStores(settings: HandlerSettings): { env: PlanEnv; locks: RunLockTaker } {
  return once('plan', settings, () => ({
    env: { ...objectsEnv(settings), embeddings: new DynamoVersionReader(tableOptions(settings)) },
    locks: new DynamoRunLockTaker(tableOptions(settings)),
  }));
}

/** The publish stage's stores: the version registry (records versions, moves the pointer). */
export function publishEnv(settings: HandlerSettings): PublishEnv {
  return once('publish', settings, () => ({
    ...objectsEnv(settings),
    embeddings: new DynamoVersionRegistry(tableOptions(settings)),
  }));
}

/** The lookup function's only store: the read path. */
export function embeddingReader(settings: HandlerSettings): EmbeddingReader {
  return once('reader', settings, () => new DynamoEmbeddingReader(tableOptions(settings)));
}

/**
 * Runs a handler body with the Lambda context on the logger, flushes metrics, and logs failures
 * with their typed code, counting them as `failedMetric` (the handler's RUN_METRICS entry). Errors
 * are rethrown as they are: Step Functions matches on their name.
 */
export async function instrumented<T>(
  name: string,
  failedMetric: { readonly name: string },
  body: () => Promise<T>,
): Promise<T> {
  try {
    return await body();
  } catch (error) {
    const code = error instanceof PinnerFormerError ? error.code : 'UNEXPECTED';
    logger.error(`${name} failed`, { code, error: error as Error });
    metrics.addMetric(failedMetric.name, 'Count', 1);
    throw error;
  } finally {
    metrics.publishStoredMetrics();
  }
}
