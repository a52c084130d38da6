/** Local mode's embedded dynalite: persistence under the data dir, the schema's table, no credentials. */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LOCAL_TABLE_NAME, TABLE_DEFINITION } from '../src/embeddings/table-schema.ts';
import { ensureTable, startLocalDynamo } from '../src/local/dynalite.ts';
import { connectLocalEmbeddings, openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { makeRecords } from './embeddings-helpers.ts';

const VERSION = { modelVersion: 'm1', date: '2026-10-01' };

describe('embedded dynalite', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pf-dynalite-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('persists the table under the data dir across restarts', async () => {
    const first = await openLocalEmbeddings({ dataDir: dir });
    await first.store.writeEmbeddings(VERSION, makeRecords(['alice'], 8, 1));
    await first.store.recordVersion({ ...VERSION, published: true });
    await first.store.movePointer(VERSION, undefined);
    const written = await first.store.lookup('alice');
    await first.close();
    const second = await openLocalEmbeddings({ dataDir: dir });
    const reread = await second.store.lookup('alice');
    const pointer = await second.store.getPointer();
    await second.close();
    expect(reread).toEqual(written);
    expect(pointer?.version).toBe('m1@2026-10-01');
  });

  it('serves other clients (workers) on its endpoint, in memory without a dir', async () => {
    const local = await openLocalEmbeddings();
    const worker = connectLocalEmbeddings(local.endpoint);
    await worker.store.writeEmbeddings(VERSION, makeRecords(['bob'], 8, 2));
    const seen = await local.store.readAt(['bob'], VERSION);
    worker.close();
    await local.close();
    expect(seen.get('bob')?.dims).toBe(8);
  });

  it('creates the table from the schema, idempotently', async () => {
    const dynamo = await startLocalDynamo();
    await ensureTable(dynamo.client, DEFAULT_LOCAL_TABLE_NAME);
    await ensureTable(dynamo.client, DEFAULT_LOCAL_TABLE_NAME);
    const { Table } = await dynamo.client.send(new DescribeTableCommand({ TableName: DEFAULT_LOCAL_TABLE_NAME }));
    await dynamo.close();
    expect(Table?.KeySchema).toEqual(TABLE_DEFINITION.keySchema);
    expect(Table?.TableStatus).toBe('ACTIVE');
  });
});
