/**
 * The embed stage's output side (src/pipeline/embed-writer.ts): table writes and snapshot
 * encoding on the writer thread must give exactly what the inline path gives, and any failure
 * there must fail the partition before its snapshots or result are written (so nothing publishes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoEmbeddingStore } from '../src/embeddings/dynamo-store.ts';
import { localDynamoClient } from '../src/local/dynalite.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { embedPartition, releaseEmbedders } from '../src/pipeline/embed.ts';
import { PartitionOutput } from '../src/pipeline/embed-output.ts';
import { layout } from '../src/pipeline/layout.ts';
import { deployModel } from '../src/pipeline/model.ts';
import { partitionSlice } from '../src/pipeline/partition.ts';
import { plan } from '../src/pipeline/plan.ts';
import { publish } from '../src/pipeline/publish.ts';
import type { PipelineEnv } from '../src/pipeline/types.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { generateDataset } from '../src/synth/generate.ts';
import { TransientError } from '../src/util/errors.ts';
import { fixtureModel, fixtureModelVersion, scanTable } from './pipeline-helpers.ts';

const MV = fixtureModelVersion('tiny');
const D = '2026-10-01';
const PARTITIONS = 4;

let dir: string;
let local: LocalEmbeddings;
let env: PipelineEnv;

/** The same table, reached through a client the store cannot describe: output runs inline. */
function inlineStore(): DynamoEmbeddingStore {
  return new DynamoEmbeddingStore({ tableName: local.tableName, client: local.dynamo.client, wallClockExpiry: false });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pf-embed-writer-'));
  await generateDataset({ users: 120, days: 1, seed: 9, start: D, out: dir });
  local = await openLocalEmbeddings({});
  env = { objects: new LocalObjectStore(dir), embeddings: local.store };
  await deployModel(env, fixtureModel('tiny'));
  const run = await plan(env, { date: D, modelVersion: MV, partitions: PARTITIONS, lookbackDays: 1 });
  for (const s of run.slices) await partitionSlice(env, { date: D, modelVersion: MV, slice: s.index });
}, 120_000);

afterAll(async () => {
  await releaseEmbedders();
  await local?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('embed output on the writer thread', { timeout: 120_000 }, () => {
  it('writes the same table items, snapshots and statistics as the inline path', async () => {
    // Act: partition 0 through the writer thread, then again inline (same keys, same values)
    expect(local.store.threadConfig()).toBeDefined();
    const threaded = await embedPartition(env, { date: D, modelVersion: MV, partition: 0, threads: 1 });
    const objects = async () => ({
      sequences: await env.objects.get(layout.sequences(MV, D, 0)),
      embeddings: await env.objects.get(layout.embeddings(MV, D, 0)),
    });
    const first = await objects();
    const itemsFirst = await scanTable(local);
    const inline = await embedPartition(
      { ...env, embeddings: inlineStore() },
      { date: D, modelVersion: MV, partition: 0, threads: 1 },
    );
    const second = await objects();

    // Assess
    expect(threaded.embeddedUsers).toBeGreaterThan(0);
    expect(threaded.writeStats.items).toBe(threaded.embeddedUsers);
    expect(inline.stats).toEqual(threaded.stats);
    expect(inline.writeStats).toEqual(threaded.writeStats);
    expect(Buffer.from(second.sequences).equals(Buffer.from(first.sequences))).toBe(true);
    expect(Buffer.from(second.embeddings).equals(Buffer.from(first.embeddings))).toBe(true);
    expect(await scanTable(local)).toEqual(itemsFirst);
  });

  it('a table write that fails for good on the writer thread fails the partition; nothing after it is written', async () => {
    // Prepare: a store whose endpoint refuses connections, with two attempts per request
    const dead = 'http://127.0.0.1:9';
    const store = new DynamoEmbeddingStore({
      tableName: local.tableName,
      client: localDynamoClient(dead),
      connection: { endpoint: dead, local: true },
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      wallClockExpiry: false,
    });
    // Act
    const attempt = embedPartition(
      { ...env, embeddings: store },
      { date: D, modelVersion: MV, partition: 1, threads: 1 },
    );
    // Assess: a retryable failure (Batch retries it), and no snapshot or result of the partition
    await expect(attempt).rejects.toBeInstanceOf(TransientError);
    expect(await env.objects.exists(layout.partitionResult(MV, D, 1))).toBe(false);
    expect(await env.objects.exists(layout.sequences(MV, D, 1))).toBe(false);
    expect(await env.objects.exists(layout.embeddings(MV, D, 1))).toBe(false);
  });

  it('a writer thread that cannot open the store fails the partition with its reason', async () => {
    // Prepare: a store description the thread refuses (an empty table name)
    const broken = Object.create(local.store) as DynamoEmbeddingStore;
    broken.threadConfig = () => ({ ...local.store.threadConfig()!, tableName: '' });
    // Act + Assess
    await expect(
      embedPartition({ ...env, embeddings: broken }, { date: D, modelVersion: MV, partition: 2, threads: 1 }),
    ).rejects.toThrow(/tableName/);
    expect(await env.objects.exists(layout.partitionResult(MV, D, 2))).toBe(false);
  });

  it('the run does not publish while those partitions have failed, and publishes once they are rerun', async () => {
    // Act
    const refused = await publish(env, { date: D, modelVersion: MV });
    for (let p = 1; p < PARTITIONS; p++)
      await embedPartition(env, { date: D, modelVersion: MV, partition: p, threads: 1 });
    const verdict = await publish(env, { date: D, modelVersion: MV });
    // Assess
    expect(refused.published).toBe(false);
    expect(verdict.published).toBe(true);
  });
});

describe('PartitionOutput', () => {
  const version = { modelVersion: 'm', date: D };
  const users = ['a', 'b', 'c'];

  it('rejects the pending batches and finish() with the first write error', async () => {
    // Prepare: a real store on a table that does not exist (dynalite's own refusal, not retried)
    const store = new DynamoEmbeddingStore({
      tableName: 'no-such-table',
      client: local.dynamo.client,
      wallClockExpiry: false,
    });
    const output = new PartitionOutput(store, { partition: 0, version, dims: 2, writeChunk: 1 });
    output.setPrevious(undefined, '');
    output.setUsers(users, Int32Array.from([0, 1, 2]));
    // Act + Assess
    const missing = /Requested resource not found/;
    await expect(output.addVectors([0], Float32Array.from([1, 0]))).rejects.toThrow(missing);
    await expect(output.addVectors([1], Float32Array.from([0, 1]))).rejects.toThrow(missing);
    await expect(output.finish()).rejects.toThrow(missing);
  });

  it('writes in chunks with at most two in flight, and each batch resolves once written', async () => {
    // Prepare: a real store on dynalite whose client is watched: each write of one user is one
    // BatchWriteItem, held 5 ms so that overlapping writes show
    let inFlight = 0;
    let most = 0;
    const calls: string[][] = [];
    const real = local.dynamo.client;
    const watched = new Proxy(real, {
      get: (target, property, receiver) =>
        property === 'send'
          ? async (command: unknown) => {
              if (!(command instanceof BatchWriteItemCommand)) return real.send(command as never);
              inFlight++;
              most = Math.max(most, inFlight);
              const requests = Object.values(command.input.RequestItems ?? {})[0] ?? [];
              calls.push(requests.map((r) => r.PutRequest!.Item!.pk!.S!.split('#').at(-1)!));
              await new Promise((r) => setTimeout(r, 5));
              try {
                return await real.send(command);
              } finally {
                inFlight--;
              }
            }
          : Reflect.get(target, property, receiver),
    });
    const store = new DynamoEmbeddingStore({ tableName: local.tableName, client: watched, wallClockExpiry: false });
    const output = new PartitionOutput(store, { partition: 0, version, dims: 2, writeChunk: 1 });
    output.setPrevious(undefined, '');
    output.setUsers(users, Int32Array.from([2, 0, 1]));
    // Act
    await Promise.all([
      output.addVectors([0], Float32Array.from([1, 0])),
      output.addVectors([1, 2], Float32Array.from([0, 1, 0.6, 0.8])),
    ]);
    const result = await output.finish();
    // Assess: embedding order k -> user selected[k]; snapshot stats over all three users
    expect(calls).toEqual([['c'], ['a'], ['b']]);
    expect(most).toBe(2);
    expect(result.writeStats.items).toBe(3);
    expect(result.stats.users).toBe(3);
    expect(result.stats.minNorm).toBeCloseTo(1, 6);
  });

  it('writes the partial last chunk when drain() begins with two chunks in flight (the 2-partition hang)', async () => {
    // Prepare: writes held until released, chunks of 2 users, 5 users: two full chunks in flight
    // and one user pending when drain() begins
    const held: (() => void)[] = [];
    const real = local.dynamo.client;
    const slow = new Proxy(real, {
      get: (target, property, receiver) =>
        property === 'send'
          ? async (command: unknown) => {
              if (command instanceof BatchWriteItemCommand) await new Promise<void>((r) => held.push(r));
              return real.send(command as never);
            }
          : Reflect.get(target, property, receiver),
    });
    const store = new DynamoEmbeddingStore({ tableName: local.tableName, client: slow, wallClockExpiry: false });
    const five = ['v', 'w', 'x', 'y', 'z'];
    const output = new PartitionOutput(store, { partition: 0, version, dims: 2, writeChunk: 2 });
    output.setPrevious(undefined, '');
    output.setUsers(five, Int32Array.from([0, 1, 2, 3, 4]));
    const batches = [0, 1, 2, 3, 4].map((k) => output.addVectors([k], Float32Array.from([1, 0])));
    for (const b of batches) b.catch(() => {});
    await new Promise((r) => setTimeout(r, 20));
    expect(held).toHaveLength(2); // two chunks in flight, the fifth user pending
    // Act: drain begins, then the two writes complete
    const finished = output.finish();
    while (held.length > 0) held.shift()!();
    const release = setInterval(() => {
      while (held.length > 0) held.shift()!();
    }, 5);
    try {
      // Assess: the tail is written and finish() resolves, well within the test's time
      const result = await Promise.race([
        finished,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('drain() never ended')), 5000)),
      ]);
      expect(result.writeStats.items).toBe(5);
      await Promise.all(batches);
    } finally {
      clearInterval(release);
    }
  });
});
