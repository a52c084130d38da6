/**
 * The writer role: a version's embedding items, written in idempotent batches (same key, same
 * bytes), so any retry or rerun leaves the same table. The embed stage's only table access.
 */
import { writeInBatches } from './batch-writer.ts';
import { buildPutRequests } from './embedding-item.ts';
import { AdaptiveConcurrency } from './retry.ts';
import { type StoreThreadConfig, StoreThreadConfigSchema, storeClient } from './store-config.ts';
import { type StoreSettings, storeSettings, type TableStoreOptions } from './store-options.ts';
import { toVersionId } from './table-schema.ts';
import type { EmbeddingDtype, EmbeddingRecord, EmbeddingWriter, VersionId, WriteStats } from './types.ts';

export class DynamoEmbeddingWriter implements EmbeddingWriter {
  public readonly tableName: string;
  public readonly dtype: EmbeddingDtype;
  public readonly retentionDays: number;
  private readonly settings: StoreSettings;
  /** Shared by every writeEmbeddings call of this writer: the whole process's pressure on the table. */
  private readonly writeLimiter: AdaptiveConcurrency;

  public constructor(options: TableStoreOptions) {
    this.settings = storeSettings(options);
    this.tableName = options.tableName;
    this.dtype = this.settings.dtype;
    this.retentionDays = this.settings.retentionDays;
    this.writeLimiter = new AdaptiveConcurrency(this.settings.writeConcurrency);
  }

  public async writeEmbeddings(version: VersionId, records: readonly EmbeddingRecord[]): Promise<WriteStats> {
    const requests = buildPutRequests(toVersionId(version), records, this.dtype, this.retentionDays);
    return writeInBatches(this.settings.table, requests, this.writeLimiter, this.settings.writeConcurrency);
  }

  /** This writer as plain data for another thread (./store-config.ts); undefined without a `connection`. */
  public threadConfig(): StoreThreadConfig | undefined {
    const { connection, table } = this.settings;
    if (!connection) return undefined;
    return {
      tableName: this.tableName,
      connection: { ...connection },
      dtype: this.dtype,
      retentionDays: this.retentionDays,
      writeConcurrency: this.settings.writeConcurrency,
      retry: {
        maxAttempts: table.policy.maxAttempts,
        baseDelayMs: table.policy.baseDelayMs,
        maxDelayMs: table.policy.maxDelayMs,
      },
      wallClockExpiry: this.settings.wallClockExpiry,
    };
  }
}

/** Any writer's description for another thread, when it has one (a Dynamo writer or store built with a `connection`). */
export function threadConfigOf(writer: EmbeddingWriter): StoreThreadConfig | undefined {
  return (writer as Partial<Pick<DynamoEmbeddingWriter, 'threadConfig'>>).threadConfig?.();
}

/** Opens a writer from a description (validated: it crosses a thread boundary). */
export function openWriterFromConfig(config: unknown): { writer: DynamoEmbeddingWriter; close(): void } {
  const c = StoreThreadConfigSchema.parse(config);
  const client = storeClient(c.connection);
  const writer = new DynamoEmbeddingWriter({
    tableName: c.tableName,
    client,
    connection: c.connection,
    dtype: c.dtype,
    retentionDays: c.retentionDays,
    writeConcurrency: c.writeConcurrency,
    retry: c.retry,
    wallClockExpiry: c.wallClockExpiry,
  });
  return { writer, close: () => client.destroy() };
}
