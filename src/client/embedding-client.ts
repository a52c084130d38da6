/**
 * The read-only client for services that read the embedding table directly (same account, IAM
 * read access). It is the store's read path (DynamoEmbeddingStore.readAt / resolveVersion) with a
 * briefly cached pointer, not a second implementation. Contract: docs/versioning.md.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoEmbeddingStore } from '../embeddings/dynamo-store.ts';
import { parseVersionId } from '../embeddings/table-schema.ts';
import type { LookupResult, Pointer, ResolvedVersion, VersionRecord } from '../embeddings/types.ts';

export interface EmbeddingClientOptions {
  readonly tableName: string;
  /** A ready DynamoDB client; otherwise one is made from `clientConfig` (default credential chain). */
  readonly client?: DynamoDBClient;
  /** Config of the client made here; `maxAttempts` defaults to 1, because the store retries each read itself. */
  readonly clientConfig?: DynamoDBClientConfig;
  /** How long the current pointer is cached, ms; default 5000. 0 reads it on every call. */
  readonly pointerCacheMs?: number;
  /** Hide items whose TTL has passed by the wall clock; default true (see docs/versioning.md). */
  readonly wallClockExpiry?: boolean;
  /** Queries in flight per getMany; default 16. */
  readonly readConcurrency?: number;
}

export interface GetOptions {
  /** Pin a version id `modelVersion@YYYY-MM-DD` (must be published and retained). */
  readonly version?: string;
}

export class EmbeddingClient {
  private readonly store: DynamoEmbeddingStore;
  private readonly ownsClient: boolean;
  private readonly dynamo: DynamoDBClient;
  private readonly cacheMs: number;
  private cached?: { readonly at: number; readonly version: Promise<ResolvedVersion> };

  public constructor(options: EmbeddingClientOptions) {
    this.ownsClient = options.client === undefined;
    this.dynamo = options.client ?? new DynamoDBClient({ maxAttempts: 1, ...options.clientConfig });
    this.cacheMs = options.pointerCacheMs ?? 5000;
    this.store = new DynamoEmbeddingStore({
      tableName: options.tableName,
      client: this.dynamo,
      wallClockExpiry: options.wallClockExpiry,
      readConcurrency: options.readConcurrency,
    });
  }

  /** One user's embedding under the current (or pinned) version; undefined for an unknown user. */
  public async get(userId: string, options: GetOptions = {}): Promise<LookupResult | undefined> {
    return (await this.getMany([userId], options)).get(userId);
  }

  /** Several users at once (bounded-concurrency Queries); users without an embedding are absent from the map. */
  public async getMany(userIds: readonly string[], options: GetOptions = {}): Promise<Map<string, LookupResult>> {
    const version = options.version
      ? await this.store.resolveVersion(parseVersionId(options.version))
      : await this.current();
    return this.store.readAt(userIds, version);
  }

  /** The current pointer (uncached), or undefined when nothing is published. */
  public currentVersion(): Promise<Pointer | undefined> {
    return this.store.getPointer();
  }

  public listVersions(): Promise<VersionRecord[]> {
    return this.store.listVersions();
  }

  /** Releases the DynamoDB client when this client created it. */
  public close(): void {
    if (this.ownsClient) this.dynamo.destroy();
  }

  private current(): Promise<ResolvedVersion> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < this.cacheMs) return this.cached.version;
    const version = this.store.resolveVersion();
    this.cached = { at: now, version };
    version.catch(() => {
      if (this.cached?.version === version) this.cached = undefined;
    });
    return version;
  }
}
