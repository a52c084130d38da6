/**
 * The versioned embedding store: the contract between the embed/publish stages (writers), the
 * lookup handler and client (readers). Implemented over DynamoDB by
 * `DynamoEmbeddingStore` (src/embeddings/dynamo-store.ts); documented for downstream readers in
 * docs/versioning.md.
 *
 * A version is a (modelVersion, date) pair; its id is `${modelVersion}@${date}`.
 */
export type EmbeddingDtype = 'float16' | 'float32';

export interface VersionId {
  readonly modelVersion: string;
  /** YYYY-MM-DD, UTC. */
  readonly date: string;
}

export interface EmbeddingRecord {
  readonly userId: string;
  readonly embedding: Float32Array;
}

export interface VersionRecord extends VersionId {
  readonly version: string;
  readonly published: boolean;
  readonly publishedAt?: string;
  readonly embeddedUsers?: number;
  readonly details?: Record<string, unknown>;
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
  readonly requests: number;
  readonly retries: number;
  readonly throttles: number;
  readonly bytes: number;
}

export interface EmbeddingStore {
  /** Idempotent batched write of one partition's embeddings for a version (BatchWriteItem, 25 per call). */
  writeEmbeddings(version: VersionId, records: readonly EmbeddingRecord[]): Promise<WriteStats>;
  /** Records a version (unpublished). Idempotent. */
  recordVersion(record: Omit<VersionRecord, 'version'>): Promise<void>;
  listVersions(): Promise<VersionRecord[]>;
  getPointer(): Promise<Pointer | undefined>;
  /** Moves the pointer with a conditional write on `expectedSeq`; ConflictError when it moved meanwhile. */
  movePointer(to: VersionId, expectedSeq: number | undefined): Promise<Pointer>;
  /** Newest embedding at or before the version's date under its model; undefined when none. */
  lookup(userId: string, version?: VersionId): Promise<LookupResult | undefined>;
  lookupMany(userIds: readonly string[], version?: VersionId): Promise<Map<string, LookupResult>>;
}
