/**
 * The lookup handler, the shared router (the Lambda's and the local server's), its HTTP server,
 * the cached version resolver and the client library against a real dynalite, plus the
 * fuzz of issue 6: random, oversized, unicode and injection-shaped ids and versions, and batches
 * over the limit, only ever get 200, 400 or 404.
 */

import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddingClient } from '../src/client/embedding-client.ts';
import { DynamoEmbeddingStore } from '../src/embeddings/dynamo-store.ts';
import { userPartitionKey } from '../src/embeddings/table-schema.ts';
import type { VersionId } from '../src/embeddings/types.ts';
import { type LocalDynamo, localDynamoClient } from '../src/local/dynalite.ts';
import { type BatchBody, handleLookup, LookupHandler } from '../src/lookup/handler.ts';
import { startLookupServer } from '../src/lookup/http-server.ts';
import { bodyOf, type LookupHttpResponse, lookupRouter, MAX_LOOKUP_BODY_BYTES } from '../src/lookup/router.ts';
import { CachedVersionResolver } from '../src/lookup/version-resolver.ts';
import { startDynamoFaultProxy } from '../src/testing/dynamo-fault-proxy.ts';
import { freshStore, makeRecords, seededRandom, startDynamo } from './embeddings-helpers.ts';

const D1: VersionId = { modelVersion: 'm1', date: '2026-10-01' };
const D2: VersionId = { modelVersion: 'm1', date: '2026-10-02' };
const DIMS = 16;
const USERS = ['alice', 'bob', 'ünïcødé-用户-🙂', '#pointer', "x' OR '1'='1"];

let dynamo: LocalDynamo;
let store: DynamoEmbeddingStore;
let tableName: string;

beforeAll(async () => {
  dynamo = await startDynamo();
  ({ store, tableName } = await freshStore(dynamo));
  await store.writeEmbeddings(D1, makeRecords(USERS, DIMS, 1));
  await store.recordVersion({ ...D1, published: true });
  await store.movePointer(D1, undefined);
  await store.writeEmbeddings(D2, makeRecords(['alice'], DIMS, 2));
  await store.recordVersion({ ...D2, published: true });
  await store.movePointer(D2, 1);
});
afterAll(async () => dynamo.close());

describe('handleLookup', () => {
  it('answers one user with the contract JSON', async () => {
    const response = await handleLookup(store, { userId: 'bob' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({
      userId: 'bob',
      version: 'm1@2026-10-02',
      modelVersion: 'm1',
      date: '2026-10-01',
      dims: DIMS,
    });
    expect((response.body as { embedding: number[] }).embedding).toHaveLength(DIMS);
  });

  it('answers a batch with results and missing, in request order', async () => {
    const response = await handleLookup(store, { userIds: ['carol', 'alice', 'ünïcødé-用户-🙂', 'alice'] });
    const body = response.body as BatchBody;
    expect(response.statusCode).toBe(200);
    expect(body.results.map((r) => [r.userId, r.date])).toEqual([
      ['alice', '2026-10-02'],
      ['ünïcødé-用户-🙂', '2026-10-01'],
    ]);
    expect(body.missing).toEqual(['carol']);
  });

  it('pins a version; a null version means the current one', async () => {
    const response = await handleLookup(store, { userId: 'alice', version: 'm1@2026-10-01' });
    const unpinned = await handleLookup(store, { userId: 'alice', version: null });
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({ version: 'm1@2026-10-01', date: '2026-10-01' });
    expect(unpinned.body).toMatchObject({ version: 'm1@2026-10-02', date: '2026-10-02' });
  });

  it('404 for an unknown user or version, 400 for invalid input', async () => {
    const cases: [unknown, number][] = [
      [{ userId: 'nobody' }, 404],
      [{ userId: 'alice', version: 'm1@2025-01-01' }, 404],
      [{ userId: 'alice', version: 'm9@2026-10-01' }, 404],
      [{ userId: '' }, 400],
      [{ userId: 'x'.repeat(513) }, 400],
      [{ userId: 'é'.repeat(257) }, 400],
      [{ userId: 'a\u0000b' }, 400],
      [{ userId: 'a\nb' }, 400],
      [{ userId: '\ud800' }, 400],
      [{ userIds: [] }, 400],
      [{ userIds: Array.from({ length: 101 }, (_, i) => `u${i}`) }, 400],
      [{ userId: 'alice', userIds: ['bob'] }, 400],
      [{ userId: 'alice', version: 'm1@2026-02-30' }, 400],
      [{ userId: 'alice', version: 'm#1@2026-10-01' }, 400],
      [{ userId: 'alice', version: 'latest' }, 400],
      [{ userId: 42 }, 400],
      [{}, 400],
      [null, 400],
      ['alice', 400],
      [[{ userId: 'alice' }], 400],
    ];
    const statuses = await Promise.all(cases.map(async ([request]) => (await handleLookup(store, request)).statusCode));
    expect(statuses).toEqual(cases.map(([, status]) => status));
  });

  it('caches the pointer for pointerCacheMs', async () => {
    let now = 1_000_000;
    const local = await freshStore(dynamo);
    await local.store.writeEmbeddings(D1, makeRecords(['alice'], DIMS, 1));
    await local.store.writeEmbeddings(D2, makeRecords(['alice'], DIMS, 2));
    await local.store.recordVersion({ ...D1, published: true });
    await local.store.recordVersion({ ...D2, published: true });
    await local.store.movePointer(D1, undefined);
    const handler = new LookupHandler(local.store, { pointerCacheMs: 5000, now: () => now });
    const first = await handler.handle({ userId: 'alice' });
    await local.store.movePointer(D2, 1);
    now += 4000;
    const cached = await handler.handle({ userId: 'alice' });
    now += 1001;
    const refreshed = await handler.handle({ userId: 'alice' });
    expect([first, cached, refreshed].map((r) => (r.body as { version: string }).version)).toEqual([
      'm1@2026-10-01',
      'm1@2026-10-01',
      'm1@2026-10-02',
    ]);
  });

  it('answers 500, not 400, for a stored item that does not decode', async () => {
    const local = await freshStore(dynamo);
    await local.store.writeEmbeddings(D1, makeRecords(['alice'], DIMS, 1));
    await local.store.recordVersion({ ...D1, published: true });
    await local.store.movePointer(D1, undefined);
    await dynamo.client.send(
      new UpdateItemCommand({
        TableName: local.tableName,
        Key: { pk: { S: userPartitionKey('m1', 'alice') }, sk: { S: D1.date } },
        UpdateExpression: 'SET n = :n',
        ExpressionAttributeValues: { ':n': { N: '3' } },
      }),
    );
    const response = await new LookupHandler(local.store, { onError: () => undefined }).handle({ userId: 'alice' });
    expect(response).toMatchObject({ statusCode: 500, body: { error: { code: 'INTERNAL' } } });
  });

  it('answers 404 before anything is published and 500 only when the store fails', async () => {
    const empty = await freshStore(dynamo);
    // a real store pointed at a port nobody listens on: the SDK's own connection error
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const client = localDynamoClient(`http://127.0.0.1:${port}`);
    const unreachable = new DynamoEmbeddingStore({
      tableName,
      client,
      wallClockExpiry: false,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
    });
    const errors: unknown[] = [];
    const broken = new LookupHandler(unreachable, { onError: (e) => errors.push(e) });
    try {
      expect((await handleLookup(empty.store, { userId: 'alice' })).statusCode).toBe(404);
      expect(await broken.handle({ userId: 'alice' })).toMatchObject({
        statusCode: 500,
        body: { error: { code: 'INTERNAL' } },
      });
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({
        message: expect.stringMatching(/failed after 2 attempts/),
        cause: expect.objectContaining({ code: 'ECONNREFUSED' }),
      });
    } finally {
      client.destroy();
    }
  });
});

/** Random strings of the kinds an attacker or a buggy caller sends. */
function fuzzString(random: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const kind = Math.floor(random() * 8);
  const length = Math.floor(random() * (kind === 0 ? 2000 : 40));
  const alphabets = [
    'abcdefghijklmnopqrstuvwxyz0123456789-_',
    'ünïcødé用户🙂\u200b\u202e\ufeff',
    '\'";--#@/\\%$`{}[]<>()*&|',
  ];
  if (kind === 1)
    return pick(["' OR 1=1 --", '../../etc/passwd', '#pointer', 'u#m1#alice', '%00', '$' + '{jndi:x}', '<script>']);
  if (kind === 2)
    return String.fromCharCode(...Array.from({ length: length + 1 }, () => Math.floor(random() * 0x10000)));
  if (kind === 3)
    return `m${Math.floor(random() * 3)}@2026-${String(Math.floor(random() * 14)).padStart(2, '0')}-0${Math.floor(random() * 9)}`;
  const alphabet = pick(alphabets);
  return Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
}

function fuzzValue(random: () => number): unknown {
  const r = random();
  if (r < 0.6) return fuzzString(random);
  if (r < 0.7) return Math.floor(random() * 1e6);
  if (r < 0.8) return null;
  if (r < 0.9) return { nested: fuzzString(random) };
  return [fuzzString(random)];
}

describe('lookup fuzz (issue 6)', () => {
  it('answers only 200, 400 or 404 to 1500 hostile requests, and never throws', async () => {
    const random = seededRandom(2026);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1500; i++) {
      const shape = Math.floor(random() * 4);
      const version = random() < 0.4 ? { version: random() < 0.5 ? fuzzString(random) : 'm1@2026-10-01' } : {};
      const batchSize = Math.floor(random() * 130);
      const request =
        shape === 0
          ? { userId: fuzzValue(random), ...version }
          : shape === 1
            ? {
                userIds: Array.from({ length: batchSize }, () => (random() < 0.5 ? fuzzString(random) : 'alice')),
                ...version,
              }
            : shape === 2
              ? fuzzValue(random)
              : {
                  userId: random() < 0.5 ? 'alice' : fuzzString(random),
                  userIds: random() < 0.5 ? undefined : [fuzzValue(random)],
                  ...version,
                };
      const response = await handleLookup(store, request);
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
    }
    expect([...statuses.keys()].sort()).toEqual([200, 400, 404]);
  });
});

describe('HTTP server', () => {
  it('serves GET /users/:id, POST /users:batch, and refuses bad requests', async () => {
    const server = await startLookupServer({ store });
    try {
      const get = (path: string) => fetch(`${server.url}${path}`);
      const one = await get(`/users/${encodeURIComponent('ünïcødé-用户-🙂')}`);
      const pinned = await get('/users/alice?version=m1@2026-10-01');
      const unknown = await get('/users/nobody');
      const badEncoding = await get('/users/%E0%A4%A');
      const batch = await fetch(`${server.url}/users:batch`, {
        method: 'POST',
        body: JSON.stringify({ userIds: ['alice', 'nobody'] }),
      });
      const badJson = await fetch(`${server.url}/users:batch`, { method: 'POST', body: '{' });
      const tooMany = await fetch(`${server.url}/users:batch`, {
        method: 'POST',
        body: JSON.stringify({ userIds: Array.from({ length: 101 }, (_, i) => `u${i}`) }),
      });
      const route = await get('/nothing');
      const wrongMethod = await fetch(`${server.url}/users/alice`, { method: 'DELETE' });
      const oversized = await fetch(`${server.url}/users:batch`, { method: 'POST', body: 'x'.repeat(70_000) });
      expect([wrongMethod.status, oversized.status]).toEqual([405, 400]);
      expect([one, pinned, unknown, badEncoding, batch, badJson, tooMany, route].map((r) => r.status)).toEqual([
        200, 200, 404, 400, 200, 400, 400, 404,
      ]);
      expect(await one.json()).toMatchObject({ userId: 'ünïcødé-用户-🙂', dims: DIMS });
      expect(await pinned.json()).toMatchObject({ version: 'm1@2026-10-01' });
      expect(await batch.json()).toMatchObject({ missing: ['nobody'] });
    } finally {
      await server.close();
    }
  });
});

describe('the lookup router (shared by the Lambda and the local server)', () => {
  /** One request through the router as the Lambda adapter calls it: the body already in hand. */
  const viaLambda = (method: string, path: string, options: { query?: Record<string, string>; body?: string } = {}) =>
    lookupRouter({ handler: new LookupHandler(store), maxBodyBytes: 1024 })({
      method,
      path,
      query: options.query ?? {},
      readBody: bodyOf(options.body),
    });
  const message = (response: LookupHttpResponse) => (response.body as { error: { message: string } }).error.message;

  it('routes, checks and decodes every request, with the status codes of the API', async () => {
    const cases: [string, string, { query?: Record<string, string>; body?: string }, number, RegExp?][] = [
      ['GET', `/users/${encodeURIComponent('ünïcødé-用户-🙂')}`, {}, 200],
      ['GET', '/users/alice', { query: { version: 'm1@2026-10-01' } }, 200],
      ['GET', '/users/nobody', {}, 404, /unknown user/],
      ['GET', '/users/alice', { query: { version: 'nope' } }, 400, /version must be/],
      ['GET', '/users/%E0%A4%A', {}, 400, /percent-encoding/],
      ['DELETE', '/users/alice', {}, 405, /use GET/],
      ['GET', '/users:batch', {}, 405, /use POST/],
      ['POST', '/users:batch', { body: JSON.stringify({ userIds: ['alice', 'nobody'] }) }, 200],
      ['POST', '/users:batch', {}, 400, /body is required/],
      ['POST', '/users:batch', { body: '' }, 400, /body is required/],
      ['POST', '/users:batch', { body: '{' }, 400, /body is not JSON/],
      ['POST', '/users:batch', { body: JSON.stringify({ userIds: ['x'.repeat(1100)] }) }, 400, /body over 1024 bytes/],
      ['POST', '/users:batch', { body: '[]' }, 400, /give exactly one of userId or userIds/],
      ['GET', '/users/alice/recommendations', {}, 404, /no recommender/],
      ['POST', '/users/alice/recommendations', {}, 405, /use GET/],
      ['GET', '/elsewhere', {}, 404, /routes: GET \/users\/\{userId\}, POST \/users:batch$/],
    ];
    for (const [method, path, options, status, expected] of cases) {
      const response = await viaLambda(method, path, options);
      expect(response.statusCode, `${method} ${path}`).toBe(status);
      if (expected) expect(message(response), `${method} ${path}`).toMatch(expected);
    }
    expect(
      (await viaLambda('POST', '/users:batch', { body: JSON.stringify({ userIds: ['alice', 'nobody'] }) })).body,
    ).toMatchObject({
      missing: ['nobody'],
    });
  });

  it('answers the local server and the Lambda adapter alike, byte for byte', async () => {
    const server = await startLookupServer({ store });
    const lambda = lookupRouter({ handler: new LookupHandler(store) });
    try {
      const requests: [string, string, string?][] = [
        ['GET', '/users/bob'],
        ['GET', '/users/alice?version=m1@2026-10-01'],
        ['GET', '/users/nobody'],
        ['GET', '/users/%E0%A4%A'],
        ['PUT', '/users/bob'],
        ['POST', '/users:batch', JSON.stringify({ userIds: ['bob', 'nobody'], version: 'm1@2026-10-01' })],
        ['POST', '/users:batch', '{'],
        ['POST', '/users:batch', 'x'.repeat(MAX_LOOKUP_BODY_BYTES + 1)],
        ['GET', '/users/bob/recommendations'],
        ['GET', '/nothing'],
      ];
      for (const [method, pathAndQuery, body] of requests) {
        const http = await fetch(`${server.url}${pathAndQuery}`, { method, ...(body === undefined ? {} : { body }) });
        const url = new URL(pathAndQuery, 'http://localhost');
        const direct = await lambda({
          method,
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          readBody: bodyOf(body),
        });
        expect({ status: http.status, body: await http.text() }, `${method} ${pathAndQuery}`).toEqual({
          status: direct.statusCode,
          body: JSON.stringify(direct.body),
        });
      }
    } finally {
      await server.close();
    }
  });
});

describe("CachedVersionResolver (the handler's and the client's)", () => {
  it('caches the pointer and pinned versions for cacheMs, and never a failure', async () => {
    let now = 0;
    const calls: (VersionId | undefined)[] = [];
    const reader = {
      resolveVersion: (version?: VersionId) => {
        calls.push(version);
        return store.resolveVersion(version);
      },
    };
    const resolver = new CachedVersionResolver(reader, { cacheMs: 1000, now: () => now });
    expect((await resolver.resolve()).date).toBe(D2.date);
    expect((await resolver.resolve(D1)).date).toBe(D1.date);
    await resolver.resolve();
    await resolver.resolve(D1);
    expect(calls).toEqual([undefined, D1]); // both cached
    const unknown = { modelVersion: 'm1', date: '2020-01-01' };
    await expect(resolver.resolve(unknown)).rejects.toThrow(/not recorded/);
    await expect(resolver.resolve(unknown)).rejects.toThrow(/not recorded/);
    expect(calls.filter((c) => c === unknown)).toHaveLength(2); // a failure is asked again
    now = 1000;
    await resolver.resolve();
    expect(calls.filter((c) => c === undefined)).toHaveLength(2); // expired after cacheMs
    const uncached = new CachedVersionResolver(reader, { cacheMs: 0 });
    await uncached.resolve();
    await uncached.resolve();
    expect(calls.filter((c) => c === undefined)).toHaveLength(4);
  });
});

describe('EmbeddingClient', () => {
  it('reads current and pinned embeddings straight from the table', async () => {
    const client = new EmbeddingClient({ tableName, client: dynamo.client, wallClockExpiry: false });
    const current = await client.currentVersion();
    const alice = await client.get('alice');
    const pinned = await client.get('alice', { version: 'm1@2026-10-01' });
    const many = await client.getMany(['alice', 'bob', 'nobody']);
    const direct = await store.lookupMany(['alice', 'bob']);
    expect(current).toMatchObject({ version: 'm1@2026-10-02', seq: 2 });
    expect(alice?.date).toBe('2026-10-02');
    expect(pinned?.date).toBe('2026-10-01');
    expect([...many.keys()].sort()).toEqual(['alice', 'bob']);
    expect(many.get('bob')).toEqual(direct.get('bob'));
    await expect(client.get('alice', { version: 'm1@2020-01-01' })).rejects.toThrow(/not recorded/);
  });

  it('makes a client without SDK retries: under throttling each read gets the store attempts, not 3 × them', async () => {
    // Prepare: a client made from config only, through a proxy that throttles every request
    const proxy = await startDynamoFaultProxy({ target: dynamo.endpoint, throttleRate: 1, seed: 1 });
    const local = { region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
    const client = new EmbeddingClient({ tableName, clientConfig: { ...local, endpoint: proxy.endpoint } });
    try {
      // Act
      const read = client.get('alice');
      // Assess: one request per store attempt (the SDK's default of 3 per attempt would make 24)
      await expect(read).rejects.toThrow(/after 8 attempts/);
      expect(proxy.stats.requests).toBe(8);
    } finally {
      client.close();
      await proxy.close();
    }
  }, 30_000);
});
