/**
 * "Write only what changed" (src/pipeline/write-policy.ts): the decision on its own, then daily
 * runs through the local runner on real dynalite, checking the versioning contract for the users
 * whose write was skipped.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VersionReader, VersionRecord } from '../src/embeddings/types.ts';
import { addDays, DAY_MS, dayStartMs } from '../src/events/schema.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { type RunDailyOptions, runDaily } from '../src/pipeline/local-runner.ts';
import {
  assertSkipCosine,
  WriteDecider,
  writePolicyDates as writePolicyDatesOf,
  writePolicyOf,
} from '../src/pipeline/write-policy.ts';
import { ValidationError } from '../src/util/errors.ts';
import { fixtureModel, fixtureModelVersion, scanTable, stateOf, syntheticDataDir } from './pipeline-helpers.ts';

const unit = (values: number[]): Float32Array => {
  const v = Float32Array.from(values);
  const n = Math.hypot(...values);
  return v.map((x) => x / n);
};

describe('WriteDecider', () => {
  const policy = { minCosine: 0.99, date: '2026-10-10', refreshAgeDays: 7, visibleDates: ['2026-10-05', '2026-10-03'] };
  const decider = new WriteDecider(policy);
  const stored = unit([1, 0, 0, 0]);

  it('keeps the stored item when the new vector is within the cosine', () => {
    expect(decider.keepsStored('2026-10-05', stored, unit([1, 0.1, 0, 0]))).toBe(true); // cos 0.995
    expect(decider.keepsStored('2026-10-05', stored, unit([1, 0.2, 0, 0]))).toBe(false); // cos 0.981
  });

  it('writes when the stored item reached the refresh age, so the refresh rule still holds', () => {
    expect(decider.keepsStored('2026-10-03', stored, stored)).toBe(false); // 7 days old
  });

  it('writes when the stored date is not visible to readers (unpublished, withdrawn) or absent', () => {
    expect(decider.keepsStored('2026-10-06', stored, stored)).toBe(false);
    expect(decider.keepsStored(undefined, undefined, stored)).toBe(false);
  });

  it('writes a non-finite vector, which the gate then refuses', () => {
    expect(decider.keepsStored('2026-10-05', stored, Float32Array.from([Number.NaN, 0, 0, 0]))).toBe(false);
  });

  it('keeps only items of published first attempts: a withdrawn or republished (D#A) date is rewritten', async () => {
    const record = (date: string, extra: Partial<VersionRecord> = {}): VersionRecord =>
      ({ modelVersion: 'mv', date, version: `mv@${date}`, published: true, ...extra }) as VersionRecord;
    const versions = [
      record('2026-10-04'),
      record('2026-10-05', { attempt: 'a1b2c3' }),
      record('2026-10-06', { withdrawn: true }),
      record('2026-10-07', { published: false }),
      record('2026-10-08', { modelVersion: 'other' }),
      record('2026-10-10'),
    ];
    const store = { listVersions: async () => versions } as unknown as VersionReader;
    const run = { date: '2026-10-10', modelVersion: 'mv', backfill: false, refreshAgeDays: 7, writeSkipCosine: 0.9 };
    const writePolicyDates = await writePolicyDatesOf(store, run);
    expect(writePolicyDates).toEqual(['2026-10-04']);
    expect(writePolicyOf({ ...run, writePolicyDates })?.visibleDates).toEqual(['2026-10-04']);
    expect(await writePolicyDatesOf(store, { ...run, backfill: true })).toBeUndefined();
    expect(writePolicyOf({ ...run, backfill: true, writePolicyDates })).toBeUndefined();
    // a manifest planned without the dates keeps nothing: every user is written
    expect(writePolicyOf(run)?.visibleDates).toEqual([]);
  });

  it('refuses a threshold that is not a cosine in (0, 1], saying so', () => {
    for (const bad of [0, -0.5, 1.01, Number.NaN]) {
      expect(() => assertSkipCosine(bad)).toThrow(ValidationError);
    }
    expect(() => assertSkipCosine(2)).toThrow(/writeSkipCosine must be a cosine in \(0, 1\]/);
    expect(assertSkipCosine(1)).toBe(1);
  });
});

const START = '2026-10-01';
const DAYS = 5;
const MV = fixtureModelVersion('tiny');
const REFRESH = 3;
const PARTITIONS = 2;

describe('daily runs with the write policy (dynalite)', () => {
  let dataDir: string;
  let local: LocalEmbeddings;
  const run = (date: string, extra: Partial<RunDailyOptions> = {}) =>
    runDaily({
      dataDir,
      date,
      modelDir: fixtureModel('tiny'),
      partitions: PARTITIONS,
      workers: 1,
      embeddings: local,
      refreshAgeDays: REFRESH,
      ...extra,
    });

  /** The day's state (base + deltas, what readers get): served embeddings and last_embedded dates. */
  async function snapshots(date: string) {
    const state = await stateOf(dataDir, MV, date);
    const lastEmbedded = new Map([...state.sequences].map(([u, s]) => [u, s.lastEmbedded]));
    return { embeddings: state.embeddings, lastEmbedded };
  }

  beforeAll(async () => {
    dataDir = await syntheticDataDir(150, DAYS, START);
    local = await openLocalEmbeddings({ dataDir });
  });

  afterAll(async () => {
    await local?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('skips close users, serves them their stored item, and never lets a served item pass the refresh age', async () => {
    // Arrange: a low threshold, so that nearly every re-embedded user is a candidate to skip and
    // only the refresh age and visibility force writes
    const summaries = [];
    for (let d = 0; d < DAYS; d++) {
      const date = addDays(START, d);
      // Act
      const summary = await run(date, { writeSkipCosine: 0.05 });
      summaries.push(summary);
      // Assess
      expect(summary.published).toBe(true);
      expect(summary.writeStats.items + (summary.writeStats.kept ?? 0)).toBe(summary.embeddedUsers);
      const { embeddings, lastEmbedded } = await snapshots(date);
      const items = await scanTable(local);
      for (const [userId, row] of embeddings) {
        // the snapshots agree on the served item's date, and that item is in the table
        expect(lastEmbedded.get(userId)).toBe(row.date);
        expect(items.has(`u#${MV}#${userId}|${row.date}`)).toBe(true);
        // the refresh-age rule: every served item is younger than the refresh age
        const age = Math.round((dayStartMs(date) - dayStartMs(row.date)) / DAY_MS);
        expect(age).toBeLessThan(REFRESH);
      }
    }
    expect(summaries[0]!.writeStats.kept ?? 0).toBe(0); // nothing stored yet
    const kept = summaries.reduce((n, s) => n + (s.writeStats.kept ?? 0), 0);
    expect(kept).toBeGreaterThan(0);

    // a kept user's lookup returns the older item, whose vector is the one the snapshot holds
    const last = addDays(START, DAYS - 1);
    const { embeddings } = await snapshots(last);
    const older = [...embeddings].filter(([, r]) => r.date < last);
    expect(older.length).toBeGreaterThan(0);
    for (const [userId, row] of older.slice(0, 25)) {
      const found = await local.store.lookup(userId);
      expect(found?.date).toBe(row.date);
      expect(found?.version).toBe(`${MV}@${last}`);
      let diff = 0;
      for (let i = 0; i < row.embedding.length; i++) {
        diff = Math.max(diff, Math.abs(found!.embedding[i]! - row.embedding[i]!));
      }
      expect(diff).toBeLessThan(2e-3); // fp16 storage
    }
  });

  it('writes every embedded user on a backfill, whatever the threshold', async () => {
    const date = addDays(START, DAYS - 1);
    // Act
    const summary = await run(date, { writeSkipCosine: 0.05, backfill: true });
    // Assess
    expect(summary.published).toBe(true);
    expect(summary.writeStats.kept ?? 0).toBe(0);
    expect(summary.writeStats.items).toBe(summary.embeddedUsers);
  });
});
