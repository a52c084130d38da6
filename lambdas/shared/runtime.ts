/**
 * What every handler shares: its settings from the environment (validated once), Powertools
 * (structured logs, EMF metrics, X-Ray tracing of the SDK clients) and the stores. Stores are
 * created once per container and reused across invocations.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { type HandlerSettings, readHandlerSettings } from '../../src/contract/stage-env.ts';
import { DynamoEmbeddingStore } from '../../src/embeddings/dynamo-store.ts';
import { storeClient } from '../../src/embeddings/store-config.ts';
import type { EmbeddingStore } from '../../src/embeddings/types.ts';
import type { PipelineEnv } from '../../src/pipeline/types.ts';
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

let cached: { key: string; env: PipelineEnv } | undefined;

/**
 * The stores of this container. `withTable: false` gives a store that refuses every call, for the
 * stages that must never touch the table (their role cannot either).
 */
export async function pipelineEnv(settings: HandlerSettings, withTable: boolean): Promise<PipelineEnv> {
  const key = JSON.stringify([settings, withTable]);
  if (cached?.key === key) return cached.env;
  // S3 has native conditional puts: no probe object (and no s3:DeleteObject) needed.
  const objects = openObjectStore(required(settings.OBJECT_STORE_URI, 'OBJECT_STORE_URI'), {
    conditionalPuts: 'native',
  });
  const env: PipelineEnv = {
    objects,
    embeddings: withTable ? embeddingStore(settings) : noTableStore,
    log: (message, fields) => logger.info(message, { ...fields }),
  };
  cached = { key, env };
  return env;
}

export function embeddingStore(settings: HandlerSettings): DynamoEmbeddingStore {
  const client = tracer.captureAWSv3Client(storeClient({ endpoint: settings.DYNAMODB_ENDPOINT }));
  return new DynamoEmbeddingStore({
    tableName: required(settings.TABLE_NAME, 'TABLE_NAME'),
    client,
    dtype: settings.EMBEDDING_DTYPE,
    retentionDays: settings.EMBEDDING_RETENTION_DAYS,
  });
}

/** An EmbeddingStore whose every method throws: the partition stage has no table. */
const noTableStore = new Proxy({} as EmbeddingStore, {
  get: (_target, property) => {
    if (property === 'then') return undefined;
    return () => {
      throw new ValidationError(`this stage has no access to the embedding table (called ${String(property)})`);
    };
  },
});

/**
 * Runs a handler body with the Lambda context on the logger, flushes metrics, and logs failures
 * with their typed code. Errors are rethrown as they are: Step Functions matches on their name.
 */
export async function instrumented<T>(name: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    const code = error instanceof PinnerFormerError ? error.code : 'UNEXPECTED';
    logger.error(`${name} failed`, { code, error: error as Error });
    metrics.addMetric(`${name}Failed`, 'Count', 1);
    throw error;
  } finally {
    metrics.publishStoredMetrics();
  }
}
