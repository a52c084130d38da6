/**
 * The reader role: resolves the version a lookup reads (the pointer's, or a pinned one that is
 * recorded, published and retained) and reads each user's newest visible item under it. The
 * lookup handler's and the client library's table access.
 */
import { type AttributeValue, QueryCommand, type QueryCommandOutput } from '@aws-sdk/client-dynamodb';
import { NotFoundError } from '../util/errors.ts';
import { assertUserId, decodeItem } from './embedding-item.ts';
import { mapWithConcurrency } from './retry.ts';
import { type StoreSettings, storeSettings, type TableStoreOptions } from './store-options.ts';
import { sendWithRetries } from './table-context.ts';
import {
  epochSecondsAfter,
  itemSortKey,
  itemSortKeyAfter,
  toVersionId,
  userPartitionKey,
  versionIdOf,
} from './table-schema.ts';
import type { EmbeddingReader, LookupOptions, LookupResult, ResolvedVersion, VersionId } from './types.ts';
import { DynamoVersionReader } from './version-reader.ts';

/** Items per lookup Query page (see readOne). */
const READ_PAGE = 4;

export class DynamoEmbeddingReader implements EmbeddingReader {
  private readonly settings: StoreSettings;
  private readonly versions: DynamoVersionReader;

  public constructor(options: TableStoreOptions) {
    this.settings = storeSettings(options);
    this.versions = new DynamoVersionReader(options);
  }

  /** The version that answers: the pointer's, or a pinned one that is recorded, published and retained. */
  public async resolveVersion(version?: VersionId, options?: LookupOptions): Promise<ResolvedVersion> {
    if (!version) {
      const pointer = await this.versions.getPointer();
      if (!pointer) throw new NotFoundError('no version is published yet');
      // The pointer only ever points at a published version: its record is among the visible ones.
      const visibleDates = await this.versions.visibleDates(pointer.modelVersion, pointer.date);
      return { modelVersion: pointer.modelVersion, date: pointer.date, visibleDates };
    }
    const record = await this.versions.getVersion(version);
    const label = versionIdOf(toVersionId(version));
    if (!record) throw new NotFoundError(`version ${label} is not recorded`, { version: label });
    if (!options?.allowUnpublished) {
      if (!record.published) throw new NotFoundError(`version ${label} is not published`, { version: label });
      if (record.withdrawn) throw new NotFoundError(`version ${label} was withdrawn by a rollback`, { version: label });
    }
    await this.versions.assertRetained(record);
    const visibleDates = await this.versions.visibleDates(record.modelVersion, record.date);
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
    if (!dates) dates = [...(await this.versions.visibleDates(id.modelVersion, id.date)), itemSortKey(id)];
    const visible = new Set(dates);
    const found = await mapWithConcurrency(unique, this.settings.readConcurrency, (userId) =>
      this.readOne(userId, id, visible),
    );
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
    const { table } = this.settings;
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const output: QueryCommandOutput = await sendWithRetries(table, 'lookup', () =>
        table.client.send(
          new QueryCommand({
            TableName: table.tableName,
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
    const { wallClockExpiry, table } = this.settings;
    return wallClockExpiry ? Math.max(servedSeconds, Math.floor(table.now() / 1000)) : servedSeconds;
  }
}
