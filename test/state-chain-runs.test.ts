/**
 * The state as a chain of a full snapshot and daily deltas, end to end (src/pipeline/state-chain.ts):
 * the same days run twice on copies of one data set, once with a full snapshot every day and once
 * with deltas compacted every third day, staggered over the partitions, must serve the same
 * embeddings and sequences; a refused day changes neither; a missing delta stops the next plan
 * with a clear error. Daily runs on dynalite: a slow suite (not in `make check`); planSnapshot
 * alone is test/state-chain.test.ts.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, DAY_MS, dayStartMs } from '../src/events/schema.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { type RunDailyOptions, runDaily } from '../src/pipeline/local-runner.ts';
import { plan } from '../src/pipeline/plan.ts';
import {
  readPartitionState,
  readUserSequence,
  StateChainError,
  snapshotKindOf,
  writtenKeys,
} from '../src/pipeline/state-chain.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import {
  fixtureModel,
  fixtureModelVersion,
  runOf,
  scanTable,
  stateOf,
  syntheticDataDir,
  writtenFiles,
} from './pipeline-helpers.ts';

const START = '2026-10-01';
const DAYS = 6;
const MV = fixtureModelVersion('tiny');
const REFRESH = 2;
const PARTITIONS = 2;
const REFUSED_DAY = 4; // refused once in both modes, then run again (1-based)

const days = Array.from({ length: DAYS }, (_, d) => addDays(START, d));
const userItems = (m: Map<string, string>) => [...m].filter(([k]) => k.startsWith('u#'));

interface Mode {
  dir: string;
  local: LocalEmbeddings;
  compactEveryDays: number;
  /** The delta mode turns the share trigger off, so that the stagger alone decides (planSnapshot tests the share). */
  compactDeltaShare?: number;
}

describe('deltas with compaction against a full snapshot every day (dynalite)', () => {
  let source: string;
  const full = {} as Mode;
  const delta = {} as Mode;
  const run = (mode: Mode, date: string, extra: Partial<RunDailyOptions> = {}) =>
    runDaily({
      dataDir: mode.dir,
      date,
      modelDir: fixtureModel('tiny'),
      partitions: PARTITIONS,
      workers: 1,
      embeddings: mode.local,
      refreshAgeDays: REFRESH,
      compactEveryDays: mode.compactEveryDays,
      ...(mode.compactDeltaShare === undefined ? {} : { compactDeltaShare: mode.compactDeltaShare }),
      ...extra,
    });

  beforeAll(async () => {
    source = await syntheticDataDir(160, DAYS, START);
    for (const [mode, every] of [
      [full, 1],
      [delta, 3],
    ] as const) {
      mode.dir = mkdtempSync(join(tmpdir(), 'pf-state-chain-'));
      cpSync(source, mode.dir, { recursive: true });
      mode.local = await openLocalEmbeddings({ dataDir: mode.dir });
      mode.compactEveryDays = every;
    }
    delta.compactDeltaShare = 100;
  });

  afterAll(async () => {
    for (const mode of [full, delta]) {
      await mode.local?.close();
      if (mode.dir) rmSync(mode.dir, { recursive: true, force: true });
    }
    if (source) rmSync(source, { recursive: true, force: true });
  });

  /** What the delta mode wrote each day, per partition: 'full' or 'delta'. */
  const kinds: ('full' | 'delta')[][] = [];
  /** Days (indices) on which partition `p` wrote a delta. */
  const deltaDaysOf = (p: number) => days.flatMap((_, d) => (kinds[d]?.[p] === 'delta' ? [d] : []));

  it('serves the same embeddings and sequences every day, a refused day changing neither', async () => {
    for (const [d, date] of days.entries()) {
      if (d + 1 === REFUSED_DAY) {
        // Act: a day the gate refuses (it writes its files, then publishes nothing), in both modes
        const before = await stateOf(delta.dir, MV, days[d - 1]!);
        const versions = await delta.local.store.listVersions();
        const refused = await Promise.all([full, delta].map((m) => run(m, date, { gate: { minMeanCosine: 1.5 } })));
        // Assess: nothing published, the day before reads the same
        expect(refused.map((s) => s.published)).toEqual([false, false]);
        expect(await stateOf(delta.dir, MV, days[d - 1]!)).toEqual(before);
        expect((await delta.local.store.listVersions()).filter((v) => v.published)).toEqual(
          versions.filter((v) => v.published),
        );
      }
      // Act
      const a = await run(full, date);
      const b = await run(delta, date);
      // Assess
      expect([a.published, b.published]).toEqual([true, true]);
      expect(b.embeddedUsers).toBe(a.embeddedUsers);
      const manifest = await runOf(delta.dir, MV, date);
      kinds.push(Array.from({ length: PARTITIONS }, (_, p) => snapshotKindOf(manifest, p)));
      const chain = [manifest.previousState?.base, ...(manifest.previousState?.deltas ?? [])];
      for (const file of chain) if (file !== undefined) expect(file.date < date).toBe(true);
      const [fa, fb] = [await stateOf(full.dir, MV, date), await stateOf(delta.dir, MV, date)];
      expect(fb.sequences).toEqual(fa.sequences);
      expect(fb.embeddings).toEqual(fa.embeddings);
      expect(userItems(await scanTable(delta.local))).toEqual(userItems(await scanTable(full.local)));
      // the expiry contract through deltas: every served embedding is younger than the refresh age
      for (const row of fb.embeddings.values()) {
        expect(Math.round((dayStartMs(date) - dayStartMs(row.date)) / DAY_MS)).toBeLessThan(REFRESH);
      }
    }
    // full on the first day; after it the partitions compact on different days (staggered), each
    // again within every 3 days, and the days between are deltas
    expect(kinds[0]).toEqual(['full', 'full']);
    for (const [d, day] of kinds.entries()) {
      if (d > 0) expect(day.filter((k) => k === 'full').length, days[d]).toBeLessThanOrEqual(1);
    }
    expect(kinds.some((day) => day.includes('full') && day.includes('delta'))).toBe(true); // a mixed chain was served
    for (let p = 0; p < PARTITIONS; p++) {
      expect(deltaDaysOf(p).length).toBeGreaterThanOrEqual(2);
      for (let d = 0; d + 3 <= kinds.length; d++) expect(kinds.slice(d, d + 3).map((k) => k[p])).toContain('full');
    }
  });

  it('writes fewer bytes on a delta day than the full snapshots of the same day', async () => {
    const sum = async (dir: string, date: string) => {
      const objects = new LocalObjectStore(dir);
      let bytes = 0;
      for (const key of await writtenFiles(dir, MV, date)) bytes += (await objects.get(key)).length;
      return bytes;
    };
    const size = async (dir: string, date: string, p: number) => {
      const keys = writtenKeys(await runOf(dir, MV, date), p);
      const objects = new LocalObjectStore(dir);
      return (await objects.get(keys.sequences)).length + (await objects.get(keys.embeddings)).length;
    };
    for (let p = 0; p < PARTITIONS; p++) {
      for (const d of deltaDaysOf(p)) {
        const keys = writtenKeys(await runOf(delta.dir, MV, days[d]!), p);
        expect([keys.sequences, keys.embeddings].every((k) => k.includes('/delta/'))).toBe(true);
        expect(await size(delta.dir, days[d]!, p)).toBeLessThan(await size(full.dir, days[d]!, p));
      }
    }
    // a day with every partition on a delta writes fewer bytes in all
    const allDelta = days.filter((_, d) => kinds[d]!.every((k) => k === 'delta'));
    for (const date of allDelta) expect(await sum(delta.dir, date)).toBeLessThan(await sum(full.dir, date));
  });

  it("reads one user's sequence from the newest chain file that holds it (recommend)", async () => {
    // Prepare: the last delta day's state, users changed that day and users carried from older files
    const d = deltaDaysOf(0).at(-1)!;
    const manifest = await runOf(delta.dir, MV, days[d]!);
    const objects = new LocalObjectStore(delta.dir);
    const state = await readPartitionState({ objects }, manifest, 0);
    const changed = state.sequences.filter((u) => u.lastEmbedded === days[d]);
    const carried = state.sequences.filter((u) => u.lastEmbedded !== days[d]);
    expect(changed.length).toBeGreaterThan(0);
    expect(carried.length).toBeGreaterThan(0);
    // Act + Assess
    for (const user of [...changed.slice(0, 5), ...carried.slice(0, 5)]) {
      expect(await readUserSequence({ objects }, manifest, 0, user.userId)).toEqual(user);
    }
    expect(await readUserSequence({ objects }, manifest, 0, 'no-such-user')).toBeUndefined();
  });

  it('stops the next plan with a StateChainError naming a missing delta, writing nothing', async () => {
    // Prepare: a delta day's file of partition 1 is gone; the day after it plans again
    const d = deltaDaysOf(1).find((i) => i + 1 < DAYS)!;
    const manifest = await runOf(delta.dir, MV, days[d]!);
    const missing = writtenKeys(manifest, 1).sequences;
    const objects = new LocalObjectStore(delta.dir);
    const bytes = await objects.get(missing);
    await objects.delete(missing);
    const next = days[d + 1]!;
    const runsBefore = await objects.list(`runs/${MV}/dt=${next}/`);
    // Act
    const planned = plan(
      { objects, embeddings: delta.local.store },
      {
        date: next,
        modelVersion: MV,
        partitions: PARTITIONS,
        refreshAgeDays: REFRESH,
        compactEveryDays: 3,
        compactDeltaShare: 100,
      },
    );
    // Assess
    await expect(planned).rejects.toBeInstanceOf(StateChainError);
    await expect(planned).rejects.toThrow(missing);
    await expect(readPartitionState({ objects }, manifest, 1)).rejects.toThrow(/is missing: the published state/);
    expect(await objects.list(`runs/${MV}/dt=${next}/`)).toEqual(runsBefore);
    // the restored file makes the chain whole again
    mkdirSync(dirname(join(delta.dir, missing)), { recursive: true });
    writeFileSync(join(delta.dir, missing), bytes);
    await expect(readPartitionState({ objects }, manifest, 1)).resolves.toBeDefined();
  });
});
