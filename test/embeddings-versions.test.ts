/**
 * The version records and the pointer of DynamoEmbeddingStore, field by field and message by
 * message, against a real dynalite (issue 21, `make mutation`'s `versioning` module): what a
 * record holds after each kind of write, where retention ends, how the pointer refuses a stale
 * move, and what a rollback withdraws and a roll forward restores.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoEmbeddingStore } from '../src/embeddings/dynamo-store.ts';
import { epochSecondsAfter, VERSION_PK } from '../src/embeddings/table-schema.ts';
import type { VersionId } from '../src/embeddings/types.ts';
import { DynamoVersionReader } from '../src/embeddings/version-reader.ts';
import type { LocalDynamo } from '../src/local/dynalite.ts';
import { ConflictError, NotFoundError, ValidationError } from '../src/util/errors.ts';
import { freshStore, makeRecords, startDynamo } from './embeddings-helpers.ts';

const day = (d: number): VersionId => ({ modelVersion: 'm1', date: `2026-10-0${d}` });
const NOW = Date.parse('2026-10-05T01:02:03Z');

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startDynamo();
});
afterAll(async () => dynamo.close());

/** Records and publishes `version` (the publish stage's calls), with one user written. */
async function publish(store: DynamoEmbeddingStore, version: VersionId): Promise<void> {
  await store.writeEmbeddings(version, makeRecords(['alice'], 8, Number(version.date.slice(-2))));
  await store.recordVersion({ ...version, published: false });
  await store.publishVersion(version, (await store.getPointer())?.seq);
}

const withdrawn = async (store: DynamoEmbeddingStore) =>
  (await store.listVersions()).filter((v) => v.withdrawn).map((v) => v.version);

describe('version records', () => {
  it('hold what they were told, with the store defaults for retention and dtype', async () => {
    const { store } = await freshStore(dynamo, { retentionDays: 7, dtype: 'float32', now: () => NOW });
    await store.recordVersion({ ...day(1), published: false });
    await store.recordVersion({
      ...day(2),
      attempt: 'a1',
      published: false,
      embeddedUsers: 3,
      details: { gate: { passed: false } },
      retentionDays: 9,
      dtype: 'float16',
    });
    expect(await store.getVersion(day(1))).toStrictEqual({
      version: 'm1@2026-10-01',
      modelVersion: 'm1',
      date: '2026-10-01',
      published: false,
      retentionDays: 7,
      dtype: 'float32',
    });
    expect(await store.getVersion('m1@2026-10-02')).toEqual({
      version: 'm1@2026-10-02',
      modelVersion: 'm1',
      date: '2026-10-02',
      published: false,
      attempt: 'a1',
      embeddedUsers: 3,
      details: { gate: { passed: false } },
      retentionDays: 9,
      dtype: 'float16',
    });
    expect(await store.getVersion(day(3))).toBeUndefined();
  });

  it('a refused rerun of the bare keys drops the attempt; a published record keeps its attempt and first publishedAt', async () => {
    let now = NOW;
    const { store } = await freshStore(dynamo, { now: () => now });
    await store.recordVersion({ ...day(2), attempt: 'a1', published: false });
    await store.recordVersion({ ...day(2), published: false });
    expect((await store.getVersion(day(2)))?.attempt).toBeUndefined();
    await store.recordVersion({ ...day(3), attempt: 'a2', published: true });
    now += 3_600_000;
    await store.recordVersion({ ...day(3), published: true, embeddedUsers: 4 });
    expect(await store.getVersion(day(3))).toMatchObject({
      attempt: 'a2',
      published: true,
      publishedAt: '2026-10-05T01:02:03.000Z',
      embeddedUsers: 4,
    });
    await store.recordVersion({ ...day(4), published: true, publishedAt: '2026-10-04T23:00:00.000Z' });
    expect((await store.getVersion(day(4)))?.publishedAt).toBe('2026-10-04T23:00:00.000Z');
  });

  it('list in date order, then by model, across pages', async () => {
    const { store } = await freshStore(dynamo);
    // ~300 KB of details each: a Query page (1 MB) holds three at most
    const big = { blob: 'x'.repeat(300_000) };
    for (const [modelVersion, date] of [
      ['m2', '2026-10-02'],
      ['m1', '2026-10-03'],
      ['m1', '2026-10-02'],
      ['m0', '2026-10-03'],
      ['m1', '2026-10-01'],
    ] as const) {
      await store.recordVersion({ modelVersion, date, published: false, details: big });
    }
    const versions = await store.listVersions();
    expect(versions.map((v) => v.version)).toEqual([
      'm1@2026-10-01',
      'm1@2026-10-02',
      'm2@2026-10-02',
      'm0@2026-10-03',
      'm1@2026-10-03',
    ]);
    expect(versions.every((v) => v.details?.blob === big.blob)).toBe(true);
  });

  it('are retained until date + retention days, judged at the pointer date and by the clock', async () => {
    let now = Date.parse('2026-10-01T12:00:00Z');
    const { store } = await freshStore(dynamo, { retentionDays: 2, wallClockExpiry: true, now: () => now });
    await publish(store, day(1));
    const record = (await store.getVersion(day(1)))!;
    const until = Date.parse('2026-10-03T00:00:00Z');
    expect(store.retainedUntil(record)).toBe(until);
    expect(store.retainedUntil({ ...record, retentionDays: 5 })).toBe(epochSecondsAfter('2026-10-01', 5) * 1000);
    await publish(store, day(2));
    now = until - 1;
    expect((await store.resolveVersion(day(1))).date).toBe('2026-10-01'); // one ms before: still there
    now = until;
    await expect(store.resolveVersion(day(1))).rejects.toThrow(
      'version m1@2026-10-01 is no longer retained (its TTL was 2026-10-03T00:00:00.000Z)',
    );
    // by the pointer: a store without the clock, once the pointer's date reaches the TTL
    const { store: local } = await freshStore(dynamo, { retentionDays: 2 });
    await publish(local, day(1));
    await publish(local, day(2));
    expect((await local.resolveVersion(day(1))).date).toBe('2026-10-01');
    await publish(local, day(3));
    await expect(local.resolveVersion(day(1))).rejects.toBeInstanceOf(NotFoundError);
    await expect(local.rollback(day(1))).rejects.toThrow(/no longer retained/);
  });
});

describe('the pointer', () => {
  it('starts at seq 1 with the move time, and refuses unknown and unpublished versions by name', async () => {
    const { store } = await freshStore(dynamo, { now: () => NOW });
    expect(await store.getPointer()).toBeUndefined();
    await expect(store.movePointer(day(9), undefined)).rejects.toThrow('version m1@2026-10-09 is not recorded');
    await store.recordVersion({ ...day(1), published: false });
    const unpublished = await store.movePointer(day(1), undefined).catch((e) => e);
    expect(unpublished).toBeInstanceOf(ValidationError);
    expect(unpublished.message).toBe(
      'version m1@2026-10-01 is not published; the pointer only moves to published versions',
    );
    await store.recordVersion({ ...day(1), published: true });
    const moved = await store.movePointer(day(1), undefined);
    const expected = {
      modelVersion: 'm1',
      date: '2026-10-01',
      version: 'm1@2026-10-01',
      seq: 1,
      updatedAt: '2026-10-05T01:02:03.000Z',
    };
    expect(moved).toEqual(expected);
    expect(await store.getPointer()).toEqual(expected);
  });

  it('a move with the seq it already has is a no-op; a stale seq is a ConflictError naming both', async () => {
    let now = NOW;
    const { store } = await freshStore(dynamo, { now: () => now });
    await store.recordVersion({ ...day(1), published: true });
    await store.recordVersion({ ...day(2), published: true });
    const first = await store.movePointer(day(1), undefined);
    now += 1000;
    expect(await store.movePointer(day(1), 1)).toEqual(first); // already there at that seq: a rerun
    const none = await store.movePointer(day(2), undefined).catch((e) => e);
    expect(none).toBeInstanceOf(ConflictError);
    expect(none.message).toBe('the pointer moved meanwhile: expected seq (none), found seq 1 at m1@2026-10-01');
    await expect(store.movePointer(day(2), 5)).rejects.toThrow(
      'the pointer moved meanwhile: expected seq 5, found seq 1 at m1@2026-10-01',
    );
    const second = await store.movePointer(day(2), 1);
    expect(second).toMatchObject({ version: 'm1@2026-10-02', seq: 2, updatedAt: '2026-10-05T01:02:04.000Z' });
    // the same version at another seq is a move, not a no-op
    await expect(store.movePointer(day(2), 1)).rejects.toBeInstanceOf(ConflictError);
  });

  it('publishVersion keeps the recorded details unless given new ones, and refuses an unrecorded version', async () => {
    const { store } = await freshStore(dynamo);
    await expect(store.publishVersion(day(1), undefined)).rejects.toThrow('version m1@2026-10-01 is not recorded');
    await store.recordVersion({ ...day(1), published: false, details: { gate: 'old' } });
    await store.publishVersion(day(1), undefined);
    expect((await store.getVersion(day(1)))?.details).toEqual({ gate: 'old' });
    await store.recordVersion({ ...day(2), published: false, details: { gate: 'old' } });
    const pointer = await store.publishVersion(day(2), 1, { gate: 'new' });
    expect((await store.getVersion(day(2)))?.details).toEqual({ gate: 'new' });
    expect(pointer).toMatchObject({ version: 'm1@2026-10-02', seq: 2 });
  });
});

describe('rollback and roll forward', () => {
  it('refuses without a pointer, to an unpublished version and on a stale seq, each by name', async () => {
    const { store } = await freshStore(dynamo);
    await expect(store.rollback(day(1))).rejects.toThrow('nothing is published yet: there is no pointer to roll back');
    await publish(store, day(1));
    await publish(store, day(2));
    await store.recordVersion({ ...day(3), published: false });
    await expect(store.rollback(day(3))).rejects.toThrow(
      'version m1@2026-10-03 was never published; rollback only goes to published versions',
    );
    await expect(store.rollback(day(4))).rejects.toThrow('version m1@2026-10-04 is not recorded');
    await expect(store.rollback(day(1), 1)).rejects.toThrow(
      'the pointer moved meanwhile: expected seq 1, found seq 2 at m1@2026-10-02',
    );
    expect(await store.rollback(day(1), 2)).toMatchObject({ version: 'm1@2026-10-01', seq: 3 });
  });

  it('withdraws the later versions of its model only, and finishes a rollback that stopped after the pointer', async () => {
    const { store } = await freshStore(dynamo);
    for (const d of [1, 2, 3]) await publish(store, day(d));
    await publish(store, { modelVersion: 'm2', date: '2026-10-04' });
    // a rollback that moved the pointer and crashed before withdrawing anything
    await store.movePointer(day(1), (await store.getPointer())!.seq);
    expect(await withdrawn(store)).toEqual([]);
    const pointer = (await store.getPointer())!;
    // Act
    expect(await store.rollback(day(1))).toEqual(pointer); // the pointer stays as it is
    // Assess
    expect(await withdrawn(store)).toEqual(['m1@2026-10-02', 'm1@2026-10-03']);
  });

  it('rolling forward restores the versions between the last visible one and the target, not later ones', async () => {
    const { store } = await freshStore(dynamo);
    for (const d of [1, 2, 3, 4]) await publish(store, day(d));
    await store.rollback(day(1));
    expect(await withdrawn(store)).toEqual(['m1@2026-10-02', 'm1@2026-10-03', 'm1@2026-10-04']);
    // Act
    const forward = await store.rollback(day(3));
    // Assess
    expect(forward.version).toBe('m1@2026-10-03');
    expect(await withdrawn(store)).toEqual(['m1@2026-10-04']);
    expect((await store.resolveVersion()).visibleDates).toEqual(['2026-10-01', '2026-10-02', '2026-10-03']);
  });

  it('rolling forward keeps an older withdrawal: only what lies between the newest visible version and the target', async () => {
    const { store } = await freshStore(dynamo);
    await publish(store, day(1));
    await publish(store, day(2));
    await store.rollback(day(1)); // withdraws 2
    await publish(store, day(3));
    await publish(store, day(4));
    await store.rollback(day(3)); // withdraws 4
    // Act: forward to 4; 3 is the newest visible version below it, so 2 stays withdrawn
    await store.rollback(day(4));
    // Assess
    expect(await withdrawn(store)).toEqual(['m1@2026-10-02']);
    expect((await store.resolveVersion()).visibleDates).toEqual(['2026-10-01', '2026-10-03', '2026-10-04']);
  });

  it('rolling forward never publishes a refused day that lies between', async () => {
    const { store } = await freshStore(dynamo);
    await publish(store, day(1));
    await store.recordVersion({ ...day(2), published: false }); // refused by the gate
    await publish(store, day(3));
    await store.rollback(day(1));
    await store.rollback(day(3));
    expect((await store.getVersion(day(2)))?.published).toBe(false);
    expect((await store.resolveVersion()).visibleDates).toEqual(['2026-10-01', '2026-10-03']);
  });

  it('a rollback sees only its own model, even one whose name sorts first', async () => {
    const { store } = await freshStore(dynamo);
    await publish(store, { modelVersion: 'm0', date: '2026-10-02' });
    await publish(store, day(1));
    await publish(store, day(3));
    await store.rollback(day(1));
    expect(await withdrawn(store)).toEqual(['m1@2026-10-03']);
    expect((await store.resolveVersion()).visibleDates).toEqual(['2026-10-01']);
  });

  it('refusals carry the version and the pointer they were about', async () => {
    const { store } = await freshStore(dynamo);
    const unrecorded = await store.movePointer(day(9), undefined).catch((e) => e);
    expect(unrecorded.details).toEqual({ version: 'm1@2026-10-09' });
    await store.recordVersion({ ...day(1), published: false });
    expect((await store.movePointer(day(1), undefined).catch((e) => e)).details).toEqual({ version: 'm1@2026-10-01' });
    expect((await store.publishVersion(day(8), undefined).catch((e) => e)).details).toEqual({
      version: 'm1@2026-10-08',
    });
    await store.publishVersion(day(1), undefined);
    const stale = await store.movePointer(day(1), 7).catch((e) => e);
    expect(stale.details).toEqual({ expectedSeq: 7, current: await store.getPointer() });
    await store.recordVersion({ ...day(2), published: false });
    expect((await store.rollback(day(2)).catch((e) => e)).details).toEqual({ version: 'm1@2026-10-02' });
    expect((await store.rollback(day(5)).catch((e) => e)).details).toEqual({ version: 'm1@2026-10-05' });
    await publish(store, day(3));
    const moved = await store.rollback(day(1), 1).catch((e) => e);
    expect(moved.details).toEqual({ expectedSeq: 1, current: await store.getPointer() });
  });

  it('a rollback leaves versions published after the date it rolled back from alone', async () => {
    const { store } = await freshStore(dynamo);
    for (const d of [1, 2]) await publish(store, day(d));
    await store.recordVersion({ ...day(3), published: true }); // published, the pointer never moved there
    await store.rollback(day(1));
    expect(await withdrawn(store)).toEqual(['m1@2026-10-02']);
  });
});

describe('records and writes at the edges (mutation survivors of the role files)', () => {
  it('reads a record written without retention, dtype or details as absent fields, not NaN', async () => {
    const { store, tableName } = await freshStore(dynamo, { retentionDays: 5, now: () => NOW });
    // a record as an earlier release wrote it: no retentionDays, dtype or details attributes
    const item = { pk: VERSION_PK, sk: 'm1@2026-10-01', modelVersion: 'm1', date: '2026-10-01', published: true };
    await dynamo.client.send(new PutItemCommand({ TableName: tableName, Item: marshall(item) }));
    const record = await store.getVersion(day(1));
    expect(record).toStrictEqual({ version: 'm1@2026-10-01', modelVersion: 'm1', date: '2026-10-01', published: true });
    expect(store.retainedUntil(record!)).toBe(epochSecondsAfter('2026-10-01', 5) * 1000);
  });

  it('a version is retained before any pointer exists', async () => {
    const { store, tableName } = await freshStore(dynamo, { now: () => NOW });
    await store.recordVersion({ ...day(1), published: false });
    const reader = new DynamoVersionReader({ tableName, client: dynamo.client, wallClockExpiry: false });
    expect(await reader.getPointer()).toBeUndefined();
    await expect(reader.assertRetained((await reader.getVersion(day(1)))!)).resolves.toBeUndefined();
  });

  it('a failed record write that is not a lost condition is an error, never silence', async () => {
    const missing = new DynamoEmbeddingStore({
      tableName: `no-such-table-${process.pid}`,
      client: dynamo.client,
      wallClockExpiry: false,
    });
    await expect(missing.recordVersion({ ...day(1), published: false })).rejects.toThrow(
      /no-such-table|not found|ResourceNotFound/i,
    );
    await expect(missing.recordVersion({ ...day(1), published: true })).rejects.toThrow(
      /no-such-table|not found|ResourceNotFound/i,
    );
  });
});
