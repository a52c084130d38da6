/**
 * Local mode's embedding store: embedded dynalite persisted under `<dataDir>/dynamodb` (in
 * memory without a data dir), the table created from the schema, and a DynamoEmbeddingStore with
 * local settings (expiry judged against the served version's date, since local runs often replay
 * historical or synthetic dates and dynalite never deletes by TTL).
 * Worker threads/processes cannot open the same LevelDB: they connect to `endpoint` with
 * `connectLocalEmbeddings` (or the store's threadConfig(), as stage threads do) instead.
 */
import { join } from 'node:path';
import { DynamoEmbeddingStore, type DynamoEmbeddingStoreOptions } from '../embeddings/dynamo-store.ts';
import { DEFAULT_LOCAL_TABLE_NAME } from '../embeddings/table-schema.ts';
import { ensureTable, type LocalDynamo, localDynamoClient, startLocalDynamo } from './dynalite.ts';

export type LocalStoreOptions = Omit<DynamoEmbeddingStoreOptions, 'client' | 'tableName'>;

export interface LocalEmbeddings {
  readonly store: DynamoEmbeddingStore;
  readonly dynamo: LocalDynamo;
  readonly tableName: string;
  readonly endpoint: string;
  close(): Promise<void>;
}

export interface OpenLocalEmbeddingsOptions {
  /** Data directory; the table persists under `<dataDir>/dynamodb`. In memory when absent. */
  readonly dataDir?: string;
  readonly tableName?: string;
  readonly port?: number;
  readonly store?: LocalStoreOptions;
}

export async function openLocalEmbeddings(options: OpenLocalEmbeddingsOptions = {}): Promise<LocalEmbeddings> {
  const tableName = options.tableName ?? DEFAULT_LOCAL_TABLE_NAME;
  const dynamo = await startLocalDynamo({
    dir: options.dataDir ? join(options.dataDir, 'dynamodb') : undefined,
    port: options.port,
  });
  try {
    await ensureTable(dynamo.client, tableName);
  } catch (error) {
    await dynamo.close();
    throw error;
  }
  const store = new DynamoEmbeddingStore({
    wallClockExpiry: false,
    ...options.store,
    tableName,
    client: dynamo.client,
    connection: { endpoint: dynamo.endpoint, local: true },
  });
  return { store, dynamo, tableName, endpoint: dynamo.endpoint, close: () => dynamo.close() };
}

/** A store on an already running local endpoint (from a worker); destroy() its client when done. */
export function connectLocalEmbeddings(
  endpoint: string,
  tableName: string = DEFAULT_LOCAL_TABLE_NAME,
  options: LocalStoreOptions = {},
): { store: DynamoEmbeddingStore; close(): void } {
  const client = localDynamoClient(endpoint);
  const store = new DynamoEmbeddingStore({
    wallClockExpiry: false,
    ...options,
    tableName,
    client,
    connection: { endpoint, local: true },
  });
  return { store, close: () => client.destroy() };
}
