/**
 * The versioned embedding store over one DynamoDB table (schema: ./table-schema.ts, contract:
 * docs/versioning.md). Writes are deterministic puts (same key, same bytes), so any retry or rerun
 * leaves the same table. No transactions: the pointer, versions and run locks move with
 * conditional writes only, which dynalite supports.
 * Parts: item format ./embedding-item.ts, batched writes ./batch-writer.ts, run lock ./run-lock.ts.
 */
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { crashHooksEnabled, crashPoint } from '../testing/crash-points.ts';
import { ConflictError, NotFoundError, ValidationError } from '../util/errors.ts';
import { writeInBatches } from './batch-writer.ts';
import { assertUserId, buildPutRequests, decodeItem } from './embedding-item.ts';
import { AdaptiveConcurrency, DEFAULT_RETRY_POLICY, mapWithConcurrency, type RetryPolicy } from './retry.ts';
import { acquireRunLock, getRunLock, releaseRunLock } from './run-lock.ts';
import type { StoreConnection, StoreThreadConfig } from './store-config.ts';
import { conditionFailed, sendWithRetries, type TableContext } from './table-context.ts';
import {
  DEFAULT_DTYPE,
  DEFAULT_RETENTION_DAYS,
  epochSecondsAfter,
  itemSortKey,
  itemSortKeyAfter,
  POINTER_KEY,
  toVersionId,
  userPartitionKey,
  VERSION_PK,
  versionIdOf,
} from './table-schema.ts';
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

/** Re-exported: the partition stage validates user ids with the same rule. */
export { assertUserId, MAX_USER_ID_BYTES } from './embedding-item.ts';

export interface DynamoEmbeddingStoreOptions {
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

/** Items per lookup Query page (see readOne). */
const READ_PAGE = 4;

export class DynamoEmbeddingStore implements EmbeddingStore {
  public readonly tableName: string;
  public readonly dtype: EmbeddingDtype;
  public readonly retentionDays: number;
  private readonly client: DynamoDBClient;
  private readonly writeConcurrency: number;
  private readonly readConcurrency: number;
  private readonly policy: RetryPolicy;
  private readonly now: () => number;
  private readonly wallClockExpiry: boolean;
  /** Shared by every writeEmbeddings call of this store: the whole process's pressure on the table. */
  private readonly writeLimiter: AdaptiveConcurrency;
  private readonly table: TableContext;
  private readonly connection: StoreConnection | undefined;

  public constructor(options: DynamoEmbeddingStoreOptions) {
    this.tableName = options.tableName;
    this.client = options.client;
    this.dtype = options.dtype ?? DEFAULT_DTYPE;
    this.retentionDays = options.retentionDays ?? DEFAULT_RETENTION_DAYS;
    this.writeConcurrency = Math.max(1, options.writeConcurrency ?? 4);
    this.readConcurrency = Math.max(1, options.readConcurrency ?? 16);
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.now = options.now ?? Date.now;
    this.wallClockExpiry = options.wallClockExpiry ?? true;
    this.writeLimiter = new AdaptiveConcurrency(this.writeConcurrency);
    this.table = { client: this.client, tableName: this.tableName, policy: this.policy, now: this.now };
    this.connection = options.connection;
    if (!(this.retentionDays > 0))
      throw new ValidationError(`retentionDays must be positive, got ${this.retentionDays}`);
  }

  /** This store as plain data for another thread (./store-config.ts); undefined without a `connection`. */
  public threadConfig(): StoreThreadConfig | undefined {
    if (!this.connection) return undefined;
    return {
      tableName: this.tableName,
      connection: { ...this.connection },
      dtype: this.dtype,
      retentionDays: this.retentionDays,
      writeConcurrency: this.writeConcurrency,
      retry: {
        maxAttempts: this.policy.maxAttempts,
        baseDelayMs: this.policy.baseDelayMs,
        maxDelayMs: this.policy.maxDelayMs,
      },
      wallClockExpiry: this.wallClockExpiry,
    };
  }

  // ---------------------------------------------------------------- writes

  public async writeEmbeddings(version: VersionId, records: readonly EmbeddingRecord[]): Promise<WriteStats> {
    const requests = buildPutRequests(toVersionId(version), records, this.dtype, this.retentionDays);
    return writeInBatches(this.table, requests, this.writeLimiter, this.writeConcurrency);
  }

  private send<T>(call: () => Promise<T>, what: string): Promise<T> {
    return sendWithRetries(this.table, what, call);
  }

  // ---------------------------------------------------------------- versions

  public async recordVersion(record: Omit<VersionRecord, 'version'>): Promise<void> {
    const id = toVersionId(record);
    const values: Record<string, unknown> = {
      ':mv': id.modelVersion,
      ':d': id.date,
      ':rd': record.retentionDays ?? this.retentionDays,
      ':dt': record.dtype ?? this.dtype,
    };
    // No wall-clock fields besides the first publishedAt: a rerun leaves the record unchanged.
    const sets = ['modelVersion = :mv', '#date = :d', 'retentionDays = :rd', 'dtype = :dt'];
    const removes: string[] = [];
    if (record.published) {
      // Publishing is sticky: re-recording a published version (a rerun) never unpublishes it.
      sets.push('published = :t', 'publishedAt = if_not_exists(publishedAt, :pa)');
      removes.push('withdrawn');
      values[':t'] = true;
      values[':pa'] = record.publishedAt ?? new Date(this.now()).toISOString();
    } else {
      sets.push('published = :f');
      values[':f'] = false;
    }
    if (id.attempt !== undefined) {
      sets.push('attempt = :at');
      values[':at'] = id.attempt;
    } else if (!record.published) {
      removes.push('attempt');
    }
    if (record.embeddedUsers !== undefined) {
      sets.push('embeddedUsers = :eu');
      values[':eu'] = record.embeddedUsers;
    }
    if (record.details !== undefined) {
      sets.push('details = :det');
      values[':det'] = record.details;
    }
    try {
      await this.send(
        () =>
          this.client.send(
            new UpdateItemCommand({
              TableName: this.tableName,
              Key: marshall({ pk: VERSION_PK, sk: versionIdOf(id) }),
              UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
              // An unpublished record never lands on a published one: a refused rerun leaves it as it was.
              ...(record.published ? {} : { ConditionExpression: 'attribute_not_exists(published) OR published = :f' }),
              ExpressionAttributeNames: { '#date': 'date' },
              ExpressionAttributeValues: marshall(values, {
                removeUndefinedValues: true,
                convertClassInstanceToMap: true,
              }),
            }),
          ),
        'recordVersion',
      );
    } catch (error) {
      if (!conditionFailed(error)) throw error;
    }
    if (crashHooksEnabled) crashPoint('dynamo:record-version');
  }

  public async getVersion(version: VersionId | string): Promise<VersionRecord | undefined> {
    const id = toVersionId(version);
    const output = await this.send(
      () =>
        this.client.send(
          new GetItemCommand({
            TableName: this.tableName,
            Key: marshall({ pk: VERSION_PK, sk: versionIdOf(id) }),
            ConsistentRead: true,
          }),
        ),
      'getVersion',
    );
    return output.Item ? toVersionRecord(output.Item) : undefined;
  }

  public async listVersions(): Promise<VersionRecord[]> {
    const records = await this.queryVersionRecords(
      { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: marshall({ ':pk': VERSION_PK }) },
      'listVersions',
    );
    return records.sort((a, b) => a.date.localeCompare(b.date) || a.modelVersion.localeCompare(b.modelVersion));
  }

  /** Epoch ms after which a version's embeddings may be gone (its TTL); pinned lookups refuse it then. */
  public retainedUntil(record: VersionRecord): number {
    return epochSecondsAfter(record.date, record.retentionDays ?? this.retentionDays) * 1000;
  }

  /**
   * A version is retained while its TTL lies after the current pointer's date and (with
   * wallClockExpiry) after now. NotFoundError otherwise.
   */
  private async assertRetained(record: VersionRecord, pointer?: Pointer): Promise<void> {
    const until = this.retainedUntil(record);
    const current = pointer ?? (await this.getPointer());
    const pastPointer = current !== undefined && Date.parse(`${current.date}T00:00:00Z`) >= until;
    const pastClock = this.wallClockExpiry && this.now() >= until;
    if (pastPointer || pastClock) {
      throw new NotFoundError(
        `version ${record.version} is no longer retained (its TTL was ${new Date(until).toISOString()})`,
        {
          version: record.version,
        },
      );
    }
  }

  // ---------------------------------------------------------------- pointer

  public async getPointer(): Promise<Pointer | undefined> {
    const output = await this.send(
      () =>
        this.client.send(
          new GetItemCommand({ TableName: this.tableName, Key: marshall(POINTER_KEY), ConsistentRead: true }),
        ),
      'getPointer',
    );
    if (!output.Item) return undefined;
    const raw = unmarshall(output.Item);
    return {
      modelVersion: String(raw.modelVersion),
      date: String(raw.date),
      version: String(raw.version),
      seq: Number(raw.seq),
      updatedAt: String(raw.updatedAt),
    };
  }

  public async movePointer(to: VersionId, expectedSeq: number | undefined): Promise<Pointer> {
    const id = toVersionId(to);
    const unchanged = await this.pointerAlreadyAt(id, expectedSeq);
    if (unchanged) return unchanged;
    const record = await this.getVersion(id);
    if (!record) throw new NotFoundError(`version ${versionIdOf(id)} is not recorded`, { version: versionIdOf(id) });
    if (!record.published) {
      throw new ValidationError(
        `version ${record.version} is not published; the pointer only moves to published versions`,
        {
          version: record.version,
        },
      );
    }
    return this.putPointer(id, expectedSeq);
  }

  /** The current pointer when it already is at `id` with `expectedSeq`: moving it again is a no-op (reruns). */
  private async pointerAlreadyAt(id: VersionId, expectedSeq: number | undefined): Promise<Pointer | undefined> {
    if (expectedSeq === undefined) return undefined;
    const current = await this.getPointer();
    return current && current.seq === expectedSeq && current.version === versionIdOf(id) ? current : undefined;
  }

  private async putPointer(id: VersionId, expectedSeq: number | undefined): Promise<Pointer> {
    const pointer: Pointer = {
      modelVersion: id.modelVersion,
      date: id.date,
      version: versionIdOf(id),
      seq: (expectedSeq ?? 0) + 1,
      updatedAt: new Date(this.now()).toISOString(),
    };
    try {
      await this.send(
        () =>
          this.client.send(
            new PutItemCommand({
              TableName: this.tableName,
              Item: marshall({ ...POINTER_KEY, ...pointer }),
              ConditionExpression: expectedSeq === undefined ? 'attribute_not_exists(pk)' : 'seq = :seq',
              ExpressionAttributeValues: expectedSeq === undefined ? undefined : marshall({ ':seq': expectedSeq }),
            }),
          ),
        'movePointer',
      );
      if (crashHooksEnabled) crashPoint('dynamo:pointer');
    } catch (error) {
      if (!conditionFailed(error)) throw error;
      const current = await this.getPointer();
      throw new ConflictError(
        `the pointer moved meanwhile: expected seq ${expectedSeq ?? '(none)'}, found ${current ? `seq ${current.seq} at ${current.version}` : 'none'}`,
        { expectedSeq, current },
      );
    }
    return pointer;
  }

  public async publishVersion(
    version: VersionId,
    expectedSeq: number | undefined,
    details?: Record<string, unknown>,
  ): Promise<Pointer> {
    const id = toVersionId(version);
    const record = await this.getVersion(id);
    if (!record) throw new NotFoundError(`version ${versionIdOf(id)} is not recorded`, { version: versionIdOf(id) });
    await this.recordVersion({ ...id, published: true, details: details ?? record.details });
    return (await this.pointerAlreadyAt(id, expectedSeq)) ?? this.putPointer(id, expectedSeq);
  }

  public async rollback(to: VersionId | string, expectedSeq?: number): Promise<Pointer> {
    const id = toVersionId(to);
    const current = await this.getPointer();
    if (!current) throw new NotFoundError('nothing is published yet: there is no pointer to roll back');
    const record = await this.getVersion(id);
    if (!record) throw new NotFoundError(`version ${versionIdOf(id)} is not recorded`, { version: versionIdOf(id) });
    if (!record.published) {
      throw new ValidationError(
        `version ${record.version} was never published; rollback only goes to published versions`,
        {
          version: record.version,
        },
      );
    }
    await this.assertRetained(record, current);
    if (current.version === record.version) {
      await this.withdrawAfter(record, '9999-12-31'); // finishes a rollback that crashed after moving the pointer
      return current;
    }
    if (expectedSeq !== undefined && expectedSeq !== current.seq) {
      throw new ConflictError(
        `the pointer moved meanwhile: expected seq ${expectedSeq}, found seq ${current.seq} at ${current.version}`,
        {
          expectedSeq,
          current,
        },
      );
    }
    if (record.withdrawn) await this.restoreThrough(record); // rolling forward again
    const pointer = await this.putPointer(id, current.seq);
    await this.withdrawAfter(record, current.date);
    return pointer;
  }

  /**
   * Rolling forward to a withdrawn `target` restores the view it had when published: the target
   * and every withdrawn version of its model between the newest still-visible earlier version
   * and it (what the rollback withdrew). They stay above the pointer's date until it moves, so a
   * crash in between shows readers nothing new.
   */
  private async restoreThrough(target: VersionRecord): Promise<void> {
    const earlier = await this.versionsOfModel(target.modelVersion, target.date);
    const visible = earlier.filter((v) => v.published && !v.withdrawn && v.date < target.date).map((v) => v.date);
    const base = visible.length > 0 ? visible[visible.length - 1]! : '';
    for (const v of earlier) {
      if (v.published && v.withdrawn && v.date > base && v.date < target.date) {
        await this.recordVersion({ modelVersion: v.modelVersion, date: v.date, published: true });
      }
    }
    await this.recordVersion({ modelVersion: target.modelVersion, date: target.date, published: true });
  }

  /**
   * Marks the published versions of `target`'s model dated after it, up to `upTo` (the date the
   * pointer was rolled back from), as withdrawn, so that their items do not reappear under a
   * later pointer. Versions published after the rollback are left alone. Idempotent.
   */
  private async withdrawAfter(target: VersionRecord, upTo: string): Promise<void> {
    const later = (await this.versionsOfModel(target.modelVersion, upTo)).filter(
      (v) => v.date > target.date && v.published && !v.withdrawn,
    );
    for (const version of later) {
      await this.send(
        () =>
          this.client.send(
            new UpdateItemCommand({
              TableName: this.tableName,
              Key: marshall({ pk: VERSION_PK, sk: version.version }),
              UpdateExpression: 'SET withdrawn = :t',
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeValues: marshall({ ':t': true }),
            }),
          ),
        'rollback',
      );
    }
  }

  /** Version records of one model with date <= `upTo`, ascending (sk range `mv@` .. `mv@upTo`). */
  private async versionsOfModel(modelVersion: string, upTo: string): Promise<VersionRecord[]> {
    return this.queryVersionRecords(
      {
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: marshall({
          ':pk': VERSION_PK,
          ':from': `${modelVersion}@`,
          ':to': `${modelVersion}@${upTo}`,
        }),
      },
      'versionsOfModel',
    );
  }

  /** Every version record matching a key condition, across pages, in key order. */
  private async queryVersionRecords(
    condition: Pick<QueryCommandInput, 'KeyConditionExpression' | 'ExpressionAttributeValues'>,
    operation: string,
  ): Promise<VersionRecord[]> {
    const records: VersionRecord[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page: QueryCommandOutput = await this.send(
        () =>
          this.client.send(
            new QueryCommand({
              TableName: this.tableName,
              ...condition,
              ExclusiveStartKey: startKey,
              ConsistentRead: true,
            }),
          ),
        operation,
      );
      for (const item of page.Items ?? []) records.push(toVersionRecord(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return records;
  }

  /** Item sort keys of `modelVersion` that count at `date`: published, not withdrawn, <= date (each its published attempt). */
  private async visibleDates(modelVersion: string, date: string): Promise<string[]> {
    const records = await this.versionsOfModel(modelVersion, date);
    return records.filter((v) => v.published && !v.withdrawn).map((v) => itemSortKey(v));
  }

  // ---------------------------------------------------------------- run lock

  public acquireRunLock(version: VersionId | string, owner: string, leaseMs: number): Promise<RunLock> {
    return acquireRunLock(this.table, versionIdOf(toVersionId(version)), owner, leaseMs);
  }

  public getRunLock(version: VersionId | string): Promise<RunLock | undefined> {
    return getRunLock(this.table, versionIdOf(toVersionId(version)));
  }

  public releaseRunLock(version: VersionId | string, owner: string): Promise<boolean> {
    return releaseRunLock(this.table, versionIdOf(toVersionId(version)), owner);
  }

  // ---------------------------------------------------------------- reads

  /** The version that answers: the pointer's, or a pinned one that is recorded, published and retained. */
  public async resolveVersion(version?: VersionId, options?: LookupOptions): Promise<ResolvedVersion> {
    if (!version) {
      const pointer = await this.getPointer();
      if (!pointer) throw new NotFoundError('no version is published yet');
      // The pointer only ever points at a published version: its record is among the visible ones.
      const visibleDates = await this.visibleDates(pointer.modelVersion, pointer.date);
      return { modelVersion: pointer.modelVersion, date: pointer.date, visibleDates };
    }
    const record = await this.getVersion(version);
    const label = versionIdOf(toVersionId(version));
    if (!record) throw new NotFoundError(`version ${label} is not recorded`, { version: label });
    if (!options?.allowUnpublished) {
      if (!record.published) throw new NotFoundError(`version ${label} is not published`, { version: label });
      if (record.withdrawn) throw new NotFoundError(`version ${label} was withdrawn by a rollback`, { version: label });
    }
    await this.assertRetained(record);
    const visibleDates = await this.visibleDates(record.modelVersion, record.date);
    if (!visibleDates.includes(itemSortKey(record))) visibleDates.push(itemSortKey(record));
    return { modelVersion: record.modelVersion, date: record.date, visibleDates };
  }

  public async lookup(userId: string, version?: VersionId, options?: LookupOptions): Promise<LookupResult | undefined> {
    return (await this.lookupMany([userId], version, options)).get(userId);
  }

  public async lookupMany(
    userIds: readonly string[],
    version?: VersionId,
    options?: LookupOptions,
  ): Promise<Map<string, LookupResult>> {
    return this.readAt(userIds, await this.resolveVersion(version, options));
  }

  public async readAt(
    userIds: readonly string[],
    version: VersionId | ResolvedVersion,
  ): Promise<Map<string, LookupResult>> {
    const id = toVersionId(version);
    const unique = [...new Set(userIds)];
    for (const userId of unique) assertUserId(userId);
    let dates = 'visibleDates' in version ? version.visibleDates : undefined;
    if (!dates) dates = [...(await this.visibleDates(id.modelVersion, id.date)), itemSortKey(id)];
    const visible = new Set(dates);
    const found = await mapWithConcurrency(unique, this.readConcurrency, (userId) => this.readOne(userId, id, visible));
    const results = new Map<string, LookupResult>();
    for (const result of found) if (result) results.set(result.userId, result);
    return results;
  }

  /**
   * Newest item at or before the date (`sk < date$`, attempt keys included) whose key is visible. Pages of READ_PAGE items, newest first: a
   * page of 4 fp16 items stays under 4 KB, one read unit, and normally the first item answers.
   * (No FilterExpression: DynamoDB applies Limit before the filter.)
   */
  private async readOne(
    userId: string,
    version: VersionId,
    visible: ReadonlySet<string>,
  ): Promise<LookupResult | undefined> {
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const output: QueryCommandOutput = await this.send(
        () =>
          this.client.send(
            new QueryCommand({
              TableName: this.tableName,
              KeyConditionExpression: 'pk = :pk AND sk < :after',
              ExpressionAttributeValues: {
                ':pk': { S: userPartitionKey(version.modelVersion, userId) },
                ':after': { S: itemSortKeyAfter(version.date) },
              },
              ScanIndexForward: false,
              Limit: READ_PAGE,
              ExclusiveStartKey: startKey,
            }),
          ),
        'lookup',
      );
      const item = output.Items?.find((candidate) => visible.has(candidate.sk?.S ?? ''));
      if (item) return decodeItem(userId, version, item, this.expiryThreshold(version.date));
      startKey = output.LastEvaluatedKey;
    } while (startKey);
    return undefined;
  }

  /** Items with ttl <= this (epoch s) are expired: for the served date and, with wallClockExpiry, now. */
  private expiryThreshold(servedDate: string): number {
    const servedSeconds = epochSecondsAfter(servedDate, 0);
    return this.wallClockExpiry ? Math.max(servedSeconds, Math.floor(this.now() / 1000)) : servedSeconds;
  }
}

function toVersionRecord(item: Record<string, AttributeValue>): VersionRecord {
  const raw = unmarshall(item);
  const record: VersionRecord = {
    version: String(raw.sk),
    modelVersion: String(raw.modelVersion),
    date: String(raw.date),
    published: raw.published === true,
    ...(raw.publishedAt !== undefined && { publishedAt: String(raw.publishedAt) }),
    ...(raw.embeddedUsers !== undefined && { embeddedUsers: Number(raw.embeddedUsers) }),
    ...(raw.details !== undefined && { details: raw.details as Record<string, unknown> }),
    ...(raw.retentionDays !== undefined && { retentionDays: Number(raw.retentionDays) }),
    ...(raw.dtype !== undefined && { dtype: raw.dtype as EmbeddingDtype }),
    ...(raw.withdrawn === true && { withdrawn: true }),
    ...(raw.attempt !== undefined && { attempt: String(raw.attempt) }),
  };
  return record;
}
