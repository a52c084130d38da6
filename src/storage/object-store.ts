/**
 * The object store interface: S3 in AWS, a local directory on one machine. Keys are
 * '/'-separated relative paths (no leading slash), e.g. `events/dt=2026-01-02/part-0.parquet`.
 * Implementations: `LocalObjectStore` (src/storage/local-object-store.ts) and `S3ObjectStore`
 * (src/storage/s3-object-store.ts); `openObjectStore(uri)` picks one from `s3://bucket/prefix`
 * or a directory path.
 */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
}

export interface ObjectStore {
  /** Human-readable root, e.g. `s3://bucket/prefix` or `/abs/dir`. */
  readonly root: string;
  /** Reads a whole object. Throws NotFoundError when absent. */
  get(key: string): Promise<Uint8Array>;
  /**
   * Reads bytes [start, end) of an object (S3: a ranged GET), so a reader can take a parquet
   * footer or some row groups of a big file without holding all of it. Throws NotFoundError
   * when absent. Optional: callers fall back to `get` + subarray.
   */
  getRange?(key: string, start: number, end: number): Promise<Uint8Array>;
  /** Reads a whole object, or undefined when absent. */
  getIfExists(key: string): Promise<Uint8Array | undefined>;
  /** Writes a whole object atomically: readers see the old object or the new one, never a part. */
  put(key: string, body: Uint8Array | string): Promise<void>;
  /** Writes only if the key does not exist yet; returns false when it already did. */
  putIfAbsent(key: string, body: Uint8Array | string): Promise<boolean>;
  /** Lists every object under a prefix (recursively), sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
}
