/**
 * Reads where a wrong answer is silent (issue 21, `make mutation`'s `reads` module): which
 * version answers, which stored item a user gets behind newer invisible ones, expiry at the
 * served date, and the lookup handler's exact refusals, cache and batch answers. A real dynalite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoEmbeddingStore } from '../src/embeddings/dynamo-store.ts';
import type { VersionId } from '../src/embeddings/types.ts';
import type { LocalDynamo } from '../src/local/dynalite.ts';
import { type BatchBody, type ErrorBody, handleLookup, LookupHandler } from '../src/lookup/handler.ts';
import { MAX_BATCH, MAX_LOOKUP_USER_ID_BYTES, parseLookupRequest } from '../src/lookup/request.ts';
import { ValidationError } from '../src/util/errors.ts';
import { freshStore, makeRecords, startDynamo } from './embeddings-helpers.ts';

const day = (d: number, attempt?: string): VersionId => ({
  modelVersion: 'm1',
  date: `2026-10-${String(d).padStart(2, '0')}`,
  ...(attempt === undefined ? {} : { attempt }),
});
const DIMS = 8;

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startDynamo();
});
afterAll(async () => dynamo.close());

async function publish(store: DynamoEmbeddingStore, version: VersionId, users: string[]): Promise<void> {
  await store.writeEmbeddings(version, makeRecords(users, DIMS, Number(version.date.slice(-2))));
  await store.recordVersion({ ...version, published: false });
  await store.publishVersion(version, (await store.getPointer())?.seq);
}

const messageOf = (body: unknown) => (body as ErrorBody).error.message;

describe('which item answers', () => {
  it('finds a user behind more than a page of newer items that do not count', async () => {
    const { store } = await freshStore(dynamo);
    await publish(store, day(1), ['alice']);
    // five later days wrote alice and were refused (recorded unpublished): one Query page holds 4
    for (const d of [2, 3, 4, 5, 6]) {
      await store.writeEmbeddings(day(d), makeRecords(['alice'], DIMS, d));
      await store.recordVersion({ ...day(d), published: false });
    }
    await publish(store, day(7), ['bob']);
    expect((await store.lookup('alice'))?.date).toBe('2026-10-01');
    expect((await store.lookup('alice', day(7)))?.date).toBe('2026-10-01');
    // an unpublished version read on request sees its own items
    expect((await store.lookup('alice', day(6), { allowUnpublished: true }))?.date).toBe('2026-10-06');
    expect((await store.readAt(['alice', 'bob', 'carol'], day(6))).size).toBe(1); // bob is dated 10-07
  });

  it('reads each published attempt under its own key, the newest visible first', async () => {
    const { store } = await freshStore(dynamo);
    await publish(store, day(1), ['alice', 'bob']);
    await publish(store, day(2, 'r1'), ['alice']);
    const alice = await store.lookup('alice');
    expect(alice).toMatchObject({ date: '2026-10-02', version: 'm1@2026-10-02' });
    const resolved = await store.resolveVersion();
    expect(resolved).toEqual({ modelVersion: 'm1', date: '2026-10-02', visibleDates: ['2026-10-01', '2026-10-02#r1'] });
    // readAt given a bare version id works out the visible keys itself, its own key included
    expect((await store.readAt(['alice'], day(2, 'r1'))).get('alice')?.date).toBe('2026-10-02');
    expect((await store.readAt(['alice', 'alice', 'bob'], day(1))).size).toBe(2);
    await expect(store.readAt(['ok', 'bad\u0000id'], day(1))).rejects.toBeInstanceOf(ValidationError);
  });

  it('refuses an unpublished or withdrawn pin by name, and answers 404 for each through the handler', async () => {
    const { store } = await freshStore(dynamo);
    await publish(store, day(1), ['alice']);
    await publish(store, day(2), ['alice']);
    await store.rollback(day(1));
    await store.recordVersion({ ...day(3), published: false });
    await expect(store.resolveVersion(day(2))).rejects.toThrow('version m1@2026-10-02 was withdrawn by a rollback');
    await expect(store.resolveVersion(day(3))).rejects.toThrow('version m1@2026-10-03 is not published');
    await expect(store.resolveVersion(day(4))).rejects.toThrow('version m1@2026-10-04 is not recorded');
    expect((await store.resolveVersion(day(2), { allowUnpublished: true })).visibleDates).toEqual([
      '2026-10-01',
      '2026-10-02',
    ]);
    const handler = new LookupHandler(store, { pointerCacheMs: 0 });
    const pinned = await handler.handle({ userId: 'alice', version: 'm1@2026-10-03' });
    expect(pinned).toEqual({
      statusCode: 404,
      body: { error: { code: 'NOT_FOUND', message: 'version m1@2026-10-03 is not published' } },
    });
  });

  it('hides items expired at the served date, and with the wall clock also those expired by now', async () => {
    let now = Date.parse('2026-10-01T12:00:00Z');
    const { store: local, tableName } = await freshStore(dynamo, { retentionDays: 2 });
    await publish(local, day(1), ['alice']);
    await publish(local, day(2), ['bob']);
    await publish(local, day(3), ['carol']);
    // at 10-03 alice's item (TTL 10-03T00:00) has expired; bob's (TTL 10-04) has not
    expect(await local.lookup('alice')).toBeUndefined();
    expect((await local.lookup('bob'))?.date).toBe('2026-10-02');
    const { DynamoEmbeddingStore } = await import('../src/embeddings/dynamo-store.ts');
    const clocked = new DynamoEmbeddingStore({
      tableName,
      client: dynamo.client,
      retentionDays: 2,
      wallClockExpiry: true,
      now: () => now,
    });
    expect((await clocked.lookup('bob'))?.date).toBe('2026-10-02');
    now = Date.parse('2026-10-04T00:00:00Z'); // bob's TTL
    expect(await clocked.lookup('bob')).toBeUndefined();
    now -= 1000;
    expect((await clocked.lookup('bob'))?.date).toBe('2026-10-02');
  });
});

describe('lookup requests', () => {
  it('refuse each bad field with its own message', () => {
    const refusal = (input: unknown) => {
      const outcome = parseLookupRequest(input);
      return outcome.ok ? 'accepted' : outcome.message;
    };
    expect(refusal({ userId: '' })).toBe('userId: userId must not be empty');
    expect(refusal({ userId: 'x'.repeat(MAX_LOOKUP_USER_ID_BYTES) })).toBe('accepted');
    // too many characters and too many bytes: both rules speak
    expect(refusal({ userId: 'x'.repeat(MAX_LOOKUP_USER_ID_BYTES + 1) })).toBe(
      'userId: userId must be at most 512 bytes; userId: userId must be at most 512 bytes',
    );
    expect(refusal({ userId: 'é'.repeat(256) })).toBe('accepted');
    expect(refusal({ userId: 'é'.repeat(257) })).toBe('userId: userId must be at most 512 bytes');
    for (const bad of ['a\u0000b', 'a\u001fb', 'a\u007fb', 'a\u009fb', '\udc00']) {
      expect(refusal({ userId: bad })).toBe(
        'userId: userId must not contain control characters or unpaired surrogates',
      );
    }
    expect(refusal({ userId: 'a\u00a0b' })).toBe('accepted');
    expect(refusal({ userIds: [] })).toBe('userIds: userIds must not be empty');
    expect(refusal({ userIds: Array.from({ length: MAX_BATCH }, (_, i) => `u${i}`) })).toBe('accepted');
    expect(refusal({ userIds: Array.from({ length: MAX_BATCH + 1 }, (_, i) => `u${i}`) })).toBe(
      'userIds: at most 100 userIds per request',
    );
    expect(refusal({ userIds: ['ok', ''] })).toBe('userIds.1: userId must not be empty');
    expect(refusal({ userId: 'a', version: 'latest' })).toBe('version: version must be modelVersion@YYYY-MM-DD');
    // a model version has at most 64 characters: a longer version fails both rules
    expect(refusal({ userId: 'a', version: `${'m'.repeat(90)}@2026-10-01` })).toBe(
      'version: version is too long; version: version must be modelVersion@YYYY-MM-DD',
    );
    expect(refusal({ userId: 'a', version: `${'m'.repeat(64)}@2026-10-01` })).toBe('accepted');
    expect(refusal({})).toBe('request: give exactly one of userId or userIds');
    expect(refusal({ userId: '', userIds: [] })).toBe(
      'userId: userId must not be empty; userIds: userIds must not be empty; request: give exactly one of userId or userIds',
    );
  });

  it('parse to one user or a deduplicated batch, pinned only when a version is given', () => {
    expect(parseLookupRequest({ userId: 'a' })).toEqual({ ok: true, request: { kind: 'single', userId: 'a' } });
    expect(parseLookupRequest({ userIds: ['b', 'a', 'b'], version: 'm1@2026-10-01' })).toEqual({
      ok: true,
      request: { kind: 'batch', userIds: ['b', 'a'], version: { modelVersion: 'm1', date: '2026-10-01' } },
    });
    expect(parseLookupRequest({ userIds: ['a'], version: undefined })).toEqual({
      ok: true,
      request: { kind: 'batch', userIds: ['a'] },
    });
  });
});

describe('the lookup handler', () => {
  it('answers exact bodies: 404 for an unknown user, 400 for a throwing request, the batch in order', async () => {
    const { store } = await freshStore(dynamo);
    await publish(store, day(1), ['alice', 'bob']);
    const handler = new LookupHandler(store);
    expect(await handler.handle({ userId: 'carol' })).toEqual({
      statusCode: 404,
      body: { error: { code: 'NOT_FOUND', message: 'unknown user' } },
    });
    const hostile = {
      get userId(): string {
        throw new Error('a getter that throws');
      },
    };
    expect(await handler.handle(hostile)).toEqual({
      statusCode: 400,
      body: { error: { code: 'VALIDATION', message: 'request could not be read' } },
    });
    const bad = await handler.handle({ userId: '' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toEqual({ error: { code: 'VALIDATION', message: 'userId: userId must not be empty' } });
    const batch = (await handler.handle({ userIds: ['bob', 'zed', 'alice', 'amy'] })).body as BatchBody;
    expect(batch.results.map((r) => r.userId)).toEqual(['bob', 'alice']);
    expect(batch.missing).toEqual(['zed', 'amy']);
  });

  it('answers 404 with the reason when nothing is published, and caches nothing that failed', async () => {
    const { store } = await freshStore(dynamo);
    const handler = new LookupHandler(store, { pointerCacheMs: 60_000 });
    const before = await handler.handle({ userId: 'alice' });
    expect(messageOf(before.body)).toBe('no version is published yet');
    await publish(store, day(1), ['alice']);
    expect((await handler.handle({ userId: 'alice' })).statusCode).toBe(200); // the failure was not cached
  });

  it('caches the pointer for 5 s by default, not at all with 0, and keeps one handler per store', async () => {
    let now = 1_000_000;
    const { store } = await freshStore(dynamo);
    await publish(store, day(1), ['alice']);
    const cached = new LookupHandler(store, { now: () => now });
    const uncached = new LookupHandler(store, { pointerCacheMs: 0, now: () => now });
    const version = async (h: LookupHandler) => ((await h.handle({ userId: 'alice' })).body as { date: string }).date;
    expect([await version(cached), await version(uncached)]).toEqual(['2026-10-01', '2026-10-01']);
    await publish(store, day(2), ['alice']);
    now += 4999;
    expect([await version(cached), await version(uncached)]).toEqual(['2026-10-01', '2026-10-02']);
    now += 1;
    expect(await version(cached)).toBe('2026-10-02');
    // handleLookup: the first call's options stay with the store
    const { store: other } = await freshStore(dynamo);
    await publish(other, day(1), ['alice']);
    await handleLookup(other, { userId: 'alice' }, { pointerCacheMs: 60_000, now: () => now });
    await publish(other, day(2), ['alice']);
    const again = await handleLookup(other, { userId: 'alice' }, { pointerCacheMs: 0 });
    expect((again.body as { date: string }).date).toBe('2026-10-01');
  });
});
