/**
 * The versioning contract of DynamoEmbeddingStore against a real dynalite: visibility, inactive
 * users, pinning, rollback, model isolation, TTL values, retention, idempotent rewrites, the
 * conditional pointer race, the run lock, and the 1 KB item budget.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeVector } from '../src/embeddings/codec.ts';
import { itemSize, writeUnits } from '../src/embeddings/item-size.ts';
import { epochSecondsAfter, userPartitionKey } from '../src/embeddings/table-schema.ts';
import type { EmbeddingStore, VersionId } from '../src/embeddings/types.ts';
import type { LocalDynamo } from '../src/local/dynalite.ts';
import { ConflictError, NotFoundError, ValidationError } from '../src/util/errors.ts';
import {
  expectOneCallPerGroup,
  freshStore,
  makeRecords,
  recordingClient,
  scanTable,
  startDynamo,
} from './embeddings-helpers.ts';

const M1 = 'm1';
const D1: VersionId = { modelVersion: M1, date: '2026-10-01' };
const D2: VersionId = { modelVersion: M1, date: '2026-10-02' };
const D3: VersionId = { modelVersion: M1, date: '2026-10-03' };
const DIMS = 8;

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startDynamo();
});
afterAll(async () => dynamo.close());

/** Writes, records and publishes a version (the publish stage's calls). */
async function publishDay(store: EmbeddingStore, version: VersionId, userIds: string[], salt: number): Promise<void> {
  await store.writeEmbeddings(version, makeRecords(userIds, DIMS, salt));
  await store.recordVersion({ ...version, published: false, embeddedUsers: userIds.length });
  await store.publishVersion(version, (await store.getPointer())?.seq);
}

/** The fp16 value of a record as the store returns it. */
function expectedVector(userId: string, salt: number): number[] {
  const [record] = makeRecords([userId], DIMS, salt);
  return [...record!.embedding];
}

function close(actual: readonly number[] | undefined, expected: readonly number[]): boolean {
  return (
    actual !== undefined &&
    actual.length === expected.length &&
    actual.every((x, i) => Math.abs(x - expected[i]!) <= 1e-3)
  );
}

describe('DynamoEmbeddingStore: versioning contract', () => {
  it('inactive users keep their earlier embedding; active ones get the new day', async () => {
    const { store } = await freshStore(dynamo);
    await publishDay(store, D1, ['alice', 'bob'], 1);
    await publishDay(store, D2, ['alice'], 2);
    const alice = await store.lookup('alice');
    const bob = await store.lookup('bob');
    expect(alice?.date).toBe('2026-10-02');
    expect(bob?.date).toBe('2026-10-01');
    expect(bob?.version).toBe('m1@2026-10-02');
    expect(close(alice?.embedding, expectedVector('alice', 2))).toBe(true);
    expect(close(bob?.embedding, expectedVector('bob', 1))).toBe(true);
    expect(await store.lookup('carol')).toBeUndefined();
  });

  it('an unpublished run is invisible, to plain and pinned lookups', async () => {
    const { store } = await freshStore(dynamo);
    await publishDay(store, D1, ['alice'], 1);
    await store.writeEmbeddings(D2, makeRecords(['alice', 'dave'], DIMS, 2));
    await store.recordVersion({ ...D2, published: false });
    const alice = await store.lookup('alice');
    const dave = await store.lookup('dave');
    const pinned = store.lookup('alice', D2);
    expect(alice?.date).toBe('2026-10-01');
    expect(dave).toBeUndefined();
    await expect(pinned).rejects.toBeInstanceOf(NotFoundError);
    expect((await store.lookup('alice', D2, { allowUnpublished: true }))?.date).toBe('2026-10-02');
  });

  it('pins a published version after the pointer moved on; refuses unknown ones', async () => {
    const { store } = await freshStore(dynamo);
    await publishDay(store, D1, ['alice'], 1);
    await publishDay(store, D2, ['alice'], 2);
    const pinned = await store.lookup('alice', D1);
    expect(pinned?.date).toBe('2026-10-01');
    expect(pinned?.version).toBe('m1@2026-10-01');
    await expect(store.lookup('alice', { modelVersion: M1, date: '2026-09-30' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('rolls back to an earlier published version, never to an unpublished or unknown one', async () => {
    const { store } = await freshStore(dynamo);
    await publishDay(store, D1, ['alice'], 1);
    await publishDay(store, D2, ['alice'], 2);
    await store.writeEmbeddings(D3, makeRecords(['alice'], DIMS, 3));
    await store.recordVersion({ ...D3, published: false });
    const before = await store.getPointer();
    await expect(store.rollback(D3)).rejects.toBeInstanceOf(ValidationError);
    await expect(store.rollback('m1@2026-01-01')).rejects.toBeInstanceOf(NotFoundError);
    expect(await store.getPointer()).toEqual(before);
    const pointer = await store.rollback('m1@2026-10-01');
    expect(pointer).toMatchObject({ version: 'm1@2026-10-01', seq: before!.seq + 1 });
    expect((await store.lookup('alice'))?.date).toBe('2026-10-01');
    await expect(store.rollback(D2, before!.seq)).rejects.toBeInstanceOf(ConflictError);
  });

  it("a failed (never published) day's items never leak into a later published view", async () => {
    const { store } = await freshStore(dynamo);
    await publishDay(store, D1, ['alice', 'bob'], 1);
    // Day 2 wrote bob's embedding, then failed the gate: recorded unpublished, pointer stays.
    await store.writeEmbeddings(D2, makeRecords(['bob'], DIMS, 99));
    await store.recordVersion({ ...D2, published: false });
    await publishDay(store, D3, ['alice'], 3);
    const bob = await store.lookup('bob');
    const pinnedD3 = await store.lookup('bob', D3);
    expect(bob?.date).toBe('2026-10-01');
    expect(close(bob?.embedding, expectedVector('bob', 1))).toBe(true);
    expect(pinnedD3?.date).toBe('2026-10-01');
  });

  it('a rolled-back version stays withdrawn: its items do not reappear under the next pointer', async () => {
    const { store } = await freshStore(dynamo);
    await publishDay(store, D1, ['alice', 'bob'], 1);
    await publishDay(store, D2, ['bob'], 2); // the bad day
    await store.rollback(D1);
    await publishDay(store, D3, ['alice'], 3); // the next good day
    const bob = await store.lookup('bob');
    const versions = await store.listVersions();
    const pinnedBad = store.lookup('bob', D2);
    expect(bob?.date).toBe('2026-10-01');
    expect(versions.map((v) => [v.version, v.withdrawn === true])).toEqual([
      ['m1@2026-10-01', false],
      ['m1@2026-10-02', true],
      ['m1@2026-10-03', false],
    ]);
    await expect(pinnedBad).rejects.toBeInstanceOf(NotFoundError);
    // Publishing the withdrawn day again (a repaired rerun) makes it count again.
    await store.recordVersion({ ...D2, published: true });
    expect((await store.lookup('bob'))?.date).toBe('2026-10-02');
  });

  it('never mixes model versions', async () => {
    const { store } = await freshStore(dynamo);
    await publishDay(store, D1, ['alice', 'bob'], 1);
    const m2: VersionId = { modelVersion: 'm2', date: '2026-10-02' };
    await store.writeEmbeddings(m2, makeRecords(['alice'], DIMS, 20));
    await store.recordVersion({ ...m2, published: false });
    const underM1 = await store.lookup('alice');
    await store.publishVersion(m2, (await store.getPointer())?.seq);
    const underM2 = await store.lookupMany(['alice', 'bob']);
    expect(underM1?.modelVersion).toBe('m1');
    expect(close(underM1?.embedding, expectedVector('alice', 1))).toBe(true);
    expect(underM2.get('alice')?.modelVersion).toBe('m2');
    expect(close(underM2.get('alice')?.embedding, expectedVector('alice', 20))).toBe(true);
    // bob has only an m1 embedding: under m2 he has none, not an m1 one.
    expect(underM2.has('bob')).toBe(false);
  });

  it('sets the TTL attribute to date + retention and stores the layout of the schema', async () => {
    const { store, tableName } = await freshStore(dynamo, { retentionDays: 30 });
    await store.writeEmbeddings(D1, makeRecords(['alice'], DIMS, 1));
    const { Item } = await dynamo.client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { pk: { S: userPartitionKey(M1, 'alice') }, sk: { S: D1.date } },
      }),
    );
    expect(Item?.ttl?.N).toBe(String(Date.parse('2026-10-31T00:00:00Z') / 1000));
    expect(Item?.n?.N).toBe(String(DIMS));
    expect(Item?.t).toBeUndefined();
    expect(Item?.e?.B?.byteLength).toBe(DIMS * 2);
    const decoded = decodeVector(Item!.e!.B!, DIMS, 'float16');
    expect(close([...decoded], expectedVector('alice', 1))).toBe(true);
  });

  it('expires history after retention, judged at the served date and (optionally) by the wall clock', async () => {
    const { store, tableName } = await freshStore(dynamo, { retentionDays: 3 });
    await publishDay(store, D1, ['alice', 'bob'], 1);
    for (const date of ['2026-10-02', '2026-10-03', '2026-10-04']) {
      await publishDay(store, { modelVersion: M1, date }, ['alice'], 2);
    }
    // Pointer at 10-04: bob's 10-01 embedding has ttl 10-04 00:00 -> expired; alice is fresh.
    const bob = await store.lookup('bob');
    const alice = await store.lookup('alice');
    const pinnedOld = store.lookup('alice', D1);
    expect(bob).toBeUndefined();
    expect(alice?.date).toBe('2026-10-04');
    await expect(pinnedOld).rejects.toBeInstanceOf(NotFoundError);
    // With wall-clock expiry, an item whose TTL has passed is hidden even at its own date.
    const { DynamoEmbeddingStore } = await import('../src/embeddings/dynamo-store.ts');
    const late = new DynamoEmbeddingStore({
      tableName,
      client: dynamo.client,
      retentionDays: 3,
      now: () => Date.parse('2026-10-07T12:00:00Z'),
    });
    const early = new DynamoEmbeddingStore({
      tableName,
      client: dynamo.client,
      retentionDays: 3,
      now: () => Date.parse('2026-10-05T12:00:00Z'),
    });
    expect(await late.lookup('alice')).toBeUndefined();
    expect((await early.lookup('alice'))?.date).toBe('2026-10-04');
  });

  it('rewriting the same embeddings leaves the same table (idempotent)', async () => {
    const { store, tableName } = await freshStore(dynamo);
    const users = Array.from({ length: 60 }, (_, i) => `user-${i}`);
    await store.writeEmbeddings(D1, makeRecords(users, DIMS, 1));
    await store.recordVersion({ ...D1, published: false, embeddedUsers: 60 });
    const first = await scanTable(dynamo.client, tableName);
    await store.writeEmbeddings(D1, makeRecords(users, DIMS, 1));
    await store.recordVersion({ ...D1, published: false, embeddedUsers: 60 });
    const second = await scanTable(dynamo.client, tableName);
    expect(second).toHaveLength(61);
    expect(second).toEqual(first);
  });

  it('republishing the current version (a rerun of publish) leaves version and pointer unchanged', async () => {
    const { store, tableName } = await freshStore(dynamo);
    await publishDay(store, D1, ['alice'], 1);
    const before = await scanTable(dynamo.client, tableName);
    await store.writeEmbeddings(D1, makeRecords(['alice'], DIMS, 1));
    await store.recordVersion({ ...D1, published: false, embeddedUsers: 1 });
    const pointer = await store.publishVersion(D1, (await store.getPointer())?.seq);
    const after = await scanTable(dynamo.client, tableName);
    expect(pointer.seq).toBe(1);
    expect(after).toEqual(before);
  });

  it('re-recording a published version (a rerun) does not unpublish it', async () => {
    const { store } = await freshStore(dynamo);
    await publishDay(store, D1, ['alice'], 1);
    await store.recordVersion({ ...D1, published: false });
    const record = await store.getVersion(D1);
    expect(record?.published).toBe(true);
    expect(record?.publishedAt).toBeDefined();
  });

  it('lists versions with their published flags and counts', async () => {
    const { store } = await freshStore(dynamo);
    await publishDay(store, D2, ['alice'], 2);
    await store.recordVersion({ ...D1, published: false, embeddedUsers: 5, details: { partitions: 2 } });
    const versions = await store.listVersions();
    expect(versions.map((v) => [v.version, v.published, v.embeddedUsers])).toEqual([
      ['m1@2026-10-01', false, 5],
      ['m1@2026-10-02', true, 1],
    ]);
    expect(versions[0]?.details).toEqual({ partitions: 2 });
  });
});

describe('DynamoEmbeddingStore: pointer and run lock', () => {
  it('a conditional pointer race has exactly one winner', async () => {
    const { store } = await freshStore(dynamo);
    await publishDay(store, D1, ['alice'], 1);
    await store.recordVersion({ ...D2, published: true });
    await store.recordVersion({ ...D3, published: true });
    const seq = (await store.getPointer())!.seq;
    const outcomes = await Promise.allSettled([store.movePointer(D2, seq), store.movePointer(D3, seq)]);
    const winners = outcomes.filter((o) => o.status === 'fulfilled');
    const losers = outcomes.filter((o) => o.status === 'rejected');
    expect(winners).toHaveLength(1);
    expect(losers.map((o) => (o as PromiseRejectedResult).reason)).toEqual([expect.any(ConflictError)]);
    expect((await store.getPointer())?.seq).toBe(seq + 1);
  });

  it('the pointer only moves to recorded, published versions', async () => {
    const { store } = await freshStore(dynamo);
    await store.recordVersion({ ...D1, published: false });
    await expect(store.movePointer(D1, undefined)).rejects.toBeInstanceOf(ValidationError);
    await expect(store.movePointer(D2, undefined)).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.lookup('alice')).rejects.toBeInstanceOf(NotFoundError);
    expect(await store.getPointer()).toBeUndefined();
  });

  it('one run holds the lock; the other gets a ConflictError naming the holder', async () => {
    let now = Date.parse('2026-10-02T01:00:00Z');
    const { store } = await freshStore(dynamo, { now: () => now });
    await store.acquireRunLock(D2, 'run-A', 60_000);
    const second = store.acquireRunLock(D2, 'run-B', 60_000);
    await expect(second).rejects.toThrow(/run-A/);
    await expect(store.acquireRunLock(D2, 'run-B', 60_000)).rejects.toBeInstanceOf(ConflictError);
    const renewed = await store.acquireRunLock(D2, 'run-A', 60_000);
    expect(renewed.owner).toBe('run-A');
    expect((await store.acquireRunLock(D3, 'run-B', 60_000)).owner).toBe('run-B'); // other version: own lock
    now += 61_000; // run-A's lease lapses (it crashed)
    const taken = await store.acquireRunLock(D2, 'run-B', 60_000);
    expect(taken.owner).toBe('run-B');
    expect(await store.releaseRunLock(D2, 'run-A')).toBe(false);
    expect(await store.releaseRunLock(D2, 'run-B')).toBe(true);
    expect((await store.acquireRunLock(D2, 'run-C', 1000)).owner).toBe('run-C');
  });
});

describe('DynamoEmbeddingStore: storage format and input checks', () => {
  it('a 256-d fp16 item with realistic keys fits one write unit; fp32 needs two', async () => {
    const { store, tableName } = await freshStore(dynamo);
    const fp32 = await freshStore(dynamo, { dtype: 'float32' });
    const userId = '0b6f2c1e-9a4d-4c3b-8f5e-2d7a9c1b3e4f';
    const version: VersionId = { modelVersion: 'pinnerformer-demo-20261001', date: '2026-10-01' };
    const records = makeRecords([userId], 256, 1);
    const stats16 = await store.writeEmbeddings(version, records);
    const stats32 = await fp32.store.writeEmbeddings(version, records);
    const key = { pk: { S: userPartitionKey(version.modelVersion, userId) }, sk: { S: version.date } };
    const item16 = (await dynamo.client.send(new GetItemCommand({ TableName: tableName, Key: key }))).Item!;
    const item32 = (await dynamo.client.send(new GetItemCommand({ TableName: fp32.tableName, Key: key }))).Item!;
    expect(itemSize(item16)).toBeLessThanOrEqual(1024);
    expect(writeUnits(item16)).toBe(1);
    // consumedWriteUnits is dynalite's own accounting (ReturnConsumedCapacity), independent of ours.
    expect(stats16).toMatchObject({ items: 1, writeUnits: 1, consumedWriteUnits: 1, bytes: itemSize(item16) });
    expect(stats32).toMatchObject({ writeUnits: 2, consumedWriteUnits: 2 });
    expect(writeUnits(item32)).toBe(2);
    expect(stats32.writeUnits).toBe(2);
    expect(item32.t?.S).toBe('float32');
    // not recorded: pinning refuses even with allowUnpublished
    await expect(fp32.store.lookup(userId, version, { allowUnpublished: true })).rejects.toThrow(
      /version .* is not recorded/,
    );
    const raw = await fp32.store.readAt([userId], version);
    expect(raw.get(userId)?.embedding).toEqual([...records[0]!.embedding]);
  });

  it('writes in BatchWriteItem groups of 25 and reports the figures', async () => {
    const wire = recordingClient(dynamo.client);
    const { store } = await freshStore(dynamo, { client: wire.client });
    const stats = await store.writeEmbeddings(
      D1,
      makeRecords(
        Array.from({ length: 60 }, (_, i) => `u${i}`),
        DIMS,
        1,
      ),
    );
    // 3 groups of at most 25, one successful call each. A reused keep-alive socket that the server
    // has just closed gives a real ECONNRESET on a loaded machine, retried like any other: the
    // recording client sees it, so the count stays exact (3 plus the failures seen on the wire).
    expect(stats).toMatchObject({ items: 60, throttles: 0, writeUnits: 60, consumedWriteUnits: 60 });
    expectOneCallPerGroup(wire.calls, stats, [25, 25, 10]);
    expect(stats.bytes).toBeGreaterThan(60 * DIMS * 2);
  });

  it('refuses bad records before writing anything', async () => {
    const { store, tableName } = await freshStore(dynamo);
    const good = makeRecords(['a', 'b'], DIMS, 1);
    const cases = [
      [...good, { userId: 'c', embedding: Float32Array.from({ length: DIMS }, () => Number.NaN) }],
      [...good, { userId: 'c', embedding: new Float32Array(DIMS + 1) }],
      [...good, good[0]!],
      [{ userId: '', embedding: new Float32Array(DIMS) }],
      [{ userId: 'bad\u0000id', embedding: new Float32Array(DIMS) }],
    ];
    for (const records of cases) {
      await expect(store.writeEmbeddings(D1, records)).rejects.toBeInstanceOf(ValidationError);
    }
    await expect(store.writeEmbeddings({ modelVersion: 'a#b', date: '2026-10-01' }, good)).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(store.writeEmbeddings({ modelVersion: 'm1', date: '2026-13-01' }, good)).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(await scanTable(dynamo.client, tableName)).toEqual([]);
  });

  it('epoch arithmetic of the TTL is exact at day boundaries', () => {
    expect(epochSecondsAfter('2026-10-01', 0)).toBe(Date.parse('2026-10-01T00:00:00Z') / 1000);
    expect(epochSecondsAfter('2026-12-31', 1)).toBe(Date.parse('2027-01-01T00:00:00Z') / 1000);
  });
});
