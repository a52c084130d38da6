/**
 * The run lock ("two runs at once" without transactions): `#lock/<version>` taken with a
 * conditional put that succeeds when the lock is absent, its lease lapsed, or the same owner renews.
 * The run-lock role: DynamoRunLockTaker (take, read) and DynamoRunLocks (release too).
 */
import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { LOCK_OWNER_ATTRIBUTE } from '../contract/run-contract.ts';
import { crashHooksEnabled, crashPoint } from '../testing/crash-points.ts';
import { ConflictError, ValidationError } from '../util/errors.ts';
import { storeSettings, type TableStoreOptions } from './store-options.ts';
import { conditionFailed, sendWithRetries, type TableContext } from './table-context.ts';
import { LOCK_PK, toVersionId, versionIdOf } from './table-schema.ts';
import type { RunLock, RunLocks, RunLockTaker, VersionId } from './types.ts';

/** Takes (or renews) the lock of version id `id`; ConflictError naming the holder otherwise. */
export async function acquireRunLock(
  table: TableContext,
  id: string,
  owner: string,
  leaseMs: number,
): Promise<RunLock> {
  if (owner.length === 0) throw new ValidationError('run lock owner must not be empty');
  const now = table.now();
  const lock: RunLock = { version: id, owner, expiresAt: now + leaseMs };
  try {
    await sendWithRetries(table, 'acquireRunLock', () =>
      table.client.send(
        new PutItemCommand({
          TableName: table.tableName,
          Item: marshall({
            pk: LOCK_PK,
            sk: id,
            [LOCK_OWNER_ATTRIBUTE]: owner,
            expiresAt: lock.expiresAt,
            acquiredAt: new Date(now).toISOString(),
          }),
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR #owner = :owner',
          ExpressionAttributeNames: { '#owner': LOCK_OWNER_ATTRIBUTE },
          ExpressionAttributeValues: marshall({ ':now': now, ':owner': owner }),
        }),
      ),
    );
    if (crashHooksEnabled) crashPoint('dynamo:lock');
  } catch (error) {
    if (!conditionFailed(error)) throw error;
    const holder = await getRunLock(table, id);
    throw new ConflictError(
      `run ${id} is already running: locked by ${holder?.owner ?? '(unknown)'} until ${holder ? new Date(holder.expiresAt).toISOString() : '(unknown)'}`,
      { version: id, holder: holder?.owner, expiresAt: holder?.expiresAt },
    );
  }
  return lock;
}

export async function getRunLock(table: TableContext, id: string): Promise<RunLock | undefined> {
  const output = await sendWithRetries(table, 'getRunLock', () =>
    table.client.send(
      new GetItemCommand({ TableName: table.tableName, Key: marshall({ pk: LOCK_PK, sk: id }), ConsistentRead: true }),
    ),
  );
  if (!output.Item) return undefined;
  const raw = unmarshall(output.Item);
  return { version: id, owner: String(raw[LOCK_OWNER_ATTRIBUTE]), expiresAt: Number(raw.expiresAt) };
}

/** Deletes the lock if `owner` still holds it; false when it did not. */
export async function releaseRunLock(table: TableContext, id: string, owner: string): Promise<boolean> {
  try {
    await sendWithRetries(table, 'releaseRunLock', () =>
      table.client.send(
        new DeleteItemCommand({
          TableName: table.tableName,
          Key: marshall({ pk: LOCK_PK, sk: id }),
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': LOCK_OWNER_ATTRIBUTE },
          ExpressionAttributeValues: marshall({ ':owner': owner }),
        }),
      ),
    );
    return true;
  } catch (error) {
    if (conditionFailed(error)) return false;
    throw error;
  }
}

/** The plan step's lock role: takes a lock and names its holder, never releases one. */
export class DynamoRunLockTaker implements RunLockTaker {
  protected readonly table: TableContext;

  public constructor(options: TableStoreOptions) {
    this.table = storeSettings(options).table;
  }

  public acquireRunLock(version: VersionId | string, owner: string, leaseMs: number): Promise<RunLock> {
    return acquireRunLock(this.table, versionIdOf(toVersionId(version)), owner, leaseMs);
  }

  public getRunLock(version: VersionId | string): Promise<RunLock | undefined> {
    return getRunLock(this.table, versionIdOf(toVersionId(version)));
  }
}

/** Run locks released too: the local runner and the operators' unlock and cancel. */
export class DynamoRunLocks extends DynamoRunLockTaker implements RunLocks {
  public releaseRunLock(version: VersionId | string, owner: string): Promise<boolean> {
    return releaseRunLock(this.table, versionIdOf(toVersionId(version)), owner);
  }
}
