/**
 * The versioned embedding store: the contract between the embed/publish stages (writers), the
 * lookup handler and client (readers), as four roles (writer, version registry, run locks,
 * reader). Implemented over DynamoDB by one class per role (./embedding-writer.ts,
 * ./version-registry.ts, ./run-lock.ts, ./embedding-reader.ts) and `DynamoEmbeddingStore`
 * (./dynamo-store.ts), all of them at once; documented for downstream readers in docs/versioning.md.
 *
 * A version is a (modelVersion, date) pair; its id is `${modelVersion}@${date}`.
 */
export type EmbeddingDtype = 'float16' | 'float32';

export interface VersionId {
  readonly modelVersion: string;
  /** YYYY-MM-DD, UTC. */
  readonly date: string;
  /**
   * The run attempt whose items make up this version (src/pipeline/attempt.ts): absent for a
   * date's first attempt (items keyed by the date), set for a rerun of a published date (items
   * keyed `date#attempt`), so an attempt never overwrites the items a published version reads.
   */
  readonly attempt?: string;
}

export interface EmbeddingRecord {
  readonly userId: string;
  readonly embedding: Float32Array;
}

export interface VersionRecord extends VersionId {
  readonly version: string;
  /** Passed the publish gate: eligible to be current (and to be pinned or rolled back to). */
  readonly published: boolean;
  readonly publishedAt?: string;
  readonly embeddedUsers?: number;
  readonly details?: Record<string, unknown>;
  /** Days the version's embeddings are retained (TTL); set by the store when recorded. */
  readonly retentionDays?: number;
  /** Storage dtype of the version's vectors; set by the store when recorded. */
  readonly dtype?: EmbeddingDtype;
  /**
   * Withdrawn by a rollback to an earlier version of the same model: its items no longer count
   * for any lookup (also not at later dates), and it cannot be pinned. Publishing it again clears this.
   */
  readonly withdrawn?: boolean;
}

/**
 * A version resolved for reading: the model and served date, plus the dates of that model whose
 * items count (published, not withdrawn; <= date). Items of other dates (failed, unpublished or
 * withdrawn runs) are skipped, so they never leak into a later view.
 */
export interface ResolvedVersion extends VersionId {
  /** Item sort keys that count: each visible version's `date`, or `date#attempt` for a rerun's attempt. */
  readonly visibleDates: readonly string[];
}

export interface Pointer extends VersionId {
  readonly version: string;
  /** Monotonic counter used for the conditional write that moves the pointer. */
  readonly seq: number;
  readonly updatedAt: string;
}

export interface LookupResult {
  readonly userId: string;
  /** Version id of the pointer (or of the pinned version) that answered. */
  readonly version: string;
  readonly modelVersion: string;
  /** Date of the stored embedding (<= the version's date). */
  readonly date: string;
  readonly dims: number;
  readonly embedding: number[];
}

export interface WriteStats {
  readonly items: number;
  /** BatchWriteItem calls made, retries included. */
  readonly requests: number;
  /** Calls repeated after a throttle, a transient error or UnprocessedItems. */
  readonly retries: number;
  /** Throttling errors plus responses that left UnprocessedItems. */
  readonly throttles: number;
  /** Item bytes as DynamoDB counts them, each item once. */
  readonly bytes: number;
  /** Write units a clean write of the items consumes (each item rounded up to 1 KB). */
  readonly writeUnits: number;
  /** Write units the server reported consumed (ReturnConsumedCapacity), retries included. */
  readonly consumedWriteUnits: number;
  /** Total time slept in backoff, ms (summed over concurrent requests). */
  readonly backoffMs: number;
}

/** WriteStats of no writes (the start of every sum). */
export const ZERO_WRITE_STATS: WriteStats = {
  items: 0,
  requests: 0,
  retries: 0,
  throttles: 0,
  bytes: 0,
  writeUnits: 0,
  consumedWriteUnits: 0,
  backoffMs: 0,
};

/** A lease on a run (one per version id) taken with a conditional put: "two runs at once". */
export interface RunLock {
  readonly version: string;
  readonly owner: string;
  /** Epoch ms when the lease lapses unless renewed (acquired again by the same owner). */
  readonly expiresAt: number;
}

export interface LookupOptions {
  /** Allow pinning a recorded but unpublished version (the publish gate's drift check). Default false. */
  readonly allowUnpublished?: boolean;
}

/**
 * The table's four roles. Each stage, handler and the worker is given only the roles it uses
 * (docs/versioning.md, "Roles"); src/contract/table-access.ts maps each role to its IAM actions.
 */

/** Writes a version's embedding items: the embed stage. */
export interface EmbeddingWriter {
  /** Idempotent batched write of one partition's embeddings for a version (BatchWriteItem, 25 per call). */
  writeEmbeddings(version: VersionId, records: readonly EmbeddingRecord[]): Promise<WriteStats>;
}

/** Reads the version records and the pointer: the plan stage, operators' listings. */
export interface VersionReader {
  /** One version record, or undefined. */
  getVersion(version: VersionId | string): Promise<VersionRecord | undefined>;
  listVersions(): Promise<VersionRecord[]>;
  getPointer(): Promise<Pointer | undefined>;
}

/** The version records and the pointer, read and moved with conditional writes: publish, rollback. */
export interface VersionRegistry extends VersionReader {
  /**
   * Records a version (unpublished). Idempotent. A published record is never changed by an
   * unpublished one (a refused rerun of a published date leaves its record as it was).
   */
  recordVersion(record: Omit<VersionRecord, 'version'>): Promise<void>;
  /**
   * Moves the pointer with a conditional write on `expectedSeq` (undefined: no pointer yet);
   * ConflictError when it moved meanwhile. The target must be recorded and published.
   */
  movePointer(to: VersionId, expectedSeq: number | undefined): Promise<Pointer>;
  /**
   * Marks the version published (it must be recorded; clears a rollback's `withdrawn`) and moves
   * the pointer to it, conditional on `expectedSeq`. A no-op when the pointer already is there
   * with that seq (a rerun of publish).
   */
  publishVersion(
    version: VersionId,
    expectedSeq: number | undefined,
    details?: Record<string, unknown>,
  ): Promise<Pointer>;
  /** Moves the pointer to an earlier published, retained version; ConflictError when the pointer moved meanwhile. */
  rollback(to: VersionId | string, expectedSeq?: number): Promise<Pointer>;
}

/** Takes a run lock and names its holder: the plan step (the state machine releases the lock). */
export interface RunLockTaker {
  /** Takes (or renews, for the same owner) the run lock of a version; ConflictError naming the holder otherwise. */
  acquireRunLock(version: VersionId | string, owner: string, leaseMs: number): Promise<RunLock>;
  /** The lock of a version, or undefined when none is held. */
  getRunLock(version: VersionId | string): Promise<RunLock | undefined>;
}

/** Run locks, released too: the local runner and the operators' unlock. */
export interface RunLocks extends RunLockTaker {
  /** Releases the lock if `owner` still holds it; false when it did not. */
  releaseRunLock(version: VersionId | string, owner: string): Promise<boolean>;
}

/** The read path: the lookup handler, the client library, recommendations. */
export interface EmbeddingReader {
  /**
   * The version a lookup reads: the pointer's (NotFoundError when nothing is published), or the
   * given one if it is recorded, published (unless allowUnpublished) and retained (NotFoundError otherwise).
   */
  resolveVersion(version?: VersionId, options?: LookupOptions): Promise<ResolvedVersion>;
  /**
   * The read path under a resolved version: per user, the newest item with a visible date
   * <= version.date under version.modelVersion, unless expired. Used by lookup, the lookup handler
   * (which caches the resolved version) and the client library. Given a plain VersionId it reads
   * the visible dates itself and counts version.date as visible too (an explicit request).
   */
  readAt(userIds: readonly string[], version: VersionId | ResolvedVersion): Promise<Map<string, LookupResult>>;
  /**
   * Newest embedding at or before the version's date under its model; undefined when none.
   * Without `version` the current pointer answers (NotFoundError when nothing is published yet);
   * a pinned version must be recorded, published and retained (NotFoundError otherwise).
   */
  lookup(userId: string, version?: VersionId, options?: LookupOptions): Promise<LookupResult | undefined>;
  lookupMany(
    userIds: readonly string[],
    version?: VersionId,
    options?: LookupOptions,
  ): Promise<Map<string, LookupResult>>;
}

/** Every role over one table: local mode, the operators' CLI and tests. */
export interface EmbeddingStore extends EmbeddingWriter, VersionRegistry, RunLocks, EmbeddingReader {}
