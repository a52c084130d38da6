/**
 * The versioned embedding store over one DynamoDB table with every role at once (schema:
 * ./table-schema.ts, contract: docs/versioning.md): local mode, the operators' CLI and tests. The
 * stages and handlers on AWS open only the role they use (./embedding-writer.ts,
 * ./version-reader.ts, ./version-registry.ts, ./run-lock.ts, ./embedding-reader.ts); this class
 * delegates to one of each, sharing the options (and so the table, the retry policy and the clock).
 */
import { DynamoEmbeddingReader } from './embedding-reader.ts';
import { DynamoEmbeddingWriter } from './embedding-writer.ts';
import { DynamoRunLocks } from './run-lock.ts';
import type { StoreThreadConfig } from './store-config.ts';
import type { TableStoreOptions } from './store-options.ts';
import type {
  EmbeddingDtype,
  EmbeddingRecord,
  EmbeddingStore,
  LookupOptions,
  LookupResult,
  Pointer,
  ResolvedVersion,
  RunLock,
  VersionId,
  VersionRecord,
  WriteStats,
} from './types.ts';
import { DynamoVersionRegistry } from './version-registry.ts';

/** Re-exported: the partition stage validates user ids with the same rule. */
export { assertUserId, MAX_USER_ID_BYTES } from './embedding-item.ts';

export type DynamoEmbeddingStoreOptions = TableStoreOptions;

export class DynamoEmbeddingStore implements EmbeddingStore {
  public readonly tableName: string;
  public readonly dtype: EmbeddingDtype;
  public readonly retentionDays: number;
  private readonly writer: DynamoEmbeddingWriter;
  private readonly versions: DynamoVersionRegistry;
  private readonly locks: DynamoRunLocks;
  private readonly reader: DynamoEmbeddingReader;

  public constructor(options: DynamoEmbeddingStoreOptions) {
    this.writer = new DynamoEmbeddingWriter(options);
    this.versions = new DynamoVersionRegistry(options);
    this.locks = new DynamoRunLocks(options);
    this.reader = new DynamoEmbeddingReader(options);
    this.tableName = options.tableName;
    this.dtype = this.writer.dtype;
    this.retentionDays = this.writer.retentionDays;
  }

  /** This store as plain data for another thread (./store-config.ts); undefined without a `connection`. */
  public threadConfig(): StoreThreadConfig | undefined {
    return this.writer.threadConfig();
  }

  // writer
  public writeEmbeddings(version: VersionId, records: readonly EmbeddingRecord[]): Promise<WriteStats> {
    return this.writer.writeEmbeddings(version, records);
  }

  // version registry
  public recordVersion(record: Omit<VersionRecord, 'version'>): Promise<void> {
    return this.versions.recordVersion(record);
  }
  public getVersion(version: VersionId | string): Promise<VersionRecord | undefined> {
    return this.versions.getVersion(version);
  }
  public listVersions(): Promise<VersionRecord[]> {
    return this.versions.listVersions();
  }
  /** Epoch ms after which a version's embeddings may be gone (its TTL); pinned lookups refuse it then. */
  public retainedUntil(record: VersionRecord): number {
    return this.versions.retainedUntil(record);
  }
  public getPointer(): Promise<Pointer | undefined> {
    return this.versions.getPointer();
  }
  public movePointer(to: VersionId, expectedSeq: number | undefined): Promise<Pointer> {
    return this.versions.movePointer(to, expectedSeq);
  }
  public publishVersion(
    version: VersionId,
    expectedSeq: number | undefined,
    details?: Record<string, unknown>,
  ): Promise<Pointer> {
    return this.versions.publishVersion(version, expectedSeq, details);
  }
  public rollback(to: VersionId | string, expectedSeq?: number): Promise<Pointer> {
    return this.versions.rollback(to, expectedSeq);
  }

  // run locks
  public acquireRunLock(version: VersionId | string, owner: string, leaseMs: number): Promise<RunLock> {
    return this.locks.acquireRunLock(version, owner, leaseMs);
  }
  public getRunLock(version: VersionId | string): Promise<RunLock | undefined> {
    return this.locks.getRunLock(version);
  }
  public releaseRunLock(version: VersionId | string, owner: string): Promise<boolean> {
    return this.locks.releaseRunLock(version, owner);
  }

  // reader
  public resolveVersion(version?: VersionId, options?: LookupOptions): Promise<ResolvedVersion> {
    return this.reader.resolveVersion(version, options);
  }
  public lookup(userId: string, version?: VersionId, options?: LookupOptions): Promise<LookupResult | undefined> {
    return this.reader.lookup(userId, version, options);
  }
  public lookupMany(
    userIds: readonly string[],
    version?: VersionId,
    options?: LookupOptions,
  ): Promise<Map<string, LookupResult>> {
    return this.reader.lookupMany(userIds, version, options);
  }
  public readAt(userIds: readonly string[], version: VersionId | ResolvedVersion): Promise<Map<string, LookupResult>> {
    return this.reader.readAt(userIds, version);
  }
}
