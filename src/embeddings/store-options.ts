/**
 * How any role over the embedding table is opened (./embedding-writer.ts, ./version-registry.ts,
 * ./run-lock.ts, ./embedding-reader.ts, and ./dynamo-store.ts with all of them): the options,
 * their defaults, and the settings they resolve to.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ValidationError } from '../util/errors.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.ts';
import type { TableContext } from './table-context.ts';
import { DEFAULT_DTYPE, DEFAULT_RETENTION_DAYS } from './table-schema.ts';
import type { EmbeddingDtype } from './types.ts';

/** How a client was connected, as plain data another thread can open again. */
export interface StoreConnection {
  /** Endpoint URL (dynalite, a proxy, a VPC endpoint); the SDK's default for the region when absent. */
  readonly endpoint?: string;
  /** Dummy region and credentials of local mode (src/local/dynalite.ts) instead of the default chain. */
  readonly local?: boolean;
}

export interface TableStoreOptions {
  readonly tableName: string;
  readonly client: DynamoDBClient;
  /** Storage dtype of new writes; default float16. Reads follow each item's own dtype. */
  readonly dtype?: EmbeddingDtype;
  /** Days an embedding is kept after its date (TTL); default 30. */
  readonly retentionDays?: number;
  /**
   * Most BatchWriteItem calls in flight for this store, across concurrent writeEmbeddings calls
   * (adaptive below it: halved per throttle, +1 per round of successes); default 4.
   */
  readonly writeConcurrency?: number;
  /** Queries in flight per lookupMany; default 16. */
  readonly readConcurrency?: number;
  /** Retry policy of every call; defaults in DEFAULT_RETRY_POLICY (8 attempts, 50 ms base, 2 s cap). */
  readonly retry?: Partial<RetryPolicy>;
  /** Clock in epoch ms (wall-clock expiry, timestamps); default Date.now. */
  readonly now?: () => number;
  /**
   * Also judge expiry by the wall clock: hide items whose TTL has passed (DynamoDB deletes them
   * lazily) and refuse pinned versions past retention. Default true (AWS). Local mode over
   * historical or synthetic dates turns it off: there expiry is judged against the served
   * version's date only, which is always the case as well (see docs/versioning.md).
   */
  readonly wallClockExpiry?: boolean;
  /**
   * How `client` was connected, when a plain description can say it: lets another thread open
   * its own connection to the same table (threadConfig()). Absent: this store cannot be described.
   */
  readonly connection?: StoreConnection;
}

/** TableStoreOptions with every default applied. */
export interface StoreSettings {
  readonly table: TableContext;
  readonly dtype: EmbeddingDtype;
  readonly retentionDays: number;
  readonly writeConcurrency: number;
  readonly readConcurrency: number;
  readonly wallClockExpiry: boolean;
  readonly connection: StoreConnection | undefined;
}

export function storeSettings(options: TableStoreOptions): StoreSettings {
  const retentionDays = options.retentionDays ?? DEFAULT_RETENTION_DAYS;
  if (!(retentionDays > 0)) throw new ValidationError(`retentionDays must be positive, got ${retentionDays}`);
  return {
    table: {
      client: options.client,
      tableName: options.tableName,
      policy: { ...DEFAULT_RETRY_POLICY, ...options.retry },
      now: options.now ?? Date.now,
    },
    dtype: options.dtype ?? DEFAULT_DTYPE,
    retentionDays,
    writeConcurrency: Math.max(1, options.writeConcurrency ?? 4),
    readConcurrency: Math.max(1, options.readConcurrency ?? 16),
    wallClockExpiry: options.wallClockExpiry ?? true,
    connection: options.connection,
  };
}
