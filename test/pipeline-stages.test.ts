/** The stage functions one by one against a temp-dir object store and in-memory dynalite. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeItems } from '../src/events/items.ts';
import type { Event } from '../src/events/schema.ts';
import { encodeEvents } from '../src/events/write-events.ts';
import { decodeParquet } from '../src/io/parquet.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { embedPartition, releaseEmbedders } from '../src/pipeline/embed.ts';
import { layout } from '../src/pipeline/layout.ts';
import { deployModel } from '../src/pipeline/model.ts';
import { partitionSlice } from '../src/pipeline/partition.ts';
import { plan } from '../src/pipeline/plan.ts';
import { publish } from '../src/pipeline/publish.ts';
import type { PipelineEnv } from '../src/pipeline/types.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { NotFoundError, ValidationError } from '../src/util/errors.ts';
import { fixtureModel, fixtureModelVersion } from './pipeline-helpers.ts';

const MV = fixtureModelVersion('tiny');
const D = '2026-10-02';
const at = (hh: number): number => Date.parse(`${D}T${String(hh).padStart(2, '0')}:00:00Z`);
const event = (userId: string, ts: number, over: Partial<Event> = {}): Event => ({
  userId,
  itemId: `i${ts % 7}`,
  action: 'view',
  surface: 'home',
  ts,
  durationMs: 1200,
  ...over,
});

let dir: string;
let local: LocalEmbeddings;
let env: PipelineEnv;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pf-stages-'));
  local = await openLocalEmbeddings({});
  env = { objects: new LocalObjectStore(dir), embeddings: local.store };
  await deployModel(env, fixtureModel('tiny'));
  // the tiny model uses 32-d item vectors: the gate refuses a run without an item table
  const itemIds = Array.from({ length: 7 }, (_, i) => `i${i}`);
  const vectors = Float32Array.from({ length: 7 * 32 }, (_, i) => Math.sin(i));
  await env.objects.put('items/items.parquet', encodeItems({ itemIds, vectors, dim: 32 }));
});

afterAll(async () => {
  await releaseEmbedders();
  await local?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('plan', () => {
  it('refuses an invalid date and a date without an events directory', async () => {
    // Act / Assess
    await expect(plan(env, { date: '2026-02-30', modelVersion: MV })).rejects.toBeInstanceOf(ValidationError);
    await expect(plan(env, { date: '2026-10-09', modelVersion: MV })).rejects.toBeInstanceOf(NotFoundError);
    await expect(plan(env, { date: D, modelVersion: 'not-deployed' })).rejects.toThrow(/not deployed|no events/);
  });

  it('slices files by bytes and records the routed days', async () => {
    // Prepare: two earlier days and D, several files
    for (const [day, n] of [
      ['2026-09-30', 2],
      ['2026-10-01', 1],
      [D, 3],
    ] as const) {
      for (let f = 0; f < n; f++) {
        const ts = Date.parse(`${day}T10:00:00Z`) + f;
        await env.objects.put(`events/dt=${day}/part-${f}.parquet`, encodeEvents([event(`u${f}`, ts)]));
      }
    }
    const size = (await env.objects.list(`events/dt=${D}/`))[0]!.size;
    // Act
    const run = await plan(env, { date: D, modelVersion: MV, partitions: 4, sliceBytes: size * 2, lookbackDays: 1 });
    // Assess: the look-back of 1 day drops 09-30; 4 files in slices of at most 2
    expect(run.days).toEqual(['2026-10-01', D]);
    expect(run.slices.map((s) => s.files.length)).toEqual([2, 2]);
    expect(run.previousSnapshotDate).toBeUndefined();
    expect(run.version).toBe(`${MV}@${D}`);
    expect(JSON.parse(readFileSync(join(dir, layout.runManifest(MV, D)), 'utf8')).slices).toHaveLength(2);
  });
});

describe('partition', () => {
  it('quarantines invalid rows and unreadable files with reasons and counts, and routes the rest', async () => {
    // Prepare: one file with two bad rows and two good ones, one corrupt file
    await env.objects.put(
      `events/dt=${D}/part-9.parquet`,
      encodeEvents([
        event('alice', at(8)),
        event('bob', at(9), { action: 'bogus' as Event['action'] }),
        event('carol', at(10) + 86_400_000), // next day
        event('dave', at(11)),
      ]),
    );
    await env.objects.put(`events/dt=${D}/part-99.parquet`, 'this is not parquet');
    const run = await plan(env, { date: D, modelVersion: MV, partitions: 4, lookbackDays: 1 });
    // Act
    const results = [];
    for (const s of run.slices) results.push(await partitionSlice(env, { date: D, modelVersion: MV, slice: s.index }));
    // Assess
    const reasons: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.invalidByReason)) reasons[k] = (reasons[k] ?? 0) + v;
    expect(reasons).toEqual({ unknown_action: 1, ts_outside_day: 1, unreadable_file: 1 });
    expect(results.reduce((n, r) => n + r.events, 0)).toBe(3 + 2); // parts 0..2 + alice, dave
    const quarantine = results.find((r) => r.quarantineKey)!.quarantineKey!;
    const table = await decodeParquet(readFileSync(join(dir, quarantine)));
    expect([...(table.columns.reason as string[])].sort()).toEqual([
      'ts_outside_day',
      'unknown_action',
      'unreadable_file',
    ]);
    const work = await env.objects.list(`work/${MV}/dt=${D}/`);
    expect(work).toHaveLength(4 * run.slices.length); // one file per partition and slice, empty ones too
  });

  it('embeds, then the gate refuses the run because a file was unreadable', async () => {
    // Act
    for (let p = 0; p < 4; p++) await embedPartition(env, { date: D, modelVersion: MV, partition: p, threads: 1 });
    const verdict = await publish(env, { date: D, modelVersion: MV });
    // Assess
    expect(verdict.published).toBe(false);
    expect(verdict.reasons.join()).toMatch(/1 event files unusable/);
    expect(await local.store.getPointer()).toBeUndefined();
  });

  it('publishes once the bad file is gone, and an empty next day carries every user over', async () => {
    // Prepare
    await env.objects.delete(`events/dt=${D}/part-99.parquet`);
    const next = '2026-10-03';
    await env.objects.put(`events/dt=${next}/part-0.parquet`, encodeEvents([]));
    // Act
    for (const date of [D, next]) {
      const run = await plan(env, { date, modelVersion: MV, partitions: 4, lookbackDays: 1 });
      for (const s of run.slices) await partitionSlice(env, { date, modelVersion: MV, slice: s.index });
      for (let p = 0; p < 4; p++) await embedPartition(env, { date, modelVersion: MV, partition: p, threads: 1 });
      // 2 of 7 rows were bad, and a handful of near-identical users look collapsed: relax both
      const verdict = await publish(env, { date, modelVersion: MV, gate: { maxInvalidShare: 0.5, maxMeanNorm: 1 } });
      expect(verdict.reasons, date).toEqual([]);
    }
    // Assess
    expect((await local.store.getPointer())?.version).toBe(`${MV}@${next}`);
    const alice = await local.store.lookup('alice');
    expect(alice?.date).toBe(D);
    const manifest = JSON.parse(readFileSync(join(dir, layout.runManifest(MV, next)), 'utf8'));
    expect(manifest.previousSnapshotDate).toBe(D);
  });
});
