/** Bench sections 6 and 7 (issue 20): figures drawn from a report, the simulation, the verdicts. */
import { describe, expect, it } from 'vitest';
import { summarize } from '../bench/active-cost.ts';
import { activeCostTargets } from '../bench/active-cost-report.ts';
import { renderWritePolicy, scaleTargets, withinNoise, writePolicyTargets } from '../bench/scale-report.ts';
import { allUsersWorkOf, deltaWholePartitionRatio, embedSplit, figuresOf, simulateScale } from '../bench/scale-sim.ts';
import type { BenchReport } from '../bench/types.ts';
import { type WritePolicyResult, writeSkipShareOf } from '../bench/write-policy.ts';

const run = (users: number, rss: number, steps: Record<string, number>) => ({
  model: 'shipped',
  modelVersion: 'pf-test',
  users,
  days: 7,
  generateSeconds: 1,
  generatedEvents: users * 20,
  runs: [
    {
      date: '2026-01-07',
      role: 'steady',
      events: users * 3,
      activeUsers: users / 4,
      embeddedUsers: users / 4,
      peakRssMiB: rss,
      secondsByStage: { partition: users / 1e5 },
      secondsByStep: steps,
      snapshotBytes: { embeddings: users * 200, sequences: users * 200 },
    },
  ],
});

const REPORT = {
  daily: [
    run(100_000, 900, { read: 2, merge: 1, featurize: 2, infer: 10, write: 4, snapshot: 3 }),
    run(1_000_000, 2700, { read: 20, merge: 10, featurize: 20, infer: 100, write: 40, snapshot: 30 }),
  ],
  projection: {
    assumptions: { cpuSecondsPerUser: 0.003, snapshotBytesPerUser: 2000, writeUnitsPerUser: 1 },
    rows: [{ precision: 'fp16', dailyActiveUsers: 10e6, gpuBoundHoursPerDay: 1.35 }],
  },
} as unknown as Pick<BenchReport, 'daily' | 'projection'>;

describe('the scale simulation from a report', () => {
  it("splits the largest steady day's embed stage into whole-partition and active work", () => {
    const split = embedSplit(REPORT)!;
    expect(split.users).toBe(1_000_000);
    expect(split.wholePartitionSeconds).toBe(60); // read + merge + snapshot
    expect(split.activeSeconds).toBe(160); // featurize + infer + write
    expect(split.wholePartitionSecondsPerUser).toBeCloseTo(60e-6, 12);
    expect(split.wholePartitionShareAt10Percent).toBeGreaterThan(split.wholePartitionShare);
  });

  it('draws the per-user figures from the measurements', () => {
    const f = figuresOf(REPORT, 14, 0.25)!;
    expect(f.gpuSecondsPerUser).toBeCloseTo((1.35 * 3600) / 10e6, 12);
    expect(f.eventsPerActiveUser).toBe(12); // 3 events per user over a quarter active
    expect(f.eventBytesPerUser).toBe(12 * 14);
    // (2700 − 900) MiB over 2 of 8 partitions of the 900k extra users, scaled 2000 / 400 bytes
    expect(f.memoryBytesPerUser / (((1800 * 2 ** 20) / 225_000) * 5)).toBeCloseTo(1, 2); // 3 significant digits
    expect(f.writeSkipShare).toBe(0.25);
  });

  // section 8 at 10% active: full daily read+merge+snapshot 2 s, a delta day 1.2 s, compaction every 7 days
  const activeCost = (deltaPhases: { read: number; merge: number; snapshot: number }) =>
    ({
      compactEveryDays: 7,
      rows: [
        { activeShare: 1, mode: 'full', phases: { read: 1, merge: 2, embed: 5, write: 5, snapshot: 2 } },
        { activeShare: 0.1, mode: 'full', phases: { read: 1, merge: 0.5, embed: 1, write: 1, snapshot: 0.5 } },
        { activeShare: 0.1, mode: 'delta', phases: { embed: 1, write: 1, ...deltaPhases } },
      ],
    }) as unknown as BenchReport['activeCost'];

  it('charges the whole-partition work per user as section 8 measured it with deltas', () => {
    const cost = activeCost({ read: 1, merge: 0.1, snapshot: 0.1 });
    const ratio = (6 / 7) * 1.2 + (1 / 7) * 2; // six delta days and one compaction in seven, over 2 s
    expect(deltaWholePartitionRatio(cost)).toEqual({
      ratio: expect.closeTo(ratio / 2, 9),
      activeShare: 0.1,
      compactEveryDays: 7,
    });
    const work = allUsersWorkOf(embedSplit(REPORT)!, cost);
    expect(work.fullDailySecondsPerUser).toBeCloseTo(60e-6, 12);
    expect(work.secondsPerUser).toBeCloseTo(60e-6 * (ratio / 2), 12);
    expect(figuresOf({ ...REPORT, activeCost: cost }, 14, undefined)!.cpuSecondsPerPartitionUser).toBeCloseTo(
      work.secondsPerUser,
      12,
    );
    // without section 8 the full-snapshot-daily figure stands, uncredited
    expect(allUsersWorkOf(embedSplit(REPORT)!, undefined)).toEqual({
      fullDailySecondsPerUser: 60e-6,
      secondsPerUser: 60e-6,
    });
  });

  it('judges whether the all-users work binds the embed stage, and can fail', () => {
    const target = (report: typeof REPORT) =>
      scaleTargets(simulateScale(figuresOf(report, 14, undefined)!, 'test')).find((t) =>
        t.name.startsWith('The all-users part'),
      )!;
    expect(target(REPORT).verdict).toBe('MET');
    // a read of 20 ms per partition user on the large day: the scan is the stage
    const slowRead = {
      ...REPORT,
      daily: [
        REPORT.daily[0]!,
        run(1_000_000, 2700, { read: 20_000, merge: 10, featurize: 20, infer: 100, write: 40, snapshot: 30 }),
      ],
    } as unknown as typeof REPORT;
    expect(target(slowRead)).toMatchObject({ verdict: 'MISS', met: false });
  });

  it('gives nothing without the daily and projection sections', () => {
    expect(figuresOf({ daily: [] } as unknown as BenchReport, 14, undefined)).toBeUndefined();
  });

  it('plans and prices every size and active share, DynamoDB writes following the skip share', () => {
    const all = simulateScale(figuresOf(REPORT, 14, undefined)!, 'test');
    const skip = simulateScale(figuresOf(REPORT, 14, 0.5)!, 'test');
    expect(all.rows.map((r) => [r.totalUsers, r.activeShare])).toEqual([
      [10e6, 0.1],
      [10e6, 0.3],
      [100e6, 0.1],
      [100e6, 0.3],
      [1e9, 0.1],
      [1e9, 0.3],
    ]);
    const last = all.rows.at(-1)!;
    expect(last.usdPerDay.dynamoWrites / (300e6 * 0.625e-6)).toBeCloseTo(1, 2);
    expect(skip.rows.at(-1)!.usdPerDay.dynamoWrites / last.usdPerDay.dynamoWrites).toBeCloseTo(0.5, 2);
    expect(scaleTargets(all)[0]!.met).toBe(true); // every quota within bounds
  });
});

describe('the write-policy verdicts', () => {
  const stability = (delta: number, saved: number) => ({
    data: {},
    refresh_age_days: 7,
    thresholds: [0.95],
    objectives: {
      dense_all_action: {
        cosine_percentiles: { '50': 0.93 },
        share_at_least: { '0.95': 0.27 },
        write_all: { writes_per_day: 100, recall_at_10: 0.18, recall_stderr: 0.005 },
        policy: [{ threshold: 0.95, saved_share: saved, recall_delta: delta, recall_delta_stderr: 0.002 }],
      },
      next_action: {
        cosine_percentiles: { '50': 0.7 },
        share_at_least: { '0.95': 0.5 },
        write_all: { writes_per_day: 100, recall_at_10: 0.1, recall_stderr: 0.005 },
        policy: [],
      },
    },
  });
  const result = (delta: number, saved: number): WritePolicyResult =>
    ({ measuredAt: '', threshold: 0.95, stability: stability(delta, saved) }) as unknown as WritePolicyResult;

  it('calls a saving free only when recall stays within noise', () => {
    expect(withinNoise(-0.0015, 0.002)).toBe(true);
    expect(withinNoise(-0.003, 0.002)).toBe(false);
    expect(writePolicyTargets(result(-0.001, 0.3))[0]!.met).toBe(true);
    expect(writePolicyTargets(result(-0.01, 0.3))[0]!.met).toBe(false);
    expect(writePolicyTargets(result(0, 0.05))[0]!.met).toBe(false); // too small a saving
    // judged like every other target: a verdict, and the saving's ratio to its 10% goal
    expect(writePolicyTargets(result(-0.01, 0.3))[0]).toMatchObject({ verdict: 'MISS', ratio: 3 });
    expect(writePolicyTargets(result(-0.001, 0.3))[0]).toMatchObject({ verdict: 'MET', ratio: 3 });
  });

  it('gives the daily run and scale targets a verdict', () => {
    const withPipeline = { ...result(0, 0.3), pipeline: { savedShare: 0 } } as unknown as WritePolicyResult;
    const daily = writePolicyTargets(withPipeline).find((t) => t.name === 'Write policy in the daily run')!;
    expect(daily).toMatchObject({ met: false, verdict: 'MISS' }); // nothing skipped is no saving
    const all = simulateScale(figuresOf(REPORT, 14, undefined)!, 'test');
    for (const t of scaleTargets(all)) expect(t.verdict).toBe(t.met ? 'MET' : 'MISS');
  });

  it('renders the replay on an imported fixture beside the synthetic one, with its provenance', () => {
    const imported = {
      ...stability(-0.001, 0.2),
      data: {
        root: 'runs/ratings-data',
        source: 'imported with pinnerformer import movielens',
        eval_end: '2001-01-01',
      },
      steps: 600,
      measured_at: '2026-12-04T20:00:00Z',
      thresholds: [0.95],
      objectives: { dense_all_action: stability(-0.001, 0.2).objectives.dense_all_action },
    };
    const md = renderWritePolicy({ ...result(-0.001, 0.3), imported } as unknown as WritePolicyResult).join('\n');
    expect(md).toMatch(/day over day \(/); // the synthetic replay
    expect(md).toMatch(/day over day on the imported fixture/);
    expect(md).toMatch(
      /runs\/ratings-data: imported with pinnerformer import movielens; item ids only, the 14 days before 2001-01-01; 600 training steps/,
    );
    expect(md.match(/The product default/g)).toHaveLength(1); // said of the synthetic replay only
    expect(renderWritePolicy(result(-0.001, 0.3)).join('\n')).not.toMatch(/imported fixture/);
  });

  it('judges the stability hypothesis on each replay, the imported fixture apart', () => {
    const imported = stability(0, 0.1) as unknown as WritePolicyResult['imported'];
    const names = (r: WritePolicyResult) =>
      writePolicyTargets(r)
        .filter((t) => t.name.startsWith('Dense all action'))
        .map((t) => [t.name.includes('imported'), t.verdict]);
    expect(names(result(0, 0.3))).toEqual([[false, 'MET']]);
    // next action the more stable one on the fixture: that row misses, the synthetic one stands
    const unstable = {
      ...imported!,
      objectives: {
        ...imported!.objectives,
        next_action: { ...imported!.objectives.next_action!, cosine_percentiles: { '50': 0.99 } },
      },
    };
    expect(names({ ...result(0, 0.3), imported: unstable })).toEqual([
      [false, 'MET'],
      [true, 'MISS'],
    ]);
  });

  it('compares the objectives by their median day-over-day cosine', () => {
    const t = writePolicyTargets(result(0, 0.3)).find((x) => x.name.startsWith('Dense all action'))!;
    expect(t.met).toBe(true);
  });

  it("takes the cost projection's saving from the replay, else from the daily run", () => {
    const withPipeline = { ...result(0, 0.3), pipeline: { savedShare: 0.4 } } as unknown as WritePolicyResult;
    expect(writeSkipShareOf(withPipeline)).toBe(0.3);
    const pipelineOnly = { measuredAt: '', threshold: 0.95, pipeline: { savedShare: 0.4 } } as WritePolicyResult;
    expect(writeSkipShareOf(pipelineOnly)).toBe(0.4);
    expect(writeSkipShareOf(undefined)).toBeUndefined();
  });
});

describe('bench section 8: cost that follows active users', () => {
  /** Rows of a fixed-users day: `allUsers` work per day for every user plus `perActive` per active user. */
  const rows = (mode: 'full' | 'delta', allUsers: number, perActive: number, bytesAll: number, bytesPer: number) =>
    [1, 0.5, 0.2, 0.1].map((activeShare) => {
      const activeUsers = 1000 * activeShare;
      return {
        activeShare,
        activeUsers,
        mode,
        embeddedUsers: activeUsers,
        embedSeconds: allUsers + perActive * activeUsers,
        stateBytes: bytesAll + bytesPer * activeUsers,
      };
    });
  const settings = { users: 1000, partitions: 4, reps: 1 };

  it('fits the exponents and the per-active-user ratio of a 10:1 day to a 1:1 day', () => {
    // Arrange: full snapshots cost the same whatever is active; deltas follow the active users
    const result = summarize([...rows('full', 10, 0, 5e6, 0), ...rows('delta', 0, 0.01, 0, 5000)], settings);
    // Assess
    expect(result.exponents.full.bytes).toBeCloseTo(0, 6);
    expect(result.exponents.delta.bytes).toBeCloseTo(1, 6);
    expect(result.exponents.delta.seconds).toBeCloseTo(1, 6);
    expect(result.perActiveRatio.full.seconds).toBeCloseTo(10, 6);
    expect(result.perActiveRatio.delta.bytes).toBeCloseTo(1, 6);
    // amortised: (6 × 1 + 10) / 7 per day at 10:1 against (6 × 10 + 10) / 7 at 1:1, per active user
    expect(result.perActiveRatio.amortised.seconds).toBeCloseTo((10 * 16) / 70, 2);
    const targets = activeCostTargets(result);
    expect(targets.map((t) => t.verdict)).toEqual(['MET', 'MET']);
  });

  it('fits an exponent per phase and the read share when the rows carry phases', () => {
    // Arrange: a delta day whose read follows all users (constant) and whose other phases follow active users
    const phased = (mode: 'full' | 'delta') =>
      rows(mode, 0, 0.01, 0, 5000).map((row) => ({
        ...row,
        phases: {
          read: 2,
          merge: row.activeUsers / 1000,
          embed: row.activeUsers / 100,
          write: 1e-3 * row.activeUsers,
          snapshot: 0,
        },
        embedSeconds: 2 + 0.012 * row.activeUsers,
      }));
    // Act
    const result = summarize([...phased('full'), ...phased('delta')], settings);
    // Assess
    expect(result.phaseExponents?.delta.read).toBeCloseTo(0, 6);
    expect(result.phaseExponents?.delta.embed).toBeCloseTo(1, 6);
    expect(result.phaseExponents?.delta.snapshot).toBe(0); // no time: nothing to fit
    expect(result.readShareAtTenth).toBeCloseTo(2 / (2 + 1.2), 2);
    expect(activeCostTargets(result)[1]!.measured).toMatch(/delta-day seconds by phase: read 0, merge 1/);
  });

  it('misses when a delta day still costs what a full snapshot does', () => {
    const result = summarize([...rows('full', 10, 0, 5e6, 0), ...rows('delta', 10, 0, 5e6, 0)], settings);
    expect(activeCostTargets(result).map((t) => t.verdict)).toEqual(['MISS', 'MISS']);
    expect(activeCostTargets(undefined)).toEqual([]);
  });
});
