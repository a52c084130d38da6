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
