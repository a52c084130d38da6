/**
 * The embedded DynamoDB of local mode: dynalite in-process on loopback, persisted under the data
 * directory (LevelDB) or in memory. Dummy credentials and region: nothing needs AWS credentials.
 * dynalite has no TTL deletion and no transactions; the store does not rely on either.
 */

import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { Level } from 'level';
import { TABLE_DEFINITION } from '../embeddings/table-schema.ts';
import { ConflictError } from '../util/errors.ts';

export interface LocalDynamoOptions {
  /** LevelDB directory for persistence; in memory when absent. */
  readonly dir?: string;
  /** Loopback port; default 0 (a free port). */
  readonly port?: number;
}

export interface LocalDynamo {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  /** A new client for the same endpoint (e.g. for a worker, or wrapped for fault injection). */
  createClient(): DynamoDBClient;
  close(): Promise<void>;
}

/**
 * Client settings for a local endpoint: dummy region and credentials, and no SDK-level retries
 * (maxAttempts 1): the store's bounded backoff (src/embeddings/retry.ts) is the one retry layer,
 * so attempts do not multiply and a throttled send does not hold a concurrency slot while the
 * SDK sleeps.
 */
export function localDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

/**
 * dynalite opens its LevelDB lazily and throws from its request handler when that fails — an
 * uncaught "Database is closed" that kills the process when another process holds the directory.
 * Probing the directory first turns that into a ConflictError the caller can report.
 */
async function assertLevelDbFree(dir: string): Promise<void> {
  const db = new Level(dir);
  try {
    await db.open();
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new ConflictError(`the embedded table in ${dir} is locked by another process`, { dir }, { cause: error });
    }
    throw error;
  }
  await db.close();
}

export async function startLocalDynamo(options: LocalDynamoOptions = {}): Promise<LocalDynamo> {
  if (options.dir) {
    await mkdir(options.dir, { recursive: true });
    await assertLevelDbFree(options.dir);
  }
  const server = dynalite({ path: options.dir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: DynamoDBClient[] = [];
  const createClient = (): DynamoDBClient => {
    const client = localDynamoClient(endpoint);
    clients.push(client);
    return client;
  };
  const client = createClient();
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      for (const c of clients) c.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    })();
    return closed;
  };
  if (options.dir) {
    try {
      await firstRequest(client, options.dir);
    } catch (error) {
      await close().catch(() => {});
      throw error;
    }
  }
  return { endpoint, client, createClient, close };
}

/**
 * The probe above and dynalite's own open of the directory are two steps, so two processes can
 * both pass the probe and race for the LevelDB lock; the loser's dynalite then throws "Database is
 * closed" from its request handler, uncaught. One request while such an error is caught settles
 * it at start: the loser gets a ConflictError, and the winner holds the lock for its lifetime.
 */
async function firstRequest(client: DynamoDBClient, dir: string): Promise<void> {
  let onUncaught: ((error: Error) => void) | undefined;
  const failed = new Promise<never>((_, reject) => {
    onUncaught = (error: Error) => {
      reject(
        /Database is (closed|not open)|LEVEL_/i.test(String(error?.message))
          ? new ConflictError(`the embedded table in ${dir} is locked by another process`, { dir }, { cause: error })
          : error,
      );
    };
  });
  process.prependListener('uncaughtException', onUncaught!);
  try {
    await Promise.race([client.send(new ListTablesCommand({})), failed]);
  } finally {
    process.off('uncaughtException', onUncaught!);
  }
}

/** Creates the table from the schema unless it exists, and waits until it is ACTIVE. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [...TABLE_DEFINITION.attributeDefinitions],
        KeySchema: [...TABLE_DEFINITION.keySchema],
        BillingMode: TABLE_DEFINITION.billingMode,
      }),
    );
  } catch (error) {
    if ((error as { name?: string }).name !== 'ResourceInUseException') throw error;
  }
  for (let attempt = 0; attempt < 200; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`table ${tableName} did not become ACTIVE`);
}
