/**
 * The read path's edges that test/lookup.test.ts and test/lookup-reads.test.ts left open (the
 * survivors of the first `make mutation MODULES=reads` run, docs/reliability.md): the router's
 * error codes, body limit and recommendations route, the handler's default error report, what a
 * refused pinned version names, one Query per user on a resolved version, and the version cache's
 * bound and its handling of a late failure. A real dynalite and a real Recommender.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoEmbeddingStore } from '../src/embeddings/dynamo-store.ts';
import type { ResolvedVersion, VersionId } from '../src/embeddings/types.ts';
import { type LocalDynamo, localDynamoClient } from '../src/local/dynalite.ts';
import { LookupHandler } from '../src/lookup/handler.ts';
import { Recommender } from '../src/lookup/recommend.ts';
import { bodyOf, type LookupHttpResponse, lookupRouter } from '../src/lookup/router.ts';
import { CachedVersionResolver, MAX_CACHED_VERSIONS } from '../src/lookup/version-resolver.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { freshStore, makeRecords, startDynamo } from './embeddings-helpers.ts';

const D1: VersionId = { modelVersion: 'm1', date: '2026-10-01' };
const D2: VersionId = { modelVersion: 'm1', date: '2026-10-02' };
const D3: VersionId = { modelVersion: 'm1', date: '2026-10-03' };
const DIMS = 8;

let dynamo: LocalDynamo;
let store: DynamoEmbeddingStore;
let commands = 0;
let objectsDir: string;

/** `real` with its send() counted. */
function counting(real: DynamoDBClient): DynamoDBClient {
  const send = (command: never) => {
    commands++;
    return real.send(command);
  };
  return new Proxy(real, { get: (t, p, r) => (p === 'send' ? send : Reflect.get(t, p, r)) });
}

/** A store on a port nothing listens on (the real connection refusal), one attempt per call. */
async function unreachableStore(): Promise<{ store: DynamoEmbeddingStore; close: () => void }> {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise((resolve) => closed.close(resolve));
  const client = localDynamoClient(`http://127.0.0.1:${port}`);
  const broken = new DynamoEmbeddingStore({
    tableName: 'gone',
    client,
    wallClockExpiry: false,
    retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
  });
  return { store: broken, close: () => client.destroy() };
}

beforeAll(async () => {
  dynamo = await startDynamo();
  ({ store } = await freshStore(dynamo, { client: counting(dynamo.client) }));
  for (const [version, seq] of [
    [D1, undefined],
    [D2, 1],
  ] as const) {
    await store.writeEmbeddings(version, makeRecords(['alice', 'bob'], DIMS, 1));
    await store.recordVersion({ ...version, published: true });
    await store.movePointer(version, seq);
  }
  await store.recordVersion({ ...D3, published: false });
  objectsDir = mkdtempSync(join(tmpdir(), 'pf-lookup-edges-'));
});
afterAll(async () => {
  await dynamo.close();
  rmSync(objectsDir, { recursive: true, force: true });
});

describe('the router', () => {
  const error = (response: LookupHttpResponse) => (response.body as { error: { code: string; message: string } }).error;
  const request = (method: string, path: string, options: { query?: Record<string, string>; body?: string } = {}) => ({
    method,
    path,
    query: options.query ?? {},
    readBody: bodyOf(options.body),
  });

  it('answers each refusal with its code, and takes a body of exactly the limit', async () => {
    const router = lookupRouter({ handler: new LookupHandler(store), maxBodyBytes: 10 });
    const atLimit = await router(request('POST', '/users:batch', { body: '{"a":1234}' }));
    expect(error(atLimit)).toEqual({ code: 'VALIDATION', message: 'request: give exactly one of userId or userIds' });
    expect(error(await router(request('POST', '/users:batch', { body: '{"a":12345}' })))).toEqual({
      code: 'VALIDATION',
      message: 'body over 10 bytes',
    });
    expect(error(await router(request('DELETE', '/users/alice')))).toEqual({ code: 'METHOD', message: 'use GET' });
    expect(error(await router(request('GET', '/users/alice/recommendations')))).toEqual({
      code: 'NOT_FOUND',
      message: 'this server has no recommender',
    });
    expect(error(await router(request('GET', '/elsewhere'))).code).toBe('NOT_FOUND');
  });

  it('routes recommendations: k checked first, the user decoded from its segment, refusals mapped', async () => {
    const recommender = new Recommender(new LocalObjectStore(objectsDir), store);
    const router = lookupRouter({ handler: new LookupHandler(store), recommender });
    const recommend = (user: string, query: Record<string, string> = {}) =>
      router(request('GET', `/users/${user}/recommendations`, { query }));
    for (const k of ['0', '1001', '-1', '1.5', 'abc', '12abc', 'abc12', '']) {
      const refused = await recommend('alice', { k });
      expect(refused.statusCode, k).toBe(400);
      expect(error(refused)).toEqual({
        code: 'VALIDATION',
        message: `k must be a whole number from 1 to 1000, got ${JSON.stringify(k)}`,
      });
    }
    // a good k (or none) reaches the recommender: alice is embedded, but no model was deployed here
    for (const query of [{}, { k: '1' }, { k: '1000' }, { k: '7' }] as Record<string, string>[]) {
      const answer = await recommend('alice', query);
      expect(answer.statusCode, JSON.stringify(query)).toBe(404);
      expect(error(answer)).toEqual({
        code: 'NOT_FOUND',
        message: 'model m1 has no models/m1/item_embeddings.parquet: deploy the model directory',
      });
    }
    expect(error(await recommend('n%C3%B6body'))).toEqual({
      code: 'NOT_FOUND',
      message: 'no embedding for user "nöbody"',
    });
    expect(error(await recommend('%E0%A4%A'))).toEqual({
      code: 'VALIDATION',
      message: 'user id is not valid percent-encoding',
    });
    const badVersion = await recommend('alice', { version: 'nope' });
    expect(badVersion.statusCode).toBe(400);
    expect(error(badVersion).code).toBe('VALIDATION');
    expect(error(await router(request('GET', '/elsewhere'))).message).toBe(
      'no such route; routes: GET /users/{userId}, POST /users:batch, GET /users/{userId}/recommendations',
    );
    // a store failure is not a refusal: it propagates to the transport (which answers 500)
    const broken = await unreachableStore();
    try {
      const failing = lookupRouter({
        handler: new LookupHandler(broken.store),
        recommender: new Recommender(new LocalObjectStore(objectsDir), broken.store),
      });
      await expect(failing(request('GET', '/users/alice/recommendations'))).rejects.toThrow(
        /^getPointer on gone failed after 1 attempts/,
      );
      // the read itself names its operation too
      await expect(broken.store.readAt(['alice'], { ...D1, visibleDates: [D1.date] })).rejects.toThrow(
        /^lookup on gone failed after 1 attempts/,
      );
    } finally {
      broken.close();
    }
  });
});

describe('the handler', () => {
  it('reports a store failure on the console by default, and answers a fixed 500', async () => {
    const broken = await unreachableStore();
    const spy = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const response = await new LookupHandler(broken.store).handle({ userId: 'alice', version: 'm1@2026-10-01' });
      expect(response).toEqual({
        statusCode: 500,
        body: { error: { code: 'INTERNAL', message: 'the embedding store failed; retry later' } },
      });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0]![0]).toBe('lookup: dependency failure');
      expect((spy.mock.calls[0]![1] as Error).message).toMatch(/^getVersion on gone failed after 1 attempts/);
    } finally {
      spy.mockRestore();
      broken.close();
    }
  });
});

describe('the reader', () => {
  it('names the refused pinned version in the error details', async () => {
    await expect(store.resolveVersion({ modelVersion: 'm1', date: '2020-01-01' })).rejects.toMatchObject({
      message: 'version m1@2020-01-01 is not recorded',
      details: { version: 'm1@2020-01-01' },
    });
    await expect(store.resolveVersion(D3)).rejects.toMatchObject({ details: { version: 'm1@2026-10-03' } });
    const { store: other } = await freshStore(dynamo);
    for (const version of [D1, D2]) {
      await other.writeEmbeddings(version, makeRecords(['alice'], DIMS, 1));
      await other.recordVersion({ ...version, published: true });
      await other.movePointer(version, version === D1 ? undefined : 1);
    }
    await other.rollback(D1); // withdraws D2
    await expect(other.resolveVersion(D2)).rejects.toMatchObject({
      message: 'version m1@2026-10-02 was withdrawn by a rollback',
      details: { version: 'm1@2026-10-02' },
    });
  });

  it('lists each visible date once, and reads a resolved version with one Query per user', async () => {
    const pinned = await store.resolveVersion(D2);
    expect(pinned.visibleDates).toEqual([...new Set(pinned.visibleDates)]);
    expect(pinned.visibleDates).toHaveLength(2);
    const before = commands;
    const found = await store.readAt(['alice', 'bob'], pinned);
    expect(found.size).toBe(2);
    expect(commands - before).toBe(2);
  });
});

describe('the version cache', () => {
  it(`starts afresh past ${MAX_CACHED_VERSIONS} entries, not before`, async () => {
    const resolved = await store.resolveVersion(D1);
    let calls = 0;
    const resolver = new CachedVersionResolver(
      {
        resolveVersion: () => {
          calls++;
          return Promise.resolve(resolved);
        },
      },
      { cacheMs: 60_000, now: () => 0 },
    );
    const pin = (i: number) => ({ modelVersion: `m${i}`, date: '2026-10-01' });
    for (let i = 0; i <= MAX_CACHED_VERSIONS; i++) await resolver.resolve(pin(i)); // 1001 entries
    expect(calls).toBe(MAX_CACHED_VERSIONS + 1);
    await resolver.resolve(pin(0));
    expect(calls).toBe(MAX_CACHED_VERSIONS + 1); // still cached
    await resolver.resolve(pin(MAX_CACHED_VERSIONS + 1)); // the 1002nd: the cache starts afresh
    await resolver.resolve(pin(0));
    expect(calls).toBe(MAX_CACHED_VERSIONS + 3);
  });

  it('keeps a newer resolution when an expired one fails late', async () => {
    let now = 0;
    const pending: { resolve: (v: ResolvedVersion) => void; reject: (e: unknown) => void }[] = [];
    let calls = 0;
    const resolver = new CachedVersionResolver(
      {
        resolveVersion: () => {
          calls++;
          return new Promise<ResolvedVersion>((resolve, reject) => pending.push({ resolve, reject }));
        },
      },
      { cacheMs: 1000, now: () => now },
    );
    const slow = resolver.resolve();
    now = 1500; // the first is expired while still pending
    const fresh = resolver.resolve();
    pending[1]!.resolve({ ...D2, visibleDates: [D2.date] });
    await fresh;
    pending[0]!.reject(new Error('late failure'));
    await expect(slow).rejects.toThrow('late failure');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await resolver.resolve()).toMatchObject({ date: D2.date }); // still the cached one
    expect(calls).toBe(2);
  });
});
