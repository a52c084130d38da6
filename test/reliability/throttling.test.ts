/**
 * Fault 2, throttling (docs/reliability.md). The whole daily run — main thread and worker threads —
 * talks to dynalite through a fault-injecting HTTP proxy (src/testing/dynamo-fault-proxy.ts) that
 * throttles and half-writes a large share of requests. The table and snapshots must equal a clean
 * run's, and the run must report its retries. Under permanent throttling the run must stop after a
 * bounded number of attempts and not publish. (Per-call backoff bounds: test/embeddings-faults.test.ts.)
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoEmbeddingStore } from '../../src/embeddings/dynamo-store.ts';
import { DEFAULT_RETRY_POLICY } from '../../src/embeddings/retry.ts';
import { ensureTable, type LocalDynamo, localDynamoClient, startLocalDynamo } from '../../src/local/dynalite.ts';
import type { LocalEmbeddings } from '../../src/local/local-embeddings.ts';
import { runDaily } from '../../src/pipeline/local-runner.ts';
import type { DailySummary } from '../../src/pipeline/types.ts';
import { generateDataset } from '../../src/synth/generate.ts';
import { objectState, scanTable } from '../../src/testing/crash-harness.ts';
import {
  type FaultProxy,
  type FaultProxyOptions,
  startDynamoFaultProxy,
} from '../../src/testing/dynamo-fault-proxy.ts';
import { type ReliabilityCase, recordReliability } from '../../src/testing/reliability-report.ts';

/** Whole daily runs on a loaded 2-core machine can take a while; the default 120 s is tight. */
const RUN_TIMEOUT_MS = 300_000;

const DAY = '2026-10-01';
const MODEL = 'test/fixtures/models/tiny';
const TABLE = 'reliability-throttle';

interface Harness {
  readonly dynamo: LocalDynamo;
  readonly proxy?: FaultProxy;
  readonly local: LocalEmbeddings;
}

/** An in-memory dynalite, optionally behind the fault proxy; the runner and its workers use `endpoint`. */
async function openTable(proxyOptions?: Omit<FaultProxyOptions, 'target'>): Promise<Harness> {
  const dynamo = await startLocalDynamo();
  await ensureTable(dynamo.client, TABLE);
  const proxy = proxyOptions ? await startDynamoFaultProxy({ ...proxyOptions, target: dynamo.endpoint }) : undefined;
  const endpoint = proxy?.endpoint ?? dynamo.endpoint;
  const client = proxy ? localDynamoClient(endpoint) : dynamo.client;
  const store = new DynamoEmbeddingStore({
    tableName: TABLE,
    client,
    wallClockExpiry: false,
    connection: { endpoint, local: true },
  });
  const local: LocalEmbeddings = {
    store,
    dynamo,
    tableName: TABLE,
    endpoint,
    close: async () => {
      if (proxy) client.destroy();
      await proxy?.close();
      await dynamo.close();
    },
  };
  return { dynamo, local, ...(proxy ? { proxy } : {}) };
}

let base: string;
let seedDir: string;
let clean: { summary: DailySummary; items: string[]; objects: Record<string, string> };
const cases: ReliabilityCase[] = [];

function run(dataDir: string, local: LocalEmbeddings, partitions = 4): Promise<DailySummary> {
  return runDaily({ dataDir, date: DAY, modelDir: MODEL, partitions, workers: 1, threads: 1, embeddings: local });
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'pf-throttle-'));
  seedDir = join(base, 'seed');
  await generateDataset({ users: 600, days: 1, seed: 5, start: DAY, out: seedDir });
  const dir = join(base, 'clean');
  await cp(seedDir, dir, { recursive: true });
  const h = await openTable();
  try {
    const summary = await run(dir, h.local);
    expect(summary.published).toBe(true);
    clean = { summary, items: await scanTable(h.dynamo.client, TABLE), ...(await objectState(dir)) };
  } finally {
    await h.local.close();
  }
}, 300_000);

afterAll(async () => {
  if (cases.length > 0) await recordReliability('throttling', cases);
  await rm(base, { recursive: true, force: true });
});

describe('throttling: DynamoDB refuses and half-writes a large share of requests', { timeout: RUN_TIMEOUT_MS }, () => {
  it('every item is written exactly as in a clean run, and the run reports its retries', async () => {
    // Prepare: 30 % of all requests throttled, 30 % of batch writes only partly done
    const dir = join(base, 'throttled');
    await cp(seedDir, dir, { recursive: true });
    const h = await openTable({ throttleRate: 0.3, unprocessedRate: 0.3, seed: 42 });
    let summary: DailySummary;
    let items: string[];
    try {
      // Act
      summary = await run(dir, h.local);
      items = await scanTable(h.dynamo.client, TABLE);
    } finally {
      await h.local.close();
    }
    const stats = h.proxy!.stats;
    const injected = stats.throttled + stats.partial;

    // Assess: same table, same snapshots, faults seen and reported
    expect(summary.published).toBe(true);
    expect(items).toEqual(clean.items);
    const objects = (await objectState(dir)).objects;
    expect(Object.keys(objects)).toEqual(Object.keys(clean.objects));
    for (const key of Object.keys(objects).filter((k) => !k.startsWith('runs/')))
      expect(objects[key]).toBe(clean.objects[key]);
    expect(stats.byOperation.BatchWriteItem ?? 0).toBeGreaterThan(clean.summary.writeStats.requests);
    expect(injected / stats.requests).toBeGreaterThan(0.25);
    expect(summary.writeStats.items).toBe(clean.summary.writeStats.items);
    expect(summary.writeStats.throttles).toBeGreaterThan(0);
    expect(summary.writeStats.retries).toBeGreaterThan(0);
    expect(summary.writeStats.retries).toBeGreaterThanOrEqual(stats.partial);

    cases.push({
      id: 'throttling.run',
      description: 'daily run through a proxy that throttles 30% of all requests and half-writes 30% of batch writes',
      trials: 1,
      passed: 1,
      result: `published; table and snapshots equal to the clean run (${summary.writeStats.items} embeddings); run reported ${summary.writeStats.retries} retries, ${summary.writeStats.throttles} throttles`,
      figures: {
        proxyRequests: stats.requests,
        injectedThrottles: stats.throttled,
        injectedPartialBatches: stats.partial,
        itemsHandedBack: stats.unprocessedItems,
        batchWriteRequests: stats.byOperation.BatchWriteItem ?? 0,
        cleanBatchWriteRequests: clean.summary.writeStats.requests,
        reportedRetries: summary.writeStats.retries,
        reportedThrottles: summary.writeStats.throttles,
      },
    });
  });

  it('permanent throttling of batch writes: the run stops after bounded attempts and does not publish', async () => {
    // Prepare: every BatchWriteItem refused (one partition: giving up takes the SDK's and the
    // store's retries, tens of seconds per partition)
    const dir = join(base, 'throttled-for-good');
    await cp(seedDir, dir, { recursive: true });
    const h = await openTable({ throttleRate: 1, unprocessedRate: 0, operations: ['BatchWriteItem'], seed: 7 });
    let summary: DailySummary;
    let pointer: unknown;
    try {
      // Act
      summary = await run(dir, h.local, 1);
      pointer = await h.local.store.getPointer();
    } finally {
      await h.local.close();
    }
    const stats = h.proxy!.stats;
    const batchWrites = stats.byOperation.BatchWriteItem ?? 0;

    // Assess: every partition failed with the bounded-retry error, nothing published
    expect(summary.published).toBe(false);
    expect(pointer).toBeUndefined();
    const failed = summary.reasons.filter((r) => /^partition \d+ failed/.test(r));
    expect(failed).toHaveLength(1);
    for (const reason of failed) expect(reason).toMatch(/after \d+ attempts/);
    // bounded: each batch of 25 gives up after maxAttempts store attempts (x at most 3 SDK attempts);
    // batches still in flight when the partition fails end the same way
    const batches = Math.ceil(clean.summary.writeStats.items / 25);
    const bound = batches * DEFAULT_RETRY_POLICY.maxAttempts * 3;
    expect(failed[0]).toContain(`after ${DEFAULT_RETRY_POLICY.maxAttempts} attempts`);
    expect(batchWrites).toBeGreaterThanOrEqual(DEFAULT_RETRY_POLICY.maxAttempts);
    expect(batchWrites).toBeLessThanOrEqual(bound);

    cases.push({
      id: 'throttling.permanent',
      description: 'every BatchWriteItem throttled, for good',
      trials: 1,
      passed: 1,
      result: `not published, no pointer; the partition failed with "${failed[0]?.replace(/^partition \d+ failed: /, '').slice(0, 80)}"`,
      figures: { batchWriteRequests: batchWrites, bound },
    });
  });
});
