/**
 * The Lambda handlers and the Batch worker, run as AWS runs them but against real local parts:
 * a temp-dir object store and dynalite. One daily run goes plan -> partition (per slice) ->
 * worker (per partition, CPU provider) -> publish, then the lookup handler answers HTTP events.
 * The next day runs with the write policy the stack enables (WRITE_SKIP_COSINE on the plan) and
 * the compaction settings (COMPACT_EVERY_DAYS, COMPACT_DELTA_SHARE on the plan).
 */
import { rmSync } from 'node:fs';
import { DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_PK, TABLE_KEYS } from '../src/embeddings/table-schema.ts';
import { ensureTable, type LocalDynamo, startLocalDynamo } from '../src/local/dynalite.ts';
import { layout } from '../src/pipeline/layout.ts';
import { deployModel } from '../src/pipeline/model.ts';
import { isCompactionDay, snapshotKindOf, writtenKeys } from '../src/pipeline/state-chain.ts';
import type { PartitionResult, RunManifest } from '../src/pipeline/types.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { startDynamoFaultProxy } from '../src/testing/dynamo-fault-proxy.ts';
import { ConflictError, ValidationError } from '../src/util/errors.ts';
import { fixtureModel, fixtureModelVersion, syntheticDataDir } from './pipeline-helpers.ts';

const TABLE = 'pinnerformer-lambdas-test';
const MV = fixtureModelVersion('tiny');
const PARTITIONS = 2;
/** Recent dates: the AWS store judges expiry by the wall clock, as in production. */
const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
const START = day(-4);
const RUN_DATE = day(-2);
/** The day after RUN_DATE, run with the write policy. */
const POLICY_DATE = day(-1);

let dataDir: string;
let dynamo: LocalDynamo;
let handlers: {
  plan: typeof import('../lambdas/plan.ts').handler;
  partition: typeof import('../lambdas/partition.ts').handler;
  publish: typeof import('../lambdas/publish.ts').handler;
  lookup: typeof import('../lambdas/lookup.ts').handler;
};
let worker: typeof import('../batch-container/worker.ts');

const httpEvent = (method: string, path: string, options: { query?: Record<string, string>; body?: string } = {}) =>
  ({
    version: '2.0',
    rawPath: path,
    rawQueryString: '',
    headers: {},
    requestContext: { http: { method, path } },
    ...(options.query ? { queryStringParameters: options.query } : {}),
    ...(options.body === undefined ? {} : { body: options.body }),
    isBase64Encoded: false,
  }) as unknown as APIGatewayProxyEventV2;

beforeAll(async () => {
  dataDir = await syntheticDataDir(80, 4, START);
  dynamo = await startLocalDynamo();
  await ensureTable(dynamo.client, TABLE);
  Object.assign(process.env, {
    OBJECT_STORE_URI: dataDir,
    TABLE_NAME: TABLE,
    DYNAMODB_ENDPOINT: dynamo.endpoint,
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    PARTITIONS: String(PARTITIONS),
    PARTITIONS_PER_JOB: '1',
    POWERTOOLS_METRICS_NAMESPACE: 'PinnerFormerTest',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  await deployModel({ objects: new LocalObjectStore(dataDir) }, fixtureModel('tiny'));
  handlers = {
    plan: (await import('../lambdas/plan.ts')).handler,
    partition: (await import('../lambdas/partition.ts')).handler,
    publish: (await import('../lambdas/publish.ts')).handler,
    lookup: (await import('../lambdas/lookup.ts')).handler,
  };
  worker = await import('../batch-container/worker.ts');
});

afterAll(async () => {
  await dynamo?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('one daily run through the handlers', () => {
  let sliceCount = 0;

  it('plans: validates the event, takes the run lock, answers a small PlannedRun', async () => {
    // Act
    const planned = await handlers.plan({ request: { date: RUN_DATE, modelVersion: MV }, execution: 'exec-1' });
    // Assess: first run of a model is a backfill; the Batch array follows the plan (one child per
    // partition here); the Distributed Map reads the slice list from the object store
    expect(planned).toMatchObject({
      date: RUN_DATE,
      modelVersion: MV,
      partitions: PARTITIONS,
      partitionsText: String(PARTITIONS),
      arraySize: PARTITIONS,
      backfill: true,
    });
    const objects = new LocalObjectStore(dataDir);
    const slices = JSON.parse(Buffer.from(await objects.get(planned.slicesKey)).toString('utf8')) as unknown[];
    expect(planned.sliceCount).toBeGreaterThan(0);
    expect(slices).toEqual(
      Array.from({ length: planned.sliceCount }, (_, slice) => ({ date: RUN_DATE, modelVersion: MV, slice })),
    );
    sliceCount = planned.sliceCount;
  });

  it('stops a second execution of the same run with ConflictError (one run at a time)', async () => {
    await expect(handlers.plan({ request: { date: RUN_DATE, modelVersion: MV }, execution: 'exec-2' })).rejects.toThrow(
      ConflictError,
    );
  });

  it('refuses malformed events with ValidationError (not retried by the state machine)', async () => {
    await expect(handlers.plan({ request: {}, execution: 'x' })).rejects.toThrow(
      /one of date, scheduledTime or markerKey/,
    );
    await expect(handlers.plan({ request: { date: '2026-02-30' }, execution: 'x' })).rejects.toThrow(ValidationError);
    await expect(handlers.partition({ date: RUN_DATE, modelVersion: MV, slice: -1 })).rejects.toThrow(ValidationError);
    await expect(handlers.publish({ date: RUN_DATE })).rejects.toThrow(/modelVersion/);
  });

  it('refuses a day without _SUCCESS when the deployment requires the marker (REQUIRE_SUCCESS_MARKER)', async () => {
    process.env.REQUIRE_SUCCESS_MARKER = 'true';
    try {
      await expect(handlers.plan({ request: { date: START, modelVersion: MV }, execution: 'exec-m' })).rejects.toThrow(
        new RegExp(`events/dt=${START}/ has no _SUCCESS marker`),
      );
    } finally {
      delete process.env.REQUIRE_SUCCESS_MARKER;
    }
  });

  it('partitions every slice without the table', async () => {
    for (let slice = 0; slice < sliceCount; slice++) {
      const result = await handlers.partition({ date: RUN_DATE, modelVersion: MV, slice });
      expect(result.slice).toBe(slice);
    }
  });

  it('embeds each partition in the worker (CPU provider here) and exits 0', async () => {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const code = await worker.main({
        ...process.env,
        RUN_DATE,
        MODEL_VERSION: MV,
        AWS_BATCH_JOB_ARRAY_INDEX: String(partition),
        EXECUTION_PROVIDER: 'cpu',
      });
      expect(code, `partition ${partition}`).toBe(0);
    }
  });

  it('publishes and moves the pointer', async () => {
    const result = await handlers.publish({ date: RUN_DATE, modelVersion: MV });
    expect(result).toMatchObject({ version: `${MV}@${RUN_DATE}`, published: true });
  });

  it("releases the lock with the state machine's conditional delete, so the next execution can plan", async () => {
    // Prepare: the same DeleteItem the ReleaseLock states send (key from the schema, owner condition)
    const release = (owner: string) =>
      dynamo.client.send(
        new DeleteItemCommand({
          TableName: TABLE,
          Key: marshall({ [TABLE_KEYS.partitionKey]: LOCK_PK, [TABLE_KEYS.sortKey]: `${MV}@${RUN_DATE}` }),
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: marshall({ ':owner': owner }),
        }),
      );
    // Act + Assess: a non-owner cannot release it; the owner can
    await expect(release('exec-2')).rejects.toThrow(/conditional/i);
    await release('exec-1');
    // a scheduled start: the run date is the day before, the model is the pointer's, no forced backfill
    const scheduled = await handlers.plan({
      request: { scheduledTime: `${day(-1)}T03:00:00Z` },
      execution: 'exec-3',
    });
    expect(scheduled).toMatchObject({ date: RUN_DATE, modelVersion: MV, backfill: false });
  });
});

describe('the lookup handler', () => {
  let userId: string;
  beforeAll(async () => {
    const page = await dynamo.client.send(new ScanCommand({ TableName: TABLE }));
    const pk = page.Items!.map((item) => item.pk!.S!).find((key) => key.startsWith(`u#${MV}#`))!;
    userId = pk.slice(`u#${MV}#`.length);
  });

  it('answers GET /users/{id} with the embedding at the pointer', async () => {
    const response = await handlers.lookup(httpEvent('GET', `/users/${encodeURIComponent(userId)}`));
    expect(response.statusCode).toBe(200);
    const body = JSON.parse(response.body);
    expect(body).toMatchObject({ userId, version: `${MV}@${RUN_DATE}`, modelVersion: MV });
    expect(body.embedding).toHaveLength(body.dims);
  });

  it('answers a batch, a pinned version, unknown users and bad input with 200/404/400, never 500', async () => {
    const batch = await handlers.lookup(
      httpEvent('POST', '/users:batch', {
        body: JSON.stringify({ userIds: [userId, 'nobody'], version: `${MV}@${RUN_DATE}` }),
      }),
    );
    expect(batch.statusCode).toBe(200);
    expect(JSON.parse(batch.body)).toMatchObject({ missing: ['nobody'] });
    expect((await handlers.lookup(httpEvent('GET', '/users/nobody'))).statusCode).toBe(404);
    expect((await handlers.lookup(httpEvent('GET', '/users/x', { query: { version: 'nope' } }))).statusCode).toBe(400);
    expect((await handlers.lookup(httpEvent('GET', '/users/%E0%A4%A'))).statusCode).toBe(400);
    expect((await handlers.lookup(httpEvent('POST', '/users:batch', { body: '{' }))).statusCode).toBe(400);
    const tooMany = JSON.stringify({ userIds: Array.from({ length: 101 }, (_, i) => `u${i}`) });
    expect((await handlers.lookup(httpEvent('POST', '/users:batch', { body: tooMany }))).statusCode).toBe(400);
    expect((await handlers.lookup(httpEvent('GET', '/elsewhere'))).statusCode).toBe(404);
    // API Gateway REST events (payload 1.0) route the same way
    const rest = await handlers.lookup({
      httpMethod: 'GET',
      path: `/users/${encodeURIComponent(userId)}`,
      queryStringParameters: null,
      body: null,
      isBase64Encoded: false,
    } as never);
    expect(rest.statusCode).toBe(200);
  });

  it("leaves retries to the store: a table that throttles every call gets the store's 8 attempts, no SDK retries inside them", async () => {
    // Prepare: the Lambdas' store, through a proxy that throttles every request
    const proxy = await startDynamoFaultProxy({ target: dynamo.endpoint, throttleRate: 1, seed: 1 });
    const { embeddingReader, readSettings } = await import('../lambdas/shared/runtime.ts');
    const store = embeddingReader(readSettings({ ...process.env, DYNAMODB_ENDPOINT: proxy.endpoint }));
    try {
      // Act
      const lookup = store.lookup(userId, { modelVersion: MV, date: RUN_DATE });
      // Assess: one request per store attempt (the SDK's default of 3 per attempt would make 24)
      await expect(lookup).rejects.toThrow(/after 8 attempts/);
      expect(proxy.stats.requests).toBe(8);
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it('answers 404 with a clear message for a pinned version that was never published', async () => {
    const response = await handlers.lookup(
      httpEvent('GET', `/users/${userId}`, { query: { version: `${MV}@2020-01-01` } }),
    );
    expect(response.statusCode).toBe(404);
  });
});

describe('the write policy and compaction on the AWS path', () => {
  it('refuses compaction settings outside the run contract before planning (ValidationError)', async () => {
    for (const [name, bad] of [
      ['COMPACT_EVERY_DAYS', '0'],
      ['COMPACT_EVERY_DAYS', '1.5'],
      ['COMPACT_DELTA_SHARE', '0'],
    ] as const) {
      process.env[name] = bad;
      try {
        await expect(
          handlers.plan({ request: { date: POLICY_DATE, modelVersion: MV }, execution: 'exec-bad' }),
        ).rejects.toThrow(new RegExp(`invalid function configuration: ${name}:`));
      } finally {
        delete process.env[name];
      }
    }
  });

  it('the plan decides them from WRITE_SKIP_COSINE and COMPACT_*, the worker applies them from the manifest', async () => {
    // Prepare: the stack's settings on the plan function (a low threshold, so the tiny model keeps
    // some users; compaction every 3 days, the share trigger out of the way)
    process.env.WRITE_SKIP_COSINE = '0.05';
    process.env.COMPACT_EVERY_DAYS = '3';
    process.env.COMPACT_DELTA_SHARE = '100';
    const objects = new LocalObjectStore(dataDir);
    try {
      // Act: the next day through plan, partition, the worker and publish
      const planned = await handlers.plan({ request: { date: POLICY_DATE, modelVersion: MV }, execution: 'exec-4' });
      expect(planned.backfill).toBe(false);
      for (let slice = 0; slice < planned.sliceCount; slice++) {
        await handlers.partition({ date: POLICY_DATE, modelVersion: MV, slice });
      }
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const code = await worker.main({
          ...process.env,
          RUN_DATE: POLICY_DATE,
          MODEL_VERSION: MV,
          AWS_BATCH_JOB_ARRAY_INDEX: String(partition),
          EXECUTION_PROVIDER: 'cpu',
        });
        expect(code, `partition ${partition}`).toBe(0);
      }
      const published = await handlers.publish({ date: POLICY_DATE, modelVersion: MV });
      // Assess: the manifest carries the threshold and the dates readers saw; the worker kept some
      // users' stored items and wrote the rest, and the run published
      const manifest = JSON.parse(
        Buffer.from(await objects.get(layout.runManifest(MV, POLICY_DATE))).toString('utf8'),
      ) as RunManifest;
      expect(manifest).toMatchObject({ writeSkipCosine: 0.05, writePolicyDates: [RUN_DATE] });
      // compaction as configured: each partition compacts on its staggered day of 3, else writes a
      // delta on RUN_DATE's full snapshot, and the worker wrote exactly the files the manifest names
      expect(manifest).toMatchObject({ compactEveryDays: 3, compactDeltaShare: 100, snapshot: 'delta' });
      expect(manifest.previousState).toEqual({ base: { date: RUN_DATE }, deltas: [] });
      for (let p = 0; p < PARTITIONS; p++) {
        const kind = isCompactionDay(POLICY_DATE, p, 3) ? 'full' : 'delta';
        expect(snapshotKindOf(manifest, p), `partition ${p}`).toBe(kind);
        const keys = writtenKeys(manifest, p);
        expect(keys.sequences.includes('/delta/')).toBe(kind === 'delta');
        expect((await objects.get(keys.sequences)).length).toBeGreaterThan(0);
        expect((await objects.get(keys.embeddings)).length).toBeGreaterThan(0);
      }
      const results = await Promise.all(
        Array.from(
          { length: PARTITIONS },
          async (_, p) =>
            JSON.parse(
              Buffer.from(await objects.get(layout.partitionResult(MV, POLICY_DATE, p))).toString('utf8'),
            ) as PartitionResult,
        ),
      );
      const kept = results.reduce((n, r) => n + (r.writeStats.kept ?? 0), 0);
      const written = results.reduce((n, r) => n + r.writeStats.items, 0);
      const embedded = results.reduce((n, r) => n + r.embeddedUsers, 0);
      expect(kept).toBeGreaterThan(0);
      expect(written + kept).toBe(embedded);
      const page = await dynamo.client.send(new ScanCommand({ TableName: TABLE }));
      expect(page.LastEvaluatedKey).toBeUndefined();
      expect(page.Items!.filter((item) => item.sk?.S === POLICY_DATE)).toHaveLength(written);
      expect(published).toMatchObject({ version: `${MV}@${POLICY_DATE}`, published: true });
    } finally {
      delete process.env.WRITE_SKIP_COSINE;
      delete process.env.COMPACT_EVERY_DAYS;
      delete process.env.COMPACT_DELTA_SHARE;
    }
  }, 120_000);
});
