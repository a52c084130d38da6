/**
 * The read-only client for services that read the embedding table directly (same account, IAM
 * read access). It is the table's reader role (src/embeddings/embedding-reader.ts) with the
 * lookup handler's cached version resolver (src/lookup/version-resolver.ts), not a second
 * implementation. Contract: docs/versioning.md.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoEmbeddingReader } from '../embeddings/embedding-reader.ts';
import { parseVersionId } from '../embeddings/table-schema.ts';
import type { LookupResult, Pointer, VersionRecord } from '../embeddings/types.ts';
import { DynamoVersionReader } from '../embeddings/version-reader.ts';
import { CachedVersionResolver } from '../lookup/version-resolver.ts';

export interface EmbeddingClientOptions {
  readonly tableName: string;
  /** A ready DynamoDB client; otherwise one is made from `clientConfig` (default credential chain). */
  readonly client?: DynamoDBClient;
  /** Config of the client made here; `maxAttempts` defaults to 1, because the store retries each read itself. */
  readonly clientConfig?: DynamoDBClientConfig;
  /** How long the current pointer (and a pinned version's check) is cached, ms; default 5000. 0 reads it on every call. */
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
  private readonly reader: DynamoEmbeddingReader;
  private readonly versions: DynamoVersionReader;
  private readonly resolver: CachedVersionResolver;
  private readonly ownsClient: boolean;
  private readonly dynamo: DynamoDBClient;

  public constructor(options: EmbeddingClientOptions) {
    this.ownsClient = options.client === undefined;
    this.dynamo = options.client ?? new DynamoDBClient({ maxAttempts: 1, ...options.clientConfig });
    const table = {
      tableName: options.tableName,
      client: this.dynamo,
      wallClockExpiry: options.wallClockExpiry,
      readConcurrency: options.readConcurrency,
    };
    this.reader = new DynamoEmbeddingReader(table);
    this.versions = new DynamoVersionReader(table);
    this.resolver = new CachedVersionResolver(this.reader, {
      ...(options.pointerCacheMs === undefined ? {} : { cacheMs: options.pointerCacheMs }),
    });
  }

  /** One user's embedding under the current (or pinned) version; undefined for an unknown user. */
  public async get(userId: string, options: GetOptions = {}): Promise<LookupResult | undefined> {
    return (await this.getMany([userId], options)).get(userId);
  }

  /** Several users at once (bounded-concurrency Queries); users without an embedding are absent from the map. */
  public async getMany(userIds: readonly string[], options: GetOptions = {}): Promise<Map<string, LookupResult>> {
    const version = await this.resolver.resolve(options.version ? parseVersionId(options.version) : undefined);
    return this.reader.readAt(userIds, version);
  }

  /** The current pointer (uncached), or undefined when nothing is published. */
  public currentVersion(): Promise<Pointer | undefined> {
    return this.versions.getPointer();
  }

  public listVersions(): Promise<VersionRecord[]> {
    return this.versions.listVersions();
  }

  /** Releases the DynamoDB client when this client created it. */
  public close(): void {
    if (this.ownsClient) this.dynamo.destroy();
  }
}
