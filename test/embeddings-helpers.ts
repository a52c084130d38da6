/** Test helpers: one real dynalite per test file, a fresh table per test, deterministic vectors. */
import { type AttributeValue, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
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
