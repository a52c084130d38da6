/** Test helpers: one real dynalite per test file, a fresh table per test, deterministic vectors. */
import { type AttributeValue, BatchWriteItemCommand, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { expect } from 'vitest';
import { DynamoEmbeddingStore, type DynamoEmbeddingStoreOptions } from '../src/embeddings/dynamo-store.ts';
import type { EmbeddingRecord } from '../src/embeddings/types.ts';
import { ensureTable, type LocalDynamo, startLocalDynamo } from '../src/local/dynalite.ts';

let tableCounter = 0;

export async function startDynamo(): Promise<LocalDynamo> {
  return startLocalDynamo();
}

/** A fresh table and a store on it (local-mode expiry unless the options say otherwise). */
export async function freshStore(
  dynamo: LocalDynamo,
  options: Partial<DynamoEmbeddingStoreOptions> = {},
): Promise<{ store: DynamoEmbeddingStore; tableName: string }> {
  tableCounter += 1;
  const tableName = `emb-${process.pid}-${tableCounter}`;
  await ensureTable(dynamo.client, tableName);
  const store = new DynamoEmbeddingStore({
    wallClockExpiry: false,
    ...options,
    tableName,
    client: options.client ?? dynamo.client,
  });
  return { store, tableName };
}

/** A small seeded PRNG (mulberry32) so that fault schedules and fuzz inputs are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashString(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Unit-norm vectors that depend only on the user and `salt` (e.g. the date). */
export function makeRecords(userIds: readonly string[], dims: number, salt: number): EmbeddingRecord[] {
  return userIds.map((userId) => {
    const random = seededRandom(hashString(userId) ^ Math.imul(salt, 0x9e3779b1));
    const v = Float32Array.from({ length: dims }, () => random() * 2 - 1);
    const norm = Math.hypot(...v);
    return { userId, embedding: v.map((x) => x / norm) };
  });
}

/** Every item of a table, sorted by key: for comparing whole tables. */
export async function scanTable(client: DynamoDBClient, tableName: string): Promise<Record<string, AttributeValue>[]> {
  const items: Record<string, AttributeValue>[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey }));
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  const key = (item: Record<string, AttributeValue>) => `${item.pk?.S}\u0000${item.sk?.S}`;
  return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** One BatchWriteItem call as the wire saw it: the partition keys it carried, and how it ended. */
export interface BatchWriteCall {
  readonly keys: readonly string[];
  /** The error's code or name when the call threw (e.g. a real ECONNRESET), else undefined. */
  readonly failure?: string;
}

/**
 * `real` with every BatchWriteItem call recorded (all other commands pass through untouched):
 * the calls a write sent are then known exactly, whatever the machine's sockets did, so a test
 * can require one successful call per group and nothing more. Only send() is replaced.
 */
export function recordingClient(real: DynamoDBClient): { client: DynamoDBClient; calls: BatchWriteCall[] } {
  const calls: BatchWriteCall[] = [];
  const send = async (command: unknown): Promise<unknown> => {
    if (!(command instanceof BatchWriteItemCommand)) return real.send(command as never);
    const requests = Object.values(command.input.RequestItems ?? {})[0] ?? [];
    const keys = requests.map((r) => r.PutRequest?.Item?.pk?.S ?? '');
    try {
      const out = await real.send(command);
      calls.push({ keys });
      return out;
    } catch (error) {
      const e = error as { code?: string; name?: string };
      calls.push({ keys, failure: e.code ?? e.name ?? 'unknown' });
      throw error;
    }
  };
  const client = new Proxy(real, { get: (t, p, r) => (p === 'send' ? send : Reflect.get(t, p, r)) });
  return { client, calls };
}

const NETWORK_FAILURES = ['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT'];

/**
 * Exactly one successful BatchWriteItem call per group, of the given sizes, covering every key
 * once; every other call a real network failure of the same group that the store retried; and
 * the store's figures equal to what the wire saw. A writer that sends one request too many (a
 * group sent twice, an extra group) fails this, whatever the machine's sockets did.
 */
export function expectOneCallPerGroup(
  calls: readonly BatchWriteCall[],
  stats: { requests: number; retries: number },
  groupSizes: readonly number[],
): void {
  const ok = calls.filter((c) => c.failure === undefined);
  const failed = calls.filter((c) => c.failure !== undefined);
  expect(ok.map((c) => c.keys.length).sort((a, b) => a - b)).toEqual([...groupSizes].sort((a, b) => a - b));
  const keys = ok.flatMap((c) => c.keys);
  expect(new Set(keys).size).toBe(keys.length);
  for (const f of failed) {
    expect(NETWORK_FAILURES).toContain(f.failure);
    expect(ok.map((c) => c.keys.join())).toContain(f.keys.join());
  }
  expect(stats.requests).toBe(calls.length);
  expect(stats.retries).toBe(failed.length);
}
