/**
 * The table roles tell one story in types, IAM and code (src/contract/table-access.ts): every
 * DynamoDB call each role's code sends on real dynalite is recorded (a middleware on the client,
 * nothing faked), then
 *   - each role, all its methods exercised, sends exactly the actions its grants name, each on
 *     the item kinds (`dynamodb:LeadingKeys`) they allow;
 *   - each stage, run against only the roles its part is given, stays within those grants;
 *   - the Lambdas and the Batch worker open exactly those roles.
 */
import { rmSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PART_TABLE_ROLES,
  type SystemPart,
  TABLE_ROLE_GRANTS,
  type TableGrant,
  type TableRole,
  tableGrantsOf,
} from '../src/contract/table-access.ts';
import { DynamoEmbeddingReader } from '../src/embeddings/embedding-reader.ts';
import { DynamoEmbeddingWriter } from '../src/embeddings/embedding-writer.ts';
import { DynamoRunLocks, DynamoRunLockTaker } from '../src/embeddings/run-lock.ts';
import type { TableStoreOptions } from '../src/embeddings/store-options.ts';
import { DynamoVersionReader } from '../src/embeddings/version-reader.ts';
import { DynamoVersionRegistry } from '../src/embeddings/version-registry.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { LookupHandler } from '../src/lookup/handler.ts';
import { embedPartition, releaseEmbedders } from '../src/pipeline/embed.ts';
import { runDaily } from '../src/pipeline/local-runner.ts';
import { partitionSlice } from '../src/pipeline/partition.ts';
import { plan } from '../src/pipeline/plan.ts';
import { publish } from '../src/pipeline/publish.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { ConflictError } from '../src/util/errors.ts';
import { fixtureModel, fixtureModelVersion, syntheticDataDir } from './pipeline-helpers.ts';

/** One DynamoDB call: its IAM action and the partition key(s) it touches. */
interface Call {
  readonly action: string;
  readonly keys: readonly string[];
}

/** The partition keys a command's input names (what dynamodb:LeadingKeys is matched against). */
function partitionKeys(command: string, input: Record<string, unknown>): string[] {
  const pk = (item: unknown) => String((item as { pk?: { S?: string } } | undefined)?.pk?.S);
  if (command === 'BatchWriteItem') {
    const requests = Object.values(input.RequestItems as Record<string, { PutRequest?: { Item: unknown } }[]>).flat();
    return requests.map((r) => pk(r.PutRequest?.Item));
  }
  if (command === 'Query') return [String((input.ExpressionAttributeValues as { ':pk': { S: string } })[':pk'].S)];
  return [pk(input.Key ?? input.Item)];
}

/** A client for the local table that records every call it sends. */
function recordingClient(endpoint: string, calls: Call[]): DynamoDBClient {
  const client = new DynamoDBClient({
    endpoint,
    region: 'local',
    maxAttempts: 1,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName).replace(/Command$/, '');
      calls.push({
        action: `dynamodb:${command}`,
        keys: partitionKeys(command, args.input as Record<string, unknown>),
      });
      return next(args);
    },
    { step: 'initialize', name: 'recordTableAccess' },
  );
  return client;
}

const matches = (pattern: string, key: string): boolean =>
  pattern.endsWith('*') ? key.startsWith(pattern.slice(0, -1)) : key === pattern;

/** The calls no grant allows: an action outside them, or a key outside that grant's leading keys. */
function refused(calls: readonly Call[], grants: readonly TableGrant[]): string[] {
  const allowed = (action: string, key: string) =>
    grants.some(
      (g) => g.actions.includes(action) && (g.leadingKeys === undefined || g.leadingKeys.some((p) => matches(p, key))),
    );
  return calls.flatMap((c) => c.keys.filter((k) => !allowed(c.action, k)).map((k) => `${c.action} on ${k}`));
}

const actionsOf = (grants: readonly TableGrant[]) => new Set(grants.flatMap((g) => g.actions));

const MV = fixtureModelVersion('tiny');
const START = '2026-10-01';
const D2 = '2026-10-02';

let dataDir: string;
let local: LocalEmbeddings;
let objects: LocalObjectStore;
const tableFor = (calls: Call[]): TableStoreOptions => ({
  tableName: local.tableName,
  client: recordingClient(local.endpoint, calls),
  wallClockExpiry: false,
});

beforeAll(async () => {
  dataDir = await syntheticDataDir(60, 2, START);
  local = await openLocalEmbeddings({});
  objects = new LocalObjectStore(dataDir);
  // the first day published with every role at once (local mode), so that the second has state to read
  await runDaily({
    dataDir,
    date: START,
    modelDir: fixtureModel('tiny'),
    partitions: 2,
    workers: 1,
    embeddings: local,
  });
}, 120_000);

afterAll(async () => {
  await releaseEmbedders();
  await local?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('each stage, run against only its roles, stays within its grants', () => {
  const byPart = new Map<SystemPart, Call[]>();
  const callsOf = (part: SystemPart): Call[] => {
    if (!byPart.has(part)) byPart.set(part, []);
    return byPart.get(part)!;
  };

  beforeAll(async () => {
    // the day-2 run, stage by stage, each with the stores its Lambda or the Batch worker opens
    const planCalls = callsOf('plan');
    const locks = new DynamoRunLockTaker(tableFor(planCalls));
    await locks.acquireRunLock({ modelVersion: MV, date: D2 }, 'execution-a', 60_000);
    await expect(locks.acquireRunLock({ modelVersion: MV, date: D2 }, 'execution-b', 60_000)).rejects.toBeInstanceOf(
      ConflictError,
    );
    const run = await plan(
      { objects, embeddings: new DynamoVersionReader(tableFor(planCalls)) },
      { date: D2, modelVersion: MV, partitions: 2, writeSkipCosine: 0.95 },
    );
    for (const slice of run.slices) {
      await partitionSlice({ objects }, { date: D2, modelVersion: MV, slice: slice.index });
    }
    const writer = new DynamoEmbeddingWriter(tableFor(callsOf('embed')));
    for (let partition = 0; partition < run.partitions; partition++) {
      await embedPartition({ objects, embeddings: writer }, { date: D2, modelVersion: MV, partition, overlap: 'none' });
    }
    const published = await publish(
      { objects, embeddings: new DynamoVersionRegistry(tableFor(callsOf('publish'))) },
      { date: D2, modelVersion: MV },
    );
    expect(published.published).toBe(true);
    const handler = new LookupHandler(new DynamoEmbeddingReader(tableFor(callsOf('lookup'))), { pointerCacheMs: 0 });
    expect((await handler.handle({ userIds: ['u0', 'u1', 'nobody'] })).statusCode).toBe(200);
    expect((await handler.handle({ userId: 'u0', version: `${MV}@${START}` })).statusCode).not.toBe(500);
  }, 180_000);

  it.each(['plan', 'embed', 'publish', 'lookup'] as const)('%s sends only what its grants allow', (part) => {
    const calls = callsOf(part);
    expect(calls.length).toBeGreaterThan(0);
    expect(refused(calls, tableGrantsOf(part))).toEqual([]);
  });

  it('the plan and the embed stage use every action they are granted', () => {
    // plan: version reads (previous state, the write policy's dates), lock put and the holder's read
    expect(new Set(callsOf('plan').map((c) => c.action))).toEqual(actionsOf(tableGrantsOf('plan')));
    expect(new Set(callsOf('embed').map((c) => c.action))).toEqual(actionsOf(tableGrantsOf('embed')));
  });

  it('the partition stage has no table: its env type has no embeddings, and none was needed', () => {
    expect(PART_TABLE_ROLES.partition).toEqual([]);
    expect(byPart.has('partition')).toBe(false);
  });
});

describe("each role's code sends exactly its grants", () => {
  /** Calls every method of a role (on the published table) and returns what it sent. */
  const exercise: Record<TableRole, (table: TableStoreOptions) => Promise<void>> = {
    embeddingWriter: async (table) => {
      const writer = new DynamoEmbeddingWriter(table);
      await writer.writeEmbeddings({ modelVersion: MV, date: '2026-10-03' }, [
        { userId: 'role-test', embedding: new Float32Array(16).fill(0.5) },
      ]);
    },
    versionReader: async (table) => {
      const versions = new DynamoVersionReader(table);
      await versions.getVersion({ modelVersion: MV, date: START });
      await versions.listVersions();
      await versions.getPointer();
    },
    versionRegistry: async (table) => {
      const registry = new DynamoVersionRegistry(table);
      const pointer = await registry.getPointer();
      await registry.listVersions();
      await registry.recordVersion({ modelVersion: MV, date: D2, published: true });
      await registry.publishVersion({ modelVersion: MV, date: D2 }, pointer?.seq);
      const moved = await registry.rollback({ modelVersion: MV, date: START });
      await registry.movePointer({ modelVersion: MV, date: START }, moved.seq);
      await registry.rollback({ modelVersion: MV, date: D2 }); // and forward again
    },
    runLockTaker: async (table) => {
      const locks = new DynamoRunLockTaker(table);
      await locks.acquireRunLock(`${MV}@2026-10-09`, 'one', 60_000);
      await expect(locks.acquireRunLock(`${MV}@2026-10-09`, 'two', 60_000)).rejects.toBeInstanceOf(ConflictError);
      await locks.getRunLock(`${MV}@2026-10-09`);
    },
    runLocks: async (table) => {
      const locks = new DynamoRunLocks(table);
      await locks.acquireRunLock(`${MV}@2026-10-10`, 'one', 60_000);
      await locks.getRunLock(`${MV}@2026-10-10`);
      expect(await locks.releaseRunLock(`${MV}@2026-10-10`, 'one')).toBe(true);
    },
    embeddingReader: async (table) => {
      const reader = new DynamoEmbeddingReader(table);
      const current = await reader.resolveVersion();
      await reader.readAt(['u0'], current);
      await reader.lookup('u0', { modelVersion: MV, date: START });
      await reader.lookupMany(['u0', 'u1']);
    },
  };

  it.each(Object.keys(TABLE_ROLE_GRANTS) as TableRole[])('%s', async (role) => {
    const calls: Call[] = [];
    await exercise[role](tableFor(calls));
    const grants = TABLE_ROLE_GRANTS[role];
    expect(refused(calls, grants)).toEqual([]);
    expect(new Set(calls.map((c) => c.action))).toEqual(actionsOf(grants));
  });
});

describe('the Lambdas and the Batch worker open exactly their roles', () => {
  const ROLE_CLASSES: Record<TableRole, abstract new (...args: never[]) => unknown> = {
    embeddingWriter: DynamoEmbeddingWriter,
    versionReader: DynamoVersionReader,
    versionRegistry: DynamoVersionRegistry,
    runLockTaker: DynamoRunLockTaker,
    runLocks: DynamoRunLocks,
    embeddingReader: DynamoEmbeddingReader,
  };
  /** The exact classes of the opened stores (a subclass would carry more methods, so no instanceof). */
  const classesOf = (...stores: unknown[]) =>
    new Set(stores.map((store) => (store as { constructor: unknown }).constructor));
  const rolesOf = (part: SystemPart) => new Set(PART_TABLE_ROLES[part].map((role: TableRole) => ROLE_CLASSES[role]));

  it('per part, the stores opened are instances of exactly its roles', async () => {
    const runtime = await import('../lambdas/shared/runtime.ts');
    const worker = await import('../batch-container/worker.ts');
    const { Logger } = await import('@aws-lambda-powertools/logger');
    const settings = runtime.readSettings({
      OBJECT_STORE_URI: dataDir,
      TABLE_NAME: local.tableName,
      DYNAMODB_ENDPOINT: local.endpoint,
    });
    const planStores = runtime.planStores(settings);
    expect(classesOf(planStores.env.embeddings, planStores.locks)).toEqual(rolesOf('plan'));
    expect('embeddings' in runtime.objectsEnv(settings)).toBe(false);
    expect(rolesOf('partition')).toEqual(new Set());
    expect(classesOf(runtime.publishEnv(settings).embeddings)).toEqual(rolesOf('publish'));
    expect(classesOf(runtime.embeddingReader(settings))).toEqual(rolesOf('lookup'));
    const workerSettings = worker.readWorkerSettings({
      RUN_DATE: D2,
      MODEL_VERSION: MV,
      AWS_BATCH_JOB_ARRAY_INDEX: '0',
      PARTITIONS: '2',
      OBJECT_STORE_URI: dataDir,
      TABLE_NAME: local.tableName,
      DYNAMODB_ENDPOINT: local.endpoint,
    });
    const workerEnv = worker.openWorkerEnv(workerSettings, new Logger({ logLevel: 'SILENT' }));
    expect(classesOf(workerEnv.embeddings)).toEqual(rolesOf('embed'));
  });
});
