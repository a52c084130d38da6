/**
 * The read side of the version registry: version records (`#version` / `mv@date`) and the
 * pointer (`#pointer` / `current`), always read consistently. The plan stage's table access, and
 * what the registry (./version-registry.ts) and the reader (./embedding-reader.ts) build on.
 */
import {
  type AttributeValue,
  GetItemCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { NotFoundError } from '../util/errors.ts';
import { type StoreSettings, storeSettings, type TableStoreOptions } from './store-options.ts';
import { sendWithRetries } from './table-context.ts';
import { epochSecondsAfter, itemSortKey, POINTER_KEY, toVersionId, VERSION_PK, versionIdOf } from './table-schema.ts';
import type { EmbeddingDtype, Pointer, VersionId, VersionReader, VersionRecord } from './types.ts';

export class DynamoVersionReader implements VersionReader {
  protected readonly settings: StoreSettings;

  public constructor(options: TableStoreOptions) {
    this.settings = storeSettings(options);
  }

  public async getVersion(version: VersionId | string): Promise<VersionRecord | undefined> {
    const { table } = this.settings;
    const id = toVersionId(version);
    const output = await sendWithRetries(table, 'getVersion', () =>
      table.client.send(
        new GetItemCommand({
          TableName: table.tableName,
          Key: marshall({ pk: VERSION_PK, sk: versionIdOf(id) }),
          ConsistentRead: true,
        }),
      ),
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

  public async getPointer(): Promise<Pointer | undefined> {
    const { table } = this.settings;
    const output = await sendWithRetries(table, 'getPointer', () =>
      table.client.send(
        new GetItemCommand({ TableName: table.tableName, Key: marshall(POINTER_KEY), ConsistentRead: true }),
      ),
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

  /** Epoch ms after which a version's embeddings may be gone (its TTL); pinned lookups refuse it then. */
  public retainedUntil(record: VersionRecord): number {
    return epochSecondsAfter(record.date, record.retentionDays ?? this.settings.retentionDays) * 1000;
  }

  /**
   * A version is retained while its TTL lies after the current pointer's date and (with
   * wallClockExpiry) after now. NotFoundError otherwise.
   */
  public async assertRetained(record: VersionRecord, pointer?: Pointer): Promise<void> {
    const until = this.retainedUntil(record);
    const current = pointer ?? (await this.getPointer());
    const pastPointer = current !== undefined && Date.parse(`${current.date}T00:00:00Z`) >= until;
    const pastClock = this.settings.wallClockExpiry && this.settings.table.now() >= until;
    if (pastPointer || pastClock) {
      throw new NotFoundError(
        `version ${record.version} is no longer retained (its TTL was ${new Date(until).toISOString()})`,
        { version: record.version },
      );
    }
  }

  /** Version records of one model with date <= `upTo`, ascending (sk range `mv@` .. `mv@upTo`). */
  public async versionsOfModel(modelVersion: string, upTo: string): Promise<VersionRecord[]> {
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

  /** Item sort keys of `modelVersion` that count at `date`: published, not withdrawn, <= date (each its published attempt). */
  public async visibleDates(modelVersion: string, date: string): Promise<string[]> {
    const records = await this.versionsOfModel(modelVersion, date);
    return records.filter((v) => v.published && !v.withdrawn).map((v) => itemSortKey(v));
  }

  /** Every version record matching a key condition, across pages, in key order. */
  private async queryVersionRecords(
    condition: Pick<QueryCommandInput, 'KeyConditionExpression' | 'ExpressionAttributeValues'>,
    operation: string,
  ): Promise<VersionRecord[]> {
    const { table } = this.settings;
    const records: VersionRecord[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page: QueryCommandOutput = await sendWithRetries(table, operation, () =>
        table.client.send(
          new QueryCommand({
            TableName: table.tableName,
            ...condition,
            ExclusiveStartKey: startKey,
            ConsistentRead: true,
          }),
        ),
      );
      for (const item of page.Items ?? []) records.push(toVersionRecord(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return records;
  }
}

function toVersionRecord(item: Record<string, AttributeValue>): VersionRecord {
  const raw = unmarshall(item);
  return {
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
}
