/**
 * The versioned embedding store over one DynamoDB table (schema: ./table-schema.ts, contract:
 * docs/versioning.md). Writes are deterministic puts (same key, same bytes), so any retry or rerun
 * leaves the same table. No transactions: the pointer, versions and run locks move with
 * conditional writes only, which dynalite supports.
 */
import {
  type AttributeValue,
  BatchWriteItemCommand,
  type BatchWriteItemCommandOutput,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandOutput,
  UpdateItemCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { crashHooksEnabled, crashPoint } from '../testing/crash-points.ts';
import { ConflictError, NotFoundError, TransientError, ValidationError } from '../util/errors.ts';
import { decodeVector, encodeVector } from './codec.ts';
import { itemSize, writeUnits } from './item-size.ts';
import {
  AdaptiveConcurrency,
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  isRetryable,
  isThrottle,
  mapWithConcurrency,
  type RetryPolicy,
} from './retry.ts';
import {
  assertDate,
  assertModelVersion,
  DEFAULT_DTYPE,
  DEFAULT_RETENTION_DAYS,
  EMBEDDING_ATTRS,
  epochSecondsAfter,
  LOCK_PK,
  POINTER_KEY,
  parseVersionId,
  ttlFor,
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
}

/** Largest user id accepted for writing (DynamoDB's partition key limit is 2048 bytes). */
export const MAX_USER_ID_BYTES = 1024;
const BATCH_WRITE_LIMIT = 25;
/** Items per lookup Query page (see readOne). */
const READ_PAGE = 4;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const BAD_ID_CHARS = /[\u0000-\u001f\u007f]|\p{Cs}/u;

interface MutableStats {
  items: number;
  requests: number;
  retries: number;
  throttles: number;
  bytes: number;
  writeUnits: number;
  consumedWriteUnits: number;
  backoffMs: number;
}

function toVersionId(version: VersionId | string): VersionId {
  if (typeof version === 'string') return parseVersionId(version);
  assertModelVersion(version.modelVersion);
  assertDate(version.date);
  return { modelVersion: version.modelVersion, date: version.date };
}

function conditionFailed(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

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
    if (!(this.retentionDays > 0))
      throw new ValidationError(`retentionDays must be positive, got ${this.retentionDays}`);
  }

  // ---------------------------------------------------------------- writes

  public async writeEmbeddings(version: VersionId, records: readonly EmbeddingRecord[]): Promise<WriteStats> {
    const { modelVersion, date } = toVersionId(version);
    const requests = this.buildPutRequests(modelVersion, date, records);
    const stats: MutableStats = {
      items: records.length,
      requests: 0,
      retries: 0,
      throttles: 0,
      bytes: 0,
      writeUnits: 0,
      consumedWriteUnits: 0,
      backoffMs: 0,
    };
    for (const request of requests) {
      const item = request.PutRequest!.Item!;
      stats.bytes += itemSize(item);
      stats.writeUnits += writeUnits(item);
    }
    const batches: WriteRequest[][] = [];
    for (let i = 0; i < requests.length; i += BATCH_WRITE_LIMIT) batches.push(requests.slice(i, i + BATCH_WRITE_LIMIT));
    // Once one group has failed for good the call is lost: the other groups stop at their next attempt.
    const abort: { error?: unknown } = {};
    await mapWithConcurrency(batches, this.writeConcurrency, async (batch) => {
      try {
        await this.writeBatch(batch, stats, abort);
      } catch (error) {
        abort.error ??= error;
        throw error;
      }
    });
    return { ...stats };
  }

  private buildPutRequests(modelVersion: string, date: string, records: readonly EmbeddingRecord[]): WriteRequest[] {
    const ttl = String(ttlFor(date, this.retentionDays));
    const seen = new Set<string>();
    let dims: number | undefined;
    return records.map((record) => {
      assertUserId(record.userId);
      if (seen.has(record.userId))
        throw new ValidationError(`duplicate user id in one write: ${JSON.stringify(record.userId)}`);
      seen.add(record.userId);
      const vector = record.embedding;
      dims ??= vector.length;
      if (vector.length === 0 || vector.length !== dims) {
        throw new ValidationError(
          `embedding of ${JSON.stringify(record.userId)} has ${vector.length} dims, expected ${dims}`,
          {
            userId: record.userId,
          },
        );
      }
      for (const value of vector) {
        if (!Number.isFinite(value)) {
          throw new ValidationError(`embedding of ${JSON.stringify(record.userId)} has a non-finite value`, {
            userId: record.userId,
          });
        }
      }
      const item: Record<string, AttributeValue> = {
        pk: { S: userPartitionKey(modelVersion, record.userId) },
        sk: { S: date },
        [EMBEDDING_ATTRS.vector]: { B: encodeVector(vector, this.dtype) },
        [EMBEDDING_ATTRS.dims]: { N: String(vector.length) },
        [EMBEDDING_ATTRS.ttl]: { N: ttl },
      };
      if (this.dtype !== DEFAULT_DTYPE) item[EMBEDDING_ATTRS.dtype] = { S: this.dtype };
      return { PutRequest: { Item: item } };
    });
  }

  /** One group of <= 25 puts: resend UnprocessedItems and throttled calls with backoff, bounded. */
  private async writeBatch(batch: WriteRequest[], stats: MutableStats, abort: { error?: unknown }): Promise<void> {
    const limiter = this.writeLimiter;
    let pending = batch;
    for (let attempt = 0; ; attempt++) {
      if (abort.error !== undefined) throw abort.error;
      let output: BatchWriteItemCommandOutput | undefined;
      let failure: unknown;
      stats.requests++;
      await limiter.acquire();
      try {
        output = await this.client.send(
          new BatchWriteItemCommand({ RequestItems: { [this.tableName]: pending }, ReturnConsumedCapacity: 'TOTAL' }),
        );
        if (crashHooksEnabled) crashPoint('dynamo:batch-write'); // reliability tests only (src/testing)
      } catch (error) {
        if (!isRetryable(error)) throw error;
        failure = error;
        if (isThrottle(error)) {
          stats.throttles++;
          limiter.onThrottle();
        }
      } finally {
        limiter.release();
      }
      if (output) {
        for (const consumed of output.ConsumedCapacity ?? []) stats.consumedWriteUnits += consumed.CapacityUnits ?? 0;
        const unprocessed = output.UnprocessedItems?.[this.tableName] ?? [];
        if (unprocessed.length === 0) {
          limiter.onSuccess();
          return;
        }
        stats.throttles++;
        limiter.onThrottle();
        pending = unprocessed;
      }
      if (attempt + 1 >= this.policy.maxAttempts) {
        throw new TransientError(
          `BatchWriteItem to ${this.tableName}: ${pending.length} items still unwritten after ${this.policy.maxAttempts} attempts`,
          { unwritten: pending.length, attempts: this.policy.maxAttempts },
          { cause: failure },
        );
      }
      stats.retries++;
      const delay = backoffDelay(this.policy, attempt);
      stats.backoffMs += delay;
      await this.policy.sleep(delay);
    }
  }

  /** Sends a single-item call, retrying throttles and transient failures within the policy. */
  private async send<T>(call: () => Promise<T>, what: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (!isRetryable(error)) throw error;
        if (attempt + 1 >= this.policy.maxAttempts) {
          throw new TransientError(
            `${what} on ${this.tableName} failed after ${this.policy.maxAttempts} attempts`,
            undefined,
            {
              cause: error,
            },
          );
        }
        await this.policy.sleep(backoffDelay(this.policy, attempt));
      }
    }
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
      sets.push('published = if_not_exists(published, :f)');
      values[':f'] = false;
    }
    if (record.embeddedUsers !== undefined) {
      sets.push('embeddedUsers = :eu');
      values[':eu'] = record.embeddedUsers;
    }
    if (record.details !== undefined) {
      sets.push('details = :det');
      values[':det'] = record.details;
    }
    await this.send(
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: marshall({ pk: VERSION_PK, sk: versionIdOf(id) }),
            UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
            ExpressionAttributeNames: { '#date': 'date' },
            ExpressionAttributeValues: marshall(values, {
              removeUndefinedValues: true,
              convertClassInstanceToMap: true,
            }),
          }),
        ),
      'recordVersion',
    );
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
    const records: VersionRecord[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page: QueryCommandOutput = await this.send(
        () =>
          this.client.send(
            new QueryCommand({
              TableName: this.tableName,
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: marshall({ ':pk': VERSION_PK }),
              ExclusiveStartKey: startKey,
              ConsistentRead: true,
            }),
          ),
        'listVersions',
      );
      for (const item of page.Items ?? []) records.push(toVersionRecord(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
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
    if (record.withdrawn) await this.recordVersion({ ...id, published: true }); // rolling forward again
    const pointer = await this.putPointer(id, current.seq);
    await this.withdrawAfter(record, current.date);
    return pointer;
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
    const records: VersionRecord[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page: QueryCommandOutput = await this.send(
        () =>
          this.client.send(
            new QueryCommand({
              TableName: this.tableName,
              KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
              ExpressionAttributeValues: marshall({
                ':pk': VERSION_PK,
                ':from': `${modelVersion}@`,
                ':to': `${modelVersion}@${upTo}`,
              }),
              ExclusiveStartKey: startKey,
              ConsistentRead: true,
            }),
          ),
        'versionsOfModel',
      );
      for (const item of page.Items ?? []) records.push(toVersionRecord(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return records;
  }

  /** Dates of `modelVersion` whose items count at `date`: published, not withdrawn, <= date. */
  private async visibleDates(modelVersion: string, date: string): Promise<string[]> {
    const records = await this.versionsOfModel(modelVersion, date);
    return records.filter((v) => v.published && !v.withdrawn).map((v) => v.date);
  }

  // ---------------------------------------------------------------- run lock

  public async acquireRunLock(version: VersionId | string, owner: string, leaseMs: number): Promise<RunLock> {
    const id = versionIdOf(toVersionId(version));
    if (owner.length === 0) throw new ValidationError('run lock owner must not be empty');
    const now = this.now();
    const lock: RunLock = { version: id, owner, expiresAt: now + leaseMs };
    try {
      await this.send(
        () =>
          this.client.send(
            new PutItemCommand({
              TableName: this.tableName,
              Item: marshall({
                pk: LOCK_PK,
                sk: id,
                owner,
                expiresAt: lock.expiresAt,
                acquiredAt: new Date(now).toISOString(),
              }),
              ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR #owner = :owner',
              ExpressionAttributeNames: { '#owner': 'owner' },
              ExpressionAttributeValues: marshall({ ':now': now, ':owner': owner }),
            }),
          ),
        'acquireRunLock',
      );
      if (crashHooksEnabled) crashPoint('dynamo:lock');
    } catch (error) {
      if (!conditionFailed(error)) throw error;
      const holder = await this.getRunLock(id);
      throw new ConflictError(
        `run ${id} is already running: locked by ${holder?.owner ?? '(unknown)'} until ${holder ? new Date(holder.expiresAt).toISOString() : '(unknown)'}`,
        { version: id, holder: holder?.owner, expiresAt: holder?.expiresAt },
      );
    }
    return lock;
  }

  public async getRunLock(version: VersionId | string): Promise<RunLock | undefined> {
    const id = versionIdOf(toVersionId(version));
    const output = await this.send(
      () =>
        this.client.send(
          new GetItemCommand({
            TableName: this.tableName,
            Key: marshall({ pk: LOCK_PK, sk: id }),
            ConsistentRead: true,
          }),
        ),
      'getRunLock',
    );
    if (!output.Item) return undefined;
    const raw = unmarshall(output.Item);
    return { version: id, owner: String(raw.owner), expiresAt: Number(raw.expiresAt) };
  }

  public async releaseRunLock(version: VersionId | string, owner: string): Promise<boolean> {
    const id = versionIdOf(toVersionId(version));
    try {
      await this.send(
        () =>
          this.client.send(
            new DeleteItemCommand({
              TableName: this.tableName,
              Key: marshall({ pk: LOCK_PK, sk: id }),
              ConditionExpression: '#owner = :owner',
              ExpressionAttributeNames: { '#owner': 'owner' },
              ExpressionAttributeValues: marshall({ ':owner': owner }),
            }),
          ),
        'releaseRunLock',
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  // ---------------------------------------------------------------- reads

  /** The version that answers: the pointer's, or a pinned one that is recorded, published and retained. */
  public async resolveVersion(version?: VersionId, options?: LookupOptions): Promise<ResolvedVersion> {
    if (!version) {
      const pointer = await this.getPointer();
      if (!pointer) throw new NotFoundError('no version is published yet');
      const visibleDates = await this.visibleDates(pointer.modelVersion, pointer.date);
      // The pointer's own date always counts (it only ever points at a published version).
      if (!visibleDates.includes(pointer.date)) visibleDates.push(pointer.date);
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
    if (!visibleDates.includes(record.date)) visibleDates.push(record.date);
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
    if (!dates) dates = [...(await this.visibleDates(id.modelVersion, id.date)), id.date];
    const visible = new Set(dates);
    const found = await mapWithConcurrency(unique, this.readConcurrency, (userId) => this.readOne(userId, id, visible));
    const results = new Map<string, LookupResult>();
    for (const result of found) if (result) results.set(result.userId, result);
    return results;
  }

  /**
   * Newest item with sk <= date whose date is visible. Pages of READ_PAGE items, newest first: a
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
              KeyConditionExpression: 'pk = :pk AND sk <= :date',
              ExpressionAttributeValues: {
                ':pk': { S: userPartitionKey(version.modelVersion, userId) },
                ':date': { S: version.date },
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

/** Decodes an embedding item; undefined when its TTL is at or before `expiredAtOrBefore` (epoch s). */
export function decodeItem(
  userId: string,
  version: VersionId,
  item: Record<string, AttributeValue>,
  expiredAtOrBefore: number,
): LookupResult | undefined {
  const ttl = Number(item[EMBEDDING_ATTRS.ttl]?.N ?? Number.POSITIVE_INFINITY);
  if (ttl <= expiredAtOrBefore) return undefined;
  const dims = Number(item[EMBEDDING_ATTRS.dims]?.N);
  const bytes = item[EMBEDDING_ATTRS.vector]?.B;
  const dtype = (item[EMBEDDING_ATTRS.dtype]?.S ?? DEFAULT_DTYPE) as EmbeddingDtype;
  if (!bytes || !Number.isInteger(dims) || (dtype !== 'float16' && dtype !== 'float32')) {
    throw new ValidationError(`malformed embedding item for ${JSON.stringify(userId)}`, { userId });
  }
  return {
    userId,
    version: versionIdOf(version),
    modelVersion: version.modelVersion,
    date: item.sk?.S ?? '',
    dims,
    embedding: Array.from(decodeVector(bytes, dims, dtype)),
  };
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
  };
  return record;
}

/** User ids are key material: non-empty, well-formed, no control characters, bounded. */
export function assertUserId(userId: string): void {
  if (typeof userId !== 'string' || userId.length === 0)
    throw new ValidationError('user id must be a non-empty string');
  if (BAD_ID_CHARS.test(userId))
    throw new ValidationError('user id contains control characters or unpaired surrogates');
  if (Buffer.byteLength(userId, 'utf8') > MAX_USER_ID_BYTES) {
    throw new ValidationError(`user id is longer than ${MAX_USER_ID_BYTES} bytes`);
  }
}
