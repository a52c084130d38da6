import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalEmbeddings, openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { evaluateGate } from '../src/pipeline/gate.ts';
import { runDaily } from '../src/pipeline/local-runner.ts';
import type { PartitionResult, SliceResult } from '../src/pipeline/types.ts';
import { ModelError } from '../src/util/errors.ts';
import { fixtureModel, scanTable, syntheticDataDir } from './pipeline-helpers.ts';

const slice = (over: Partial<SliceResult> = {}): SliceResult => ({
  slice: 0,
  events: 1000,
  invalidEvents: 0,
  historyEvents: 0,
  historyInvalidEvents: 0,
  invalidByReason: {},
  routed: 1000,
  seconds: 0,
  ...over,
});

/** A healthy partition of `users` users whose unit vectors point in spread-out directions. */
const partition = (
  p: number,
  over: Partial<PartitionResult['stats']> = {},
  extra: Partial<PartitionResult> = {},
): PartitionResult => ({
  partition: p,
  date: '2026-10-02',
  modelVersion: 'm',
  users: 10,
  activeUsers: 5,
  embeddedUsers: 5,
  workEvents: 500,
  secondsByStep: {},
  writeStats: { items: 5, requests: 1, retries: 0, throttles: 0 },
  tokens: { padded: 0, real: 0 },
  stats: {
    users: 10,
    nonFinite: 0,
    minNorm: 0.9999,
    maxNorm: 1.0001,
    sum: [1, -1, 0.5, 0],
    driftUsers: 4,
    driftCosineSum: 3.2,
    ...over,
  },
  ...extra,
});

const run = { partitions: 2, slices: [{ index: 0, files: [] }] };

describe('publish gate: each check at its boundary (mutation testing found these untested)', () => {
  const healthy = () => [partition(0), partition(1)];

  it('reports every figure it judged, from the results', () => {
    const { checks } = evaluateGate(run, [slice({ invalidEvents: 10, historyEvents: 90 })], healthy());
    expect(checks).toEqual({
      routed: 1000,
      read: 1000,
      embedded: 10,
      written: 10,
      users: 20,
      nonFinite: 0,
      minNorm: 0.9999,
      maxNorm: 1.0001,
      meanNorm: Math.sqrt(0.1 ** 2 * 2 + 0.05 ** 2),
      driftUsers: 8,
      meanCosine: 0.8,
      invalidShare: 10 / 1100,
      worstDayInvalidShare: 10 / 1100, // one event day here: the whole run's share
      unknownItemShare: 0,
      badFiles: 0,
    });
  });

  it('refuses a run whose slice did not finish, naming it, while every partition finished', () => {
    const twoSlices = {
      partitions: 2,
      slices: [
        { index: 0, files: [] },
        { index: 1, files: [] },
      ],
    };
    const verdict = evaluateGate(twoSlices, [slice(), undefined], healthy());
    expect(verdict.reasons).toEqual(['slices not finished: 1']);
    expect(evaluateGate(twoSlices, [slice(), slice({ slice: 1, routed: 0, events: 0 })], healthy()).passed).toBe(true);
  });

  it('refuses a count mismatch between sequences and embeddings', () => {
    const verdict = evaluateGate(run, [slice()], [partition(0, { users: 9 }), partition(1)]);
    expect(verdict.reasons).toEqual(['count mismatch: 20 users with a sequence, 19 embeddings']);
  });

  it('holds norms to 1 ± tolerance inclusive, ignoring partitions without users', () => {
    const at = (min: number, max: number) =>
      evaluateGate(run, [slice()], [partition(0, { minNorm: min, maxNorm: max }), partition(1)], {
        normTolerance: 0.5,
      });
    expect(at(0.5, 1.5).passed).toBe(true);
    expect(at(0.49, 1).reasons).toEqual(['norms 0.490000..1.000100 outside 1 ± 0.5']);
    expect(at(1, 1.51).reasons).toEqual(['norms 0.999900..1.510000 outside 1 ± 0.5']);
    const empty = partition(1, { users: 0, minNorm: 0, maxNorm: 0, sum: [0, 0, 0, 0] }, { users: 0 });
    expect(evaluateGate(run, [slice()], [partition(0), empty]).checks).toMatchObject({
      minNorm: 0.9999,
      maxNorm: 1.0001,
    });
  });

  it('judges collapse by the norm of the mean over all users, strictly above the limit', () => {
    const sums = (a: number[], b: number[]) => [partition(0, { sum: a }), partition(1, { sum: b })];
    // mean = (sum0 + sum1) / 20 = [0.6, 0.8, 0, 0]: norm exactly 1
    const atOne = evaluateGate(run, [slice()], sums([6, 8, 0, 0], [6, 8, 0, 0]), { maxMeanNorm: 1 });
    expect(atOne.checks.meanNorm).toBeCloseTo(1, 12);
    expect(atOne.passed).toBe(true);
    const cancels = evaluateGate(run, [slice()], sums([10, 0, 0, 0], [-10, 0, 0, 0]));
    expect(cancels.checks.meanNorm).toBe(0);
    expect(evaluateGate(run, [slice()], sums([6, 8, 0, 0], [6, 8, 0, 0]), { maxMeanNorm: 0.99 }).reasons).toEqual([
      'collapse: the mean embedding has norm 1.0000 > 0.99 (users look alike)',
    ]);
    const one = partition(0, { users: 1, sum: [1, 0, 0, 0] }, { users: 1 });
    expect(evaluateGate({ ...run, partitions: 1 }, [slice()], [one]).checks.meanNorm).toBeNull();
  });

  it('judges drift at its threshold inclusive, and not without users to compare', () => {
    const drift = (cosineSum: number) =>
      evaluateGate(run, [slice()], [partition(0, { driftCosineSum: cosineSum }), partition(1)], { minMeanCosine: 0.5 });
    expect(drift(0.8).passed).toBe(true); // (0.8 + 3.2) / 8 = 0.5
    expect(drift(0.7).reasons).toEqual(['drift: mean cos(new, previous) 0.4875 < 0.5 over 8 users']);
    const none = partition(0, { driftUsers: 0, driftCosineSum: 0 });
    const noDrift = evaluateGate(run, [slice()], [none, partition(1, { driftUsers: 0, driftCosineSum: 0 })]);
    expect(noDrift.checks.meanCosine).toBeNull();
  });

  it('counts history rows in the invalid share, refusing only above the limit', () => {
    const share = (over: Partial<SliceResult>) => evaluateGate(run, [slice(over)], healthy(), { maxInvalidShare: 0.1 });
    // (50 + 50 history) invalid of 900 valid + 100 invalid = 0.1 exactly
    expect(
      share({ events: 900, historyEvents: 0, invalidEvents: 50, historyInvalidEvents: 50 }).checks.invalidShare,
    ).toBe(0.1);
    expect(share({ events: 900, historyEvents: 0, invalidEvents: 50, historyInvalidEvents: 50 }).passed).toBe(true);
    expect(share({ events: 800, historyEvents: 0, invalidEvents: 100, historyInvalidEvents: 100 }).reasons).toEqual([
      'invalid rows 20.00% > 10.00%',
    ]);
    expect(share({ events: 0, invalidEvents: 0, routed: 0 }).checks.invalidShare).toBe(0);
  });

  it('refuses unreadable files and files missing a column alike', () => {
    const files = (reason: string) =>
      evaluateGate(run, [slice({ invalidByReason: { [reason]: 2, bad_action: 5 } })], healthy()).reasons;
    expect(files('unreadable_file')).toEqual(['2 event files unusable (unreadable_file 2)']);
    expect(files('missing_column')).toEqual(['2 event files unusable (missing_column 2)']);
  });
});

describe('publish gate', () => {
  it('passes healthy results', () => {
    // Act
    const verdict = evaluateGate(run, [slice()], [partition(0), partition(1)]);
    // Assess
    expect(verdict.reasons).toEqual([]);
    expect(verdict.passed).toBe(true);
  });

  it('refuses NaN embeddings, off-unit norms and collapse', () => {
    // Act
    const nan = evaluateGate(run, [slice()], [partition(0, { nonFinite: 3 }), partition(1)]);
    const norms = evaluateGate(run, [slice()], [partition(0, { maxNorm: 1.01 }), partition(1)]);
    const collapsed = evaluateGate(
      run,
      [slice()],
      [partition(0, { sum: [10, 0, 0, 0] }), partition(1, { sum: [10, 0, 0, 0] })],
    );
    // Assess
    expect(nan.passed).toBe(false);
    expect(nan.reasons.join()).toMatch(/3 embeddings hold NaN/);
    expect(norms.reasons.join()).toMatch(/norms .* outside 1 ± 0.001/);
    expect(collapsed.reasons.join()).toMatch(/collapse/);
  });

  it('refuses missing partitions, count mismatches, drift and too many bad rows', () => {
    // Act
    const missing = evaluateGate(run, [slice()], [partition(0), undefined]);
    const counts = evaluateGate(run, [slice({ routed: 999 })], [partition(0), partition(1, {}, { embeddedUsers: 6 })]);
    const drift = evaluateGate(
      run,
      [slice()],
      [partition(0, { driftCosineSum: 0 }), partition(1, { driftCosineSum: 0 })],
    );
    const driftAcrossModels = evaluateGate(
      run,
      [slice()],
      [partition(0, { driftCosineSum: 0 }), partition(1, { driftCosineSum: 0 })],
      {},
      { driftComparable: false },
    );
    const bad = evaluateGate(
      run,
      [slice({ invalidEvents: 100, invalidByReason: { unknown_action: 100 } })],
      [partition(0), partition(1)],
    );
    const unreadable = evaluateGate(
      run,
      [slice({ invalidByReason: { unreadable_file: 1 } })],
      [partition(0), partition(1)],
    );
    // Assess
    expect(missing.reasons.join()).toMatch(/partitions not finished: 1/);
    expect(counts.reasons.join()).toMatch(/routed 999 events, partitions read 1000/);
    expect(counts.reasons.join()).toMatch(/11 users embedded, 10 written/);
    expect(drift.reasons.join()).toMatch(/drift/);
    expect(driftAcrossModels.passed).toBe(true);
    expect(bad.reasons).toContain('invalid rows 9.09% > 5.00% (quarantined rows in this run: unknown_action 100)');
    expect(
      evaluateGate(run, [slice({ invalidEvents: 100 })], [partition(0), partition(1)], { maxInvalidShare: 0.1 }).passed,
    ).toBe(true);
    expect(unreadable.reasons).toContain('1 event files unusable (unreadable_file 1)');
  });
});

describe('publish gate: each day and the model inputs on their own', () => {
  it('catch-up days cannot dilute a bad day: the invalid share is judged per event day', () => {
    // Prepare: 100 invalid rows on D among 10 000 valid catch-up rows (under 1% over all)
    const diluted = slice({
      events: 0,
      invalidEvents: 100,
      historyEvents: 10_000,
      invalidByReason: { ts_in_future: 100 },
      byDay: { '2026-10-01': { valid: 10_000, invalid: 0 }, '2026-10-02': { valid: 0, invalid: 100 } },
    });
    const badCatchUp = slice({
      byDay: { '2026-10-01': { valid: 10, invalid: 90 }, '2026-10-02': { valid: 1000, invalid: 0 } },
    });
    // Act
    const onD = evaluateGate({ ...run, date: '2026-10-02' }, [diluted], [partition(0), partition(1)]);
    const earlier = evaluateGate({ ...run, date: '2026-10-02' }, [badCatchUp], [partition(0), partition(1)]);
    // Assess
    expect(onD.reasons).toEqual(['invalid rows 100.00% > 5.00% (quarantined rows in this run: ts_in_future 100)']);
    expect(earlier.reasons).toEqual(['invalid rows on catch-up day 2026-10-01 90.00% > 5.00%']);
  });

  it('a model with item vectors needs the item table, and as much coverage as it was trained with', () => {
    // Prepare
    const inputs = (tableItems: number, unknownItemEvents: number, trainingCoverage?: number) => ({
      itemInputs: {
        itemVector: 32,
        tableItems,
        events: 100,
        unknownItemEvents,
        ...(trainingCoverage === undefined ? {} : { trainingCoverage }),
      },
    });
    const gate = (extra: Partial<PartitionResult>) =>
      evaluateGate(run, [slice()], [partition(0, {}, extra), partition(1, {}, extra)]);
    // Act / Assess
    expect(gate(inputs(0, 100)).reasons).toEqual([
      'the model uses 32-d item vectors and the item table (items/*.parquet) is missing or empty',
    ]);
    expect(gate(inputs(500, 60, 0.95)).reasons.join()).toMatch(
      /the item table covers 40.00% of the events read, under 0.5 x the 95.00% the model saw in training/,
    );
    expect(gate(inputs(500, 40, 0.95)).passed).toBe(true);
    expect(gate(inputs(500, 60)).passed).toBe(true); // no training figure: reported, not judged
    expect(gate(inputs(500, 60)).checks.unknownItemShare).toBe(0.6);
    expect(gate({ itemInputs: { itemVector: 0, tableItems: 0, events: 100, unknownItemEvents: 100 } }).passed).toBe(
      true,
    );
  });
});

describe('publish gate: the survivors of the second mutation run', () => {
  it('names every missing slice and partition, and judges counts only when all finished', () => {
    const threeSlices = { partitions: 3, slices: [0, 1, 2].map((index) => ({ index, files: [] })) };
    // routed 1000 but only 500 read: no count mismatch while parts are missing
    const verdict = evaluateGate(threeSlices, [slice({ slice: 1 })], [partition(2)]);
    expect(verdict.reasons).toEqual(['slices not finished: 0, 2', 'partitions not finished: 0, 1']);
    const slicesOnly = evaluateGate(threeSlices, [slice({ slice: 1 })], [partition(0), partition(1), partition(2)]);
    expect(slicesOnly.reasons).toEqual(['slices not finished: 0, 2']);
    // every slice finished, partitions 0 and 1 not: still no count mismatch (routed 3000, read 500)
    const everySlice = [0, 1, 2].map((index) => slice({ slice: index }));
    expect(evaluateGate(threeSlices, everySlice, [partition(2)]).reasons).toEqual(['partitions not finished: 0, 1']);
  });

  it('counts the users the write policy kept as stored among the written', () => {
    const keptTwo = (items: number) => ({ writeStats: { items, requests: 1, retries: 0, throttles: 0, kept: 2 } });
    expect(evaluateGate(run, [slice()], [partition(0, {}, keptTwo(3)), partition(1, {}, keptTwo(3))]).passed).toBe(
      true,
    );
    expect(evaluateGate(run, [slice()], [partition(0, {}, keptTwo(5)), partition(1)]).reasons).toEqual([
      'count mismatch: 10 users embedded, 10 written and 2 kept as stored',
    ]);
  });

  it('judges collapse from two users on, over the per-dimension mean of every partition', () => {
    // two users with the same unit vector: the mean has norm 1
    const alike = (p: number) =>
      partition(p, { sum: [p === 0 ? 1 : 0, 0, 0, 0], driftUsers: 0, driftCosineSum: 0, users: 1 }, { users: 1 });
    const two = evaluateGate(
      run,
      [slice()],
      [alike(0), { ...alike(1), stats: { ...alike(1).stats, sum: [1, 0, 0, 0] } }],
    );
    expect(two.checks.meanNorm).toBe(1);
    expect(two.reasons).toEqual(['collapse: the mean embedding has norm 1.0000 > 0.98 (users look alike)']);
    // opposite halves cancel across partitions
    const opposite = evaluateGate(run, [slice()], [partition(0), partition(1, { sum: [-1, 1, -0.5, 0] })]);
    expect(opposite.checks.meanNorm).toBe(0);
    expect(evaluateGate(run, [slice()], [partition(0, { nonFinite: 1 }), partition(1)]).checks.meanNorm).toBeNull();
  });

  it('leaves file reasons out of the row reasons, and lists bad days in date order', () => {
    const byDay = {
      '2026-10-01': { valid: 10, invalid: 90 },
      '2026-09-30': { valid: 20, invalid: 80 },
      '2026-10-02': { valid: 0, invalid: 0 },
    };
    const verdict = evaluateGate(
      { ...run, date: '2026-10-02' },
      [slice({ invalidByReason: { unknown_action: 170, unreadable_file: 1 }, byDay, quarantineKey: 'q/0' })],
      [partition(0), partition(1)],
    );
    expect(verdict.reasons).toEqual([
      'invalid rows on catch-up day 2026-09-30 80.00% > 5.00% (quarantined rows in this run: unknown_action 170)',
      'invalid rows on catch-up day 2026-10-01 90.00% > 5.00% (quarantined rows in this run: unknown_action 170)',
      '1 event files unusable (unreadable_file 1); each file and why: q/0',
    ]);
    expect(verdict.checks.worstDayInvalidShare).toBe(0.9); // the empty day counts as 0, not NaN
  });

  it('lists the first three quarantine files of unusable files, then an ellipsis', () => {
    const slices = [0, 1, 2, 3].map((i) =>
      slice({ slice: i, routed: 250, invalidByReason: { missing_column: 1 }, quarantineKey: `q/${i}` }),
    );
    const four = { partitions: 2, slices: [0, 1, 2, 3].map((index) => ({ index, files: [] })) };
    expect(evaluateGate(four, slices, [partition(0), partition(1)]).reasons).toEqual([
      '4 event files unusable (missing_column 4); each file and why: q/0, q/1, q/2, …',
    ]);
    const three = { partitions: 2, slices: [0, 1, 2].map((index) => ({ index, files: [] })) };
    const threeSlices = slices.slice(0, 3).map((s) => ({ ...s, routed: 1000 / 3 }));
    expect(evaluateGate(three, threeSlices, [partition(0), partition(1)]).reasons.at(-1)).toBe(
      '3 event files unusable (missing_column 3); each file and why: q/0, q/1, q/2',
    );
    const unnamed = evaluateGate(
      run,
      [slice({ invalidByReason: { unreadable_file: 2 } })],
      [partition(0), partition(1)],
    );
    expect(unnamed.reasons).toEqual(['2 event files unusable (unreadable_file 2)']);
  });

  it('needs item events to judge the item table, and judges coverage at its exact edge', () => {
    const inputs = (tableItems: number, events: number, unknownItemEvents: number, trainingCoverage?: number) => ({
      itemInputs: {
        itemVector: 32,
        tableItems,
        events,
        unknownItemEvents,
        ...(trainingCoverage === undefined ? {} : { trainingCoverage }),
      },
    });
    const gate = (a: Partial<PartitionResult>, b: Partial<PartitionResult> = a) =>
      evaluateGate(run, [slice()], [partition(0, {}, a), partition(1, {}, b)]);
    expect(gate(inputs(0, 0, 0)).passed).toBe(true); // nothing read: nothing to judge
    expect(gate(inputs(0, 50, 50), inputs(500, 50, 0)).passed).toBe(true); // one partition saw the table
    // coverage 0.5 against 0.5 x 1.0: at the edge, allowed; 0.8 trained: 0.5 >= 0.4, allowed
    expect(gate(inputs(500, 100, 50, 1)).passed).toBe(true);
    expect(gate(inputs(500, 100, 50, 0.8)).passed).toBe(true);
    expect(gate(inputs(500, 100, 51, 1)).passed).toBe(false);
  });
});

describe('bad models in a daily run', () => {
  let dataDir: string;
  let local: LocalEmbeddings;
  beforeAll(async () => {
    dataDir = await syntheticDataDir(60, 2, '2026-10-01', 5);
    local = await openLocalEmbeddings({});
  });
  afterAll(async () => {
    await local?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.each(['nan', 'collapse'] as const)('refuses a %s model before anything is written', async (name) => {
    // Act
    const running = runDaily({
      dataDir,
      date: '2026-10-02',
      modelDir: fixtureModel(name),
      partitions: 2,
      embeddings: local,
    });
    // Assess
    await expect(running).rejects.toBeInstanceOf(ModelError);
    expect(existsSync(join(dataDir, 'runs'))).toBe(false);
    expect(existsSync(join(dataDir, 'models'))).toBe(false);
    expect(readdirSync(dataDir).sort()).toEqual(['events', 'items', 'truth']);
    expect((await scanTable(local)).size).toBe(0);
    expect(await local.store.getPointer()).toBeUndefined();
  });
});
