/**
 * Throttling faults (issue 6, fault 2): a send() proxy in front of a real dynalite throws
 * ProvisionedThroughputExceededException and answers BatchWriteItem with UnprocessedItems (it
 * forwards only part of the batch) for a large share of requests. The table must end up exactly
 * as a clean run's, the retries must be reported, and backoff must stay bounded.
 */
import {
  BatchWriteItemCommand,
  type BatchWriteItemCommandOutput,
  type DynamoDBClient,
  ProvisionedThroughputExceededException,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemSize, writeUnits } from '../src/embeddings/item-size.ts';
import {
  AdaptiveConcurrency,
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  mapWithConcurrency,
} from '../src/embeddings/retry.ts';
import type { VersionId } from '../src/embeddings/types.ts';
import type { LocalDynamo } from '../src/local/dynalite.ts';
import { TransientError } from '../src/util/errors.ts';
import {
  expectOneCallPerGroup,
  freshStore,
  makeRecords,
  recordingClient,
  scanTable,
  seededRandom,
  startDynamo,
} from './embeddings-helpers.ts';

const VERSION: VersionId = { modelVersion: 'm1', date: '2026-10-01' };
const USERS = Array.from({ length: 400 }, (_, i) => `user-${i}`);
const DIMS = 32;

interface FaultCounts {
  throttled: number;
  partial: number;
  /** Partial answers that still wrote some of the batch (progress). */
  partialWrote: number;
  forwarded: number;
}

/**
 * Wraps a real client: a `share` of BatchWriteItem/Query calls fail (half throttled, half partial;
 * with `throttleOnly`, all throttled).
 */
function faultyClient(
  real: DynamoDBClient,
  share: number,
  seed: number,
  throttleOnly = false,
): { client: DynamoDBClient; counts: FaultCounts } {
  const random = seededRandom(seed);
  const counts: FaultCounts = { throttled: 0, partial: 0, partialWrote: 0, forwarded: 0 };
  const throttle = () =>
    new ProvisionedThroughputExceededException({ message: 'injected throttle', $metadata: { httpStatusCode: 400 } });
  const send = async (command: unknown): Promise<unknown> => {
    if (command instanceof BatchWriteItemCommand) {
      const r = random();
      if (r < share / 2 || (throttleOnly && r < share)) {
        counts.throttled++;
        throw throttle();
      }
      if (r < share) {
        counts.partial++;
        const [table, requests] = Object.entries(command.input.RequestItems ?? {})[0]!;
        const keep = Math.floor(requests.length * random());
        if (keep > 0) counts.partialWrote++;
        const processed: BatchWriteItemCommandOutput | undefined =
          keep > 0
            ? await real.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests.slice(0, keep) } }))
            : undefined;
        const left = [...requests.slice(keep), ...(processed?.UnprocessedItems?.[table] ?? [])];
        return { UnprocessedItems: { [table]: left }, $metadata: {} };
      }
    } else if (command instanceof QueryCommand && random() < share / 2) {
      counts.throttled++;
      throw throttle();
    }
    counts.forwarded++;
    return real.send(command as never);
  };
  return { client: withSend(real, send), counts };
}

/** `real` with its send() replaced (everything else, e.g. destroy, stays the real client's). */
function withSend(real: DynamoDBClient, send: (command: unknown) => Promise<unknown>): DynamoDBClient {
  return new Proxy(real, { get: (t, p, r) => (p === 'send' ? send : Reflect.get(t, p, r)) });
}

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startDynamo();
});
afterAll(async () => dynamo.close());

describe('throttling and UnprocessedItems', () => {
  it('writes every item exactly as a clean run does when 60% of requests fail', async () => {
    const clean = await freshStore(dynamo);
    const faults = faultyClient(dynamo.client, 0.6, 42);
    const delays: number[] = [];
    const retry = {
      maxAttempts: 30,
      baseDelayMs: 10,
      maxDelayMs: 200,
      sleep: async (ms: number) => void delays.push(ms),
    };
    const faulty = await freshStore(dynamo, { client: faults.client, retry });
    const records = makeRecords(USERS, DIMS, 1);
    const cleanStats = await clean.store.writeEmbeddings(VERSION, records);
    const stats = await faulty.store.writeEmbeddings(VERSION, records);
    const cleanItems = await scanTable(dynamo.client, clean.tableName);
    const faultyItems = await scanTable(dynamo.client, faulty.tableName);
    expect(faultyItems).toHaveLength(USERS.length);
    expect(faultyItems).toEqual(cleanItems);
    expect(cleanStats).toMatchObject({ requests: 16, retries: 0, throttles: 0 });
    expect(stats.items).toBe(USERS.length);
    expect(stats.retries).toBeGreaterThan(10);
    expect(stats.throttles).toBe(faults.counts.throttled + faults.counts.partial);
    expect(stats.requests).toBe(16 + stats.retries);
    expect(stats.bytes).toBe(cleanStats.bytes);
    expect(Math.max(...delays)).toBeLessThanOrEqual(200);
    expect(stats.backoffMs).toBeCloseTo(
      delays.reduce((a, b) => a + b, 0),
      6,
    );
  });

  it('reads through throttled Queries give the same answers', async () => {
    const { store, tableName } = await freshStore(dynamo);
    await store.writeEmbeddings(VERSION, makeRecords(USERS.slice(0, 50), DIMS, 1));
    await store.recordVersion({ ...VERSION, published: true });
    await store.movePointer(VERSION, undefined);
    const faults = faultyClient(dynamo.client, 0.6, 7);
    const { DynamoEmbeddingStore } = await import('../src/embeddings/dynamo-store.ts');
    const reader = new DynamoEmbeddingStore({
      tableName,
      client: faults.client,
      wallClockExpiry: false,
      retry: { maxAttempts: 30, sleep: async () => undefined },
    });
    const expected = await store.lookupMany(USERS.slice(0, 60));
    const actual = await reader.lookupMany(USERS.slice(0, 60));
    expect(faults.counts.throttled).toBeGreaterThan(0);
    expect(actual.size).toBe(50);
    expect([...actual.entries()].sort()).toEqual([...expected.entries()].sort());
  });

  it('a call that lost one group for good stops its other groups at their next attempt', async () => {
    // Prepare: group 0 fails for good (a non-retryable error) once groups 1-3 are in flight; their
    // calls are answered (throttled) only after that failure, so without the abort each would
    // retry 20 times.
    const real = dynamo.client;
    const callsByGroup = new Map<string, number>();
    const lost = Object.assign(new Error('injected: group 0 is lost'), { name: 'ValidationException' });
    let othersInFlight = 0;
    let group0Failed!: () => void;
    const failedFirst = new Promise<void>((resolve) => {
      group0Failed = resolve;
    });
    const client = withSend(real, async (command) => {
      if (!(command instanceof BatchWriteItemCommand)) return real.send(command as never);
      const requests = Object.values(command.input.RequestItems ?? {})[0]!;
      const first = requests[0]!.PutRequest!.Item!.pk!.S!.split('#').at(-1)!;
      callsByGroup.set(first, (callsByGroup.get(first) ?? 0) + 1);
      if (first === 'user-0') {
        while (othersInFlight < 3) await new Promise((resolve) => setTimeout(resolve, 1));
        setTimeout(group0Failed, 5); // the failure reaches the writer before the others are answered
        throw lost;
      }
      othersInFlight++;
      await failedFirst;
      throw new ProvisionedThroughputExceededException({ message: 'injected throttle', $metadata: {} });
    });
    const retry = { maxAttempts: 20, baseDelayMs: 1, maxDelayMs: 1, sleep: async () => undefined };
    const { store } = await freshStore(dynamo, { client, retry, writeConcurrency: 4 });
    // Act: 16 groups, 4 in flight
    const write = store.writeEmbeddings(VERSION, makeRecords(USERS, DIMS, 1));
    await expect(write).rejects.toBe(lost);
    // Assess (the call settles once its groups in flight have ended): one call each for the 4
    // groups that started, none for the other 12
    expect(Object.fromEntries(callsByGroup)).toEqual({ 'user-0': 1, 'user-25': 1, 'user-50': 1, 'user-75': 1 });
  });

  it('gives up after the bounded attempts that wrote nothing, with a TransientError, sleeping at most the cap each time', async () => {
    const faults = faultyClient(dynamo.client, 1.01, 3); // every request fails
    const delays: number[] = [];
    const retry = {
      maxAttempts: 5,
      baseDelayMs: 10,
      maxDelayMs: 40,
      sleep: async (ms: number) => void delays.push(ms),
    };
    const { store } = await freshStore(dynamo, { client: faults.client, retry, writeConcurrency: 1 });
    const write = store.writeEmbeddings(VERSION, makeRecords(USERS.slice(0, 25), DIMS, 1));
    await expect(write).rejects.toBeInstanceOf(TransientError);
    const calls = faults.counts.throttled + faults.counts.partial;
    expect(calls - faults.counts.partialWrote).toBe(5); // the calls that wrote nothing
    expect(delays).toHaveLength(calls - 1);
    expect(delays.every((d, i) => d >= 0 && d <= Math.min(40, 10 * 2 ** i))).toBe(true);
  });

  it('gives up naming the unwritten items and the attempts, with the last failure as its cause', async () => {
    const faults = faultyClient(dynamo.client, 1.01, 5, true); // every call throttled
    const retry = { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 1, sleep: async () => undefined };
    const { store, tableName } = await freshStore(dynamo, { client: faults.client, retry, writeConcurrency: 1 });
    const error = await store.writeEmbeddings(VERSION, makeRecords(USERS.slice(0, 10), DIMS, 1)).catch((e) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe(
      `BatchWriteItem to ${tableName}: 10 items still unwritten after 4 attempts that wrote none of them (4 in all)`,
    );
    expect(error.details).toEqual({ unwritten: 10, attempts: 4 });
    expect(error.cause).toBeInstanceOf(ProvisionedThroughputExceededException);
    expect(faults.counts.throttled).toBe(4);
  });

  it('rethrows a permanent error at once, and retries a 5xx without calling it a throttle', async () => {
    const real = dynamo.client;
    const permanent = Object.assign(new Error('bad item'), { name: 'ValidationException' });
    const serverFault = Object.assign(new Error('injected 500'), {
      name: 'InternalServerError',
      $metadata: { httpStatusCode: 500 },
    });
    const failFirst = (error: Error) => {
      let calls = 0;
      const client = withSend(real, async (command) => {
        if (command instanceof BatchWriteItemCommand && calls++ === 0) throw error;
        return real.send(command as never);
      });
      return { client, calls: () => calls };
    };
    const retry = { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 1, sleep: async () => undefined };
    const records = makeRecords(USERS.slice(0, 10), DIMS, 1);
    // Act
    const lost = failFirst(permanent);
    const lostStore = await freshStore(dynamo, { client: lost.client, retry, writeConcurrency: 1 });
    await expect(lostStore.store.writeEmbeddings(VERSION, records)).rejects.toBe(permanent);
    const retried = failFirst(serverFault);
    const retriedStore = await freshStore(dynamo, { client: retried.client, retry, writeConcurrency: 1 });
    const stats = await retriedStore.store.writeEmbeddings(VERSION, records);
    // Assess
    expect(lost.calls()).toBe(1);
    expect(await scanTable(real, lostStore.tableName)).toEqual([]);
    expect(retried.calls()).toBe(2);
    expect(stats).toMatchObject({ items: 10, requests: 2, retries: 1, throttles: 0 });
    expect(await scanTable(real, retriedStore.tableName)).toHaveLength(10);
  });

  it('reports bytes and write units as DynamoDB counts them, and the capacity dynalite says it consumed', async () => {
    const wire = recordingClient(dynamo.client);
    const { store, tableName } = await freshStore(dynamo, { client: wire.client });
    const stats = await store.writeEmbeddings(VERSION, makeRecords(USERS.slice(0, 60), DIMS, 1));
    const items = await scanTable(dynamo.client, tableName);
    const bytes = items.reduce((n, item) => n + itemSize(item), 0);
    const units = items.reduce((n, item) => n + writeUnits(item), 0);
    expect(items).toHaveLength(60);
    expect(stats).toMatchObject({ items: 60, throttles: 0 });
    // 3 groups, one successful call each; a real ECONNRESET of a reused socket is seen on the wire
    // and must be the only extra request
    expectOneCallPerGroup(wire.calls, stats, [25, 25, 10]);
    expect(stats.bytes).toBe(bytes);
    expect(stats.writeUnits).toBe(units);
    expect(units).toBeGreaterThanOrEqual(60);
    expect(stats.consumedWriteUnits).toBe(units); // one put per item, each charged its size
  });

  it('does not count calls that wrote part of a group against its attempts', async () => {
    // Prepare: every BatchWriteItem writes exactly one item and hands the rest back
    let calls = 0;
    const real = dynamo.client;
    const oneAtATime = withSend(real, async (command) => {
      if (!(command instanceof BatchWriteItemCommand)) return real.send(command as never);
      calls++;
      const [table, requests] = Object.entries(command.input.RequestItems ?? {})[0]!;
      await real.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests.slice(0, 1) } }));
      return { UnprocessedItems: requests.length > 1 ? { [table]: requests.slice(1) } : {}, $metadata: {} };
    });
    const retry = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1, sleep: async () => undefined };
    const { store, tableName } = await freshStore(dynamo, { client: oneAtATime, retry, writeConcurrency: 1 });
    // Act: one group of 25 takes 25 calls, far past 3 attempts, each of them progress
    const stats = await store.writeEmbeddings(VERSION, makeRecords(USERS.slice(0, 25), DIMS, 1));
    // Assess
    expect(calls).toBe(25);
    expect(stats).toMatchObject({ items: 25, requests: 25, retries: 24 });
    expect(await scanTable(dynamo.client, tableName)).toHaveLength(25);
  });

  it('keeps requests in flight within writeConcurrency, and backs off to one under throttling', async () => {
    const real = dynamo.client;
    let inFlight = 0;
    const peaks: number[] = [];
    let throttling = true;
    let throttled = 0;
    const send = async (command: unknown): Promise<unknown> => {
      inFlight++;
      peaks.push(inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, 2));
        if (command instanceof BatchWriteItemCommand && throttling) {
          throttled++;
          throw new ProvisionedThroughputExceededException({ message: 'injected', $metadata: {} });
        }
        return await real.send(command as never);
      } finally {
        inFlight--;
      }
    };
    const client = withSend(real, send);
    const retry = { maxAttempts: 50, baseDelayMs: 1, maxDelayMs: 2, sleep: async () => undefined };
    const { store, tableName } = await freshStore(dynamo, { client, retry, writeConcurrency: 6 });
    // Two concurrent calls (the embed stage keeps two chunks in flight) share the store's limit.
    const write = Promise.all([
      store.writeEmbeddings(VERSION, makeRecords(USERS.slice(0, 200), DIMS, 1)),
      store.writeEmbeddings(VERSION, makeRecords(USERS.slice(200), DIMS, 1)),
    ]).then(([a, b]) => ({ throttles: a.throttles + b.throttles }));
    const throttlesReach = async (n: number) => {
      while (throttled < n) await new Promise((resolve) => setTimeout(resolve, 1));
    };
    await throttlesReach(20); // by now the limiter has halved 6 -> 1
    const peakWhileThrottled = Math.max(...peaks);
    peaks.length = 0;
    await throttlesReach(40);
    const settledWhileThrottled = Math.max(...peaks);
    throttling = false;
    const stats = await write;
    expect(peakWhileThrottled).toBeLessThanOrEqual(6);
    expect(settledWhileThrottled).toBeLessThanOrEqual(1);
    expect((await scanTable(dynamo.client, tableName)).length).toBe(USERS.length);
    expect(stats.throttles).toBeGreaterThan(0);
  });

  it('AIMD limiter halves on throttles and climbs back to its maximum', async () => {
    const limiter = new AdaptiveConcurrency(8);
    limiter.onThrottle();
    limiter.onThrottle();
    const afterThrottles = limiter.limit;
    for (let i = 0; i < 100; i++) limiter.onSuccess();
    const recovered = limiter.limit;
    for (let i = 0; i < 10; i++) limiter.onThrottle();
    await limiter.acquire();
    let second = false;
    const pending = limiter.acquire().then(() => {
      second = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const blocked = !second;
    limiter.release();
    await pending;
    expect([afterThrottles, recovered, limiter.limit, blocked, second]).toEqual([2, 8, 1, true, true]);
  });

  it('mapWithConcurrency starts nothing after a failure and rejects only once the calls in flight end', async () => {
    const started: number[] = [];
    const ended: number[] = [];
    const failure = new Error('item 1 failed');
    const run = mapWithConcurrency([0, 1, 2, 3, 4, 5], 3, async (item) => {
      started.push(item);
      await new Promise((resolve) => setTimeout(resolve, item === 1 ? 1 : 20));
      ended.push(item);
      if (item === 1) throw failure;
      return item;
    });
    await expect(run).rejects.toBe(failure);
    expect(started).toEqual([0, 1, 2]);
    expect([...ended].sort()).toEqual([0, 1, 2]);
    expect(await mapWithConcurrency([3, 1, 2], 2, async (n) => n * 10)).toEqual([30, 10, 20]);
  });

  it('full-jitter backoff grows exponentially up to the cap', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 50, maxDelayMs: 2000, random: () => 1 };
    const ceilings = Array.from({ length: 8 }, (_, n) => backoffDelay(policy, n));
    const half = backoffDelay({ ...policy, random: () => 0.5 }, 3);
    expect(ceilings).toEqual([50, 100, 200, 400, 800, 1600, 2000, 2000]);
    expect(half).toBe(200);
  });
});
