/**
 * The version registry role: records versions and moves the pointer, with conditional writes
 * only (no transactions, which dynalite lacks). The publish stage's table access, and rollback's.
 * Reads come from ./version-reader.ts.
 */
import { PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { crashHooksEnabled, crashPoint } from '../testing/crash-points.ts';
import { ConflictError, NotFoundError, ValidationError } from '../util/errors.ts';
import { conditionFailed, sendWithRetries } from './table-context.ts';
import { POINTER_KEY, toVersionId, VERSION_PK, versionIdOf } from './table-schema.ts';
import type { Pointer, VersionId, VersionRecord, VersionRegistry } from './types.ts';
import { DynamoVersionReader } from './version-reader.ts';

export class DynamoVersionRegistry extends DynamoVersionReader implements VersionRegistry {
  public async recordVersion(record: Omit<VersionRecord, 'version'>): Promise<void> {
    const { table } = this.settings;
    const id = toVersionId(record);
    const update = versionUpdate(record, {
      retentionDays: record.retentionDays ?? this.settings.retentionDays,
      dtype: record.dtype ?? this.settings.dtype,
      publishedAt: record.publishedAt ?? new Date(table.now()).toISOString(),
    });
    try {
      await sendWithRetries(table, 'recordVersion', () =>
        table.client.send(
          new UpdateItemCommand({
            TableName: table.tableName,
            Key: marshall({ pk: VERSION_PK, sk: versionIdOf(id) }),
            UpdateExpression: update.expression,
            // An unpublished record never lands on a published one: a refused rerun leaves it as it was.
            ...(record.published ? {} : { ConditionExpression: 'attribute_not_exists(published) OR published = :f' }),
            ExpressionAttributeNames: { '#date': 'date' },
            ExpressionAttributeValues: marshall(update.values, {
              removeUndefinedValues: true,
              convertClassInstanceToMap: true,
            }),
          }),
        ),
      );
    } catch (error) {
      if (!conditionFailed(error)) throw error;
    }
    if (crashHooksEnabled) crashPoint('dynamo:record-version');
  }

  public async movePointer(to: VersionId, expectedSeq: number | undefined): Promise<Pointer> {
    const id = toVersionId(to);
    const unchanged = await this.pointerAlreadyAt(id, expectedSeq);
    if (unchanged) return unchanged;
    const record = await this.recorded(id);
    if (!record.published) {
      throw new ValidationError(
        `version ${record.version} is not published; the pointer only moves to published versions`,
        { version: record.version },
      );
    }
    return this.putPointer(id, expectedSeq);
  }

  public async publishVersion(
    version: VersionId,
    expectedSeq: number | undefined,
    details?: Record<string, unknown>,
  ): Promise<Pointer> {
    const id = toVersionId(version);
    const record = await this.recorded(id);
    await this.recordVersion({ ...id, published: true, details: details ?? record.details });
    return (await this.pointerAlreadyAt(id, expectedSeq)) ?? this.putPointer(id, expectedSeq);
  }

  public async rollback(to: VersionId | string, expectedSeq?: number): Promise<Pointer> {
    const id = toVersionId(to);
    const current = await this.getPointer();
    if (!current) throw new NotFoundError('nothing is published yet: there is no pointer to roll back');
    const record = await this.recorded(id);
    if (!record.published) {
      throw new ValidationError(
        `version ${record.version} was never published; rollback only goes to published versions`,
        { version: record.version },
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
        { expectedSeq, current },
      );
    }
    if (record.withdrawn) await this.restoreThrough(record); // rolling forward again
    const pointer = await this.putPointer(id, current.seq);
    await this.withdrawAfter(record, current.date);
    return pointer;
  }

  /** The version's record; NotFoundError when it was never recorded. */
  private async recorded(id: VersionId): Promise<VersionRecord> {
    const record = await this.getVersion(id);
    if (!record) throw new NotFoundError(`version ${versionIdOf(id)} is not recorded`, { version: versionIdOf(id) });
    return record;
  }

  /** The current pointer when it already is at `id` with `expectedSeq`: moving it again is a no-op (reruns). */
  private async pointerAlreadyAt(id: VersionId, expectedSeq: number | undefined): Promise<Pointer | undefined> {
    if (expectedSeq === undefined) return undefined;
    const current = await this.getPointer();
    return current && current.seq === expectedSeq && current.version === versionIdOf(id) ? current : undefined;
  }

  private async putPointer(id: VersionId, expectedSeq: number | undefined): Promise<Pointer> {
    const { table } = this.settings;
    const pointer: Pointer = {
      modelVersion: id.modelVersion,
      date: id.date,
      version: versionIdOf(id),
      seq: (expectedSeq ?? 0) + 1,
      updatedAt: new Date(table.now()).toISOString(),
    };
    try {
      await sendWithRetries(table, 'movePointer', () =>
        table.client.send(
          new PutItemCommand({
            TableName: table.tableName,
            Item: marshall({ ...POINTER_KEY, ...pointer }),
            ConditionExpression: expectedSeq === undefined ? 'attribute_not_exists(pk)' : 'seq = :seq',
            ExpressionAttributeValues: expectedSeq === undefined ? undefined : marshall({ ':seq': expectedSeq }),
          }),
        ),
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
    const { table } = this.settings;
    const later = (await this.versionsOfModel(target.modelVersion, upTo)).filter(
      (v) => v.date > target.date && v.published && !v.withdrawn,
    );
    for (const version of later) {
      await sendWithRetries(table, 'rollback', () =>
        table.client.send(
          new UpdateItemCommand({
            TableName: table.tableName,
            Key: marshall({ pk: VERSION_PK, sk: version.version }),
            UpdateExpression: 'SET withdrawn = :t',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: marshall({ ':t': true }),
          }),
        ),
      );
    }
  }
}

/**
 * The UpdateExpression of recordVersion. No wall-clock fields besides the first publishedAt: a
 * rerun leaves the record unchanged. Publishing is sticky: re-recording a published version (a
 * rerun) never unpublishes it.
 */
function versionUpdate(
  record: Omit<VersionRecord, 'version'>,
  defaults: { readonly retentionDays: number; readonly dtype: string; readonly publishedAt: string },
): { expression: string; values: Record<string, unknown> } {
  const id = toVersionId(record);
  const values: Record<string, unknown> = {
    ':mv': id.modelVersion,
    ':d': id.date,
    ':rd': defaults.retentionDays,
    ':dt': defaults.dtype,
  };
  const sets = ['modelVersion = :mv', '#date = :d', 'retentionDays = :rd', 'dtype = :dt'];
  const removes: string[] = [];
  if (record.published) {
    sets.push('published = :t', 'publishedAt = if_not_exists(publishedAt, :pa)');
    removes.push('withdrawn');
    values[':t'] = true;
    values[':pa'] = defaults.publishedAt;
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
  const remove = removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : '';
  return { expression: `SET ${sets.join(', ')}${remove}`, values };
}
