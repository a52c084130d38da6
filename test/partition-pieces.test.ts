/**
 * A file larger than a slice is cut into row-group pieces: ranged reads, the range decoder, the
 * plan's cut and the partition stage over the pieces (every row routed exactly once, quarantine
 * rows numbered in the whole file).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { objectByteSource } from '../src/events/read-events.ts';
import { dayStartMs, EVENT_SCHEMA, type Event } from '../src/events/schema.ts';
import { encodeEvents } from '../src/events/write-events.ts';
import {
  type ByteSource,
  decodeParquet,
  decodeParquetRange,
  encodeParquet,
  parquetRowGroups,
} from '../src/io/parquet.ts';
import { openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { deployModel } from '../src/pipeline/model.ts';
import { partitionSlice } from '../src/pipeline/partition.ts';
import { plan } from '../src/pipeline/plan.ts';
import type { PipelineEnv } from '../src/pipeline/types.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { NotFoundError } from '../src/util/errors.ts';
import { fixtureModel, fixtureModelVersion } from './pipeline-helpers.ts';

const MV = fixtureModelVersion('tiny');
const D = '2026-10-02';
const DAY = dayStartMs(D);
let dir: string;
let store: LocalObjectStore;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pf-pieces-'));
  store = new LocalObjectStore(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A ByteSource over bytes that records the ranges read. */
function countingSource(bytes: Uint8Array): ByteSource & { reads: number[] } {
  const source = {
    byteLength: bytes.length,
    reads: [] as number[],
    read: async (start: number, end: number) => {
      source.reads.push(end - start);
      return bytes.slice(start, end);
    },
  };
  return source;
}

describe('ranged reads', () => {
  it('LocalObjectStore.getRange returns the bytes asked for, short at the end, NotFoundError when absent', async () => {
    // Prepare
    await store.put('a/b.bin', new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    // Act / Assess
    expect(Array.from(await store.getRange('a/b.bin', 2, 5))).toEqual([2, 3, 4]);
    expect(Array.from(await store.getRange('a/b.bin', 8, 20))).toEqual([8, 9]);
    await expect(store.getRange('a/none.bin', 0, 1)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('decodeParquetRange reads rows of some row groups only, equal to the whole-file decode', async () => {
    // Prepare: 5 row groups of 200 rows, a nullable column
    const n = 1000;
    const bytes = encodeParquet(
      [
        { name: 'id', type: 'utf8' },
        { name: 'n', type: 'int64' },
        { name: 'maybe', type: 'int32', nullable: true },
      ],
      {
        id: Array.from({ length: n }, (_, i) => `id-${i}-${'x'.repeat(i % 50)}`),
        n: BigInt64Array.from({ length: n }, (_, i) => BigInt(i * 7)),
        maybe: Array.from({ length: n }, (_, i) => (i % 3 === 0 ? null : i)),
      },
      { rowGroupSize: 200 },
    );
    const whole = await decodeParquet(bytes);
    // Act
    const groups = await parquetRowGroups(countingSource(bytes));
    const aligned = countingSource(bytes);
    const piece = await decodeParquetRange(aligned, { rowStart: 400, rowEnd: 600 });
    const ragged = await decodeParquetRange(countingSource(bytes), { rowStart: 150, rowEnd: 651, columns: ['maybe'] });
    // Assess
    expect(groups.map((g) => [g.rowStart, g.rows])).toEqual([
      [0, 200],
      [200, 200],
      [400, 200],
      [600, 200],
      [800, 200],
    ]);
    expect(groups.every((g) => g.bytes > 0)).toBe(true);
    expect(piece.numRows).toBe(200);
    expect(Array.from(piece.columns.id!)).toEqual(Array.from(whole.columns.id!).slice(400, 600));
    expect(Array.from(piece.columns.n!)).toEqual(Array.from(whole.columns.n!).slice(400, 600));
    expect(Array.from(piece.columns.maybe!)).toEqual(Array.from(whole.columns.maybe!).slice(400, 600));
    // the footer read (the whole of so small a file), then the column chunks of one group only
    const afterFooter = aligned.reads.slice(1).reduce((a, b) => a + b, 0);
    expect(afterFooter).toBeGreaterThan(0);
    expect(afterFooter).toBeLessThanOrEqual(groups[2]!.bytes);
    expect(ragged.numRows).toBe(501);
    expect(Array.from(ragged.columns.maybe!)).toEqual(Array.from(whole.columns.maybe!).slice(150, 651));
  });

  it('decodeParquetRange refuses a source that is not parquet with DataError(unreadable_file)', async () => {
    await expect(decodeParquetRange(countingSource(new Uint8Array(100)), { file: 'x' })).rejects.toMatchObject({
      reason: 'unreadable_file',
    });
  });
});

describe('a file larger than a slice', () => {
  it('is cut into row-group pieces; the pieces route every row once and number quarantined rows in the file', async () => {
    // Prepare: one 6000-row file in 12 row groups (two bad rows), one small file
    // plan starts from the newest published day, so it reads the version registry (empty here)
    const local = await openLocalEmbeddings({});
    onTestFinished(() => local.close());
    const env: PipelineEnv = { objects: store, embeddings: local.store };
    await deployModel(env, fixtureModel('tiny'));
    const events: Event[] = Array.from({ length: 6000 }, (_, i) => ({
      userId: `u${i % 97}`,
      itemId: `item-${i}-${(i * 7919) % 1000}`,
      action: i === 4321 ? ('like' as Event['action']) : 'view',
      surface: i % 5 === 0 ? null : 'home',
      ts: i === 5999 ? DAY - 1 : DAY + i,
      durationMs: i % 4 === 0 ? null : i,
    }));
    const big = encodeParquet(
      EVENT_SCHEMA,
      {
        user_id: events.map((e) => e.userId),
        item_id: events.map((e) => e.itemId),
        action: events.map((e) => e.action),
        surface: events.map((e) => e.surface),
        ts: events.map((e) => e.ts),
        duration_ms: events.map((e) => e.durationMs),
      },
      { rowGroupSize: 500 },
    );
    await store.put(`events/dt=${D}/a-big.parquet`, big);
    await store.put(`events/dt=${D}/b-small.parquet`, encodeEvents([{ ...events[0]!, userId: 'small' }]));
    const groups = await parquetRowGroups(objectByteSource(store, `events/dt=${D}/a-big.parquet`, big.length));
    const sliceBytes = Math.ceil(groups.reduce((n, g) => n + g.bytes, 0) / 4);
    // Act
    const run = await plan(env, { date: D, modelVersion: MV, partitions: 3, sliceBytes, lookbackDays: 1 });
    const results = [];
    for (const s of run.slices) results.push(await partitionSlice(env, { date: D, modelVersion: MV, slice: s.index }));
    // Assess: several pieces, contiguous, covering the file
    const pieces = run.slices.flatMap((s) => s.files).filter((f) => f.key.endsWith('a-big.parquet'));
    // as many as a greedy cut of whole row groups gives (at least 4: a quarter of the bytes each)
    const greedy = groups.reduce(
      (cut, g) =>
        cut.n > 0 && cut.bytes + g.bytes <= sliceBytes
          ? { n: cut.n, bytes: cut.bytes + g.bytes }
          : { n: cut.n + 1, bytes: g.bytes },
      { n: 0, bytes: 0 },
    ).n;
    expect(greedy).toBeGreaterThanOrEqual(4);
    expect(pieces).toHaveLength(greedy);
    expect(pieces.every((p) => p.size <= sliceBytes && p.part?.fileSize === big.length)).toBe(true);
    expect(pieces.map((p) => p.part!.rows)).toEqual(
      pieces.map((_, i) => [i === 0 ? 0 : pieces[i - 1]!.part!.rows[1], pieces[i]!.part!.rows[1]]),
    );
    expect(pieces.at(-1)!.part!.rows[1]).toBe(6000);
    // every valid row routed once
    expect(results.reduce((n, r) => n + r.events, 0)).toBe(6000 - 2 + 1);
    const routed: string[] = [];
    for (const { key } of await store.list(`work/${MV}/dt=${D}/`)) {
      const table = await decodeParquet(await store.get(key));
      for (let i = 0; i < table.numRows; i++) routed.push(`${table.columns.user_id![i]}|${table.columns.item_id![i]}`);
    }
    const expected = events
      .filter((_, i) => i !== 4321 && i !== 5999)
      .map((e) => `${e.userId}|${e.itemId}`)
      .concat(`small|${events[0]!.itemId}`);
    expect(routed.sort()).toEqual(expected.sort());
    // quarantined rows carry their row number in the whole file
    const quarantined: [number, string][] = [];
    for (const r of results.filter((x) => x.quarantineKey)) {
      const table = await decodeParquet(await store.get(r.quarantineKey!));
      for (let i = 0; i < table.numRows; i++) {
        quarantined.push([Number(table.columns.row![i]), String(table.columns.reason![i])]);
      }
    }
    expect(quarantined.sort((a, b) => a[0] - b[0])).toEqual([
      [4321, 'unknown_action'],
      [5999, 'ts_outside_day'],
    ]);
  });
});
