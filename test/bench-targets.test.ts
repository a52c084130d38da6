/** The code that decides MET, MISS or RETIRED in reports/bench.md (bench/targets.ts, bench/flops.ts). */
import { describe, expect, it } from 'vitest';
import { flopsPerUser, type ModelShape, maskedAttentionFlops } from '../bench/flops.ts';
import type { BatchResult, ContenderRow, ModelInferenceResult } from '../bench/inference.ts';
import { evaluateTargets, judge, retired, runGemmPeak, sameBatchMedians } from '../bench/targets.ts';
import type { BenchReport } from '../bench/types.ts';

const DEMO: ModelShape = { layers: 2, hidden: 64, heads: 4, embedding: 64, inputWidth: 220, maxLength: 256 };
const FLOPS = flopsPerUser(DEMO, 256, { lastBlockAtLastPosition: true });

function row(name: string, usersPerSec: number, median: number, cosineMin = 1): ContenderRow {
  return { name, flopsPerUser: FLOPS, usersPerSec, usersPerSecMedian: median, peakFraction: 0, cosineMin };
}

function batch(b: number, contenders: ContenderRow[], gemm = { onnxruntime: 200, torch: 280 }): BatchResult {
  return { batch: b, length: 256, flopsPerUser: FLOPS, contenders, ortOverTorch: 0, gemmGflops: gemm };
}

function demoResult(batches: BatchResult[]): ModelInferenceResult {
  return { label: 'demo', modelVersion: 'm', shape: DEMO, batches };
}

function report(demo: ModelInferenceResult, extra: Partial<BenchReport> = {}): Omit<BenchReport, 'targets'> {
  return {
    createdAt: '',
    command: '',
    wallSeconds: 0,
    machine: {} as BenchReport['machine'],
    settings: { reps: 9, paperReps: 7 },
    gemm: { peakGflops: 250 },
    inference: { demo: { ...demo, trained: true, variants: {} } },
    daily: [],
    writeCost: { items: [], fromDailyRuns: [] },
    lookup: [],
    errors: [],
    ...extra,
  };
}

describe('judge and retired', () => {
  it('meets an "at least" goal at the goal and misses just below it', () => {
    const at = judge({ name: 'n', target: 't', measured: 'm', value: 0.2, goal: 0.2, why: (met) => String(met) });
    const below = judge({ name: 'n', target: 't', measured: 'm', value: 0.19, goal: 0.2, why: (met) => String(met) });
    expect(at).toMatchObject({ met: true, verdict: 'MET', ratio: 1, why: 'true' });
    expect(below).toMatchObject({ met: false, verdict: 'MISS', ratio: 0.95, why: 'false' });
  });

  it('judges a ceiling with atMost', () => {
    const over = judge({ name: 'n', target: 't', measured: 'm', value: 1.3, goal: 1.15, atMost: true, why: () => '' });
    const under = judge({ name: 'n', target: 't', measured: 'm', value: 1, goal: 1.15, atMost: true, why: () => '' });
    expect([over.verdict, under.verdict]).toEqual(['MISS', 'MET']);
    expect(over.ratio).toBeCloseTo(1.15 / 1.3, 2);
  });

  it('a retired goal is neither met nor missed', () => {
    expect(retired({ name: 'n', target: 't', measured: 'm', why: 'w' })).toEqual({
      name: 'n',
      target: 't',
      measured: 'm',
      why: 'w',
      met: false,
      verdict: 'RETIRED',
      ratio: 0,
    });
  });

  it('with strictly, reaching the goal is not enough: it must be passed', () => {
    const spec = { name: 'n', target: 't', measured: 'm', goal: 0.5, strictly: true, why: () => '' };
    expect(judge({ ...spec, value: 0.5 }).verdict).toBe('MISS');
    expect(judge({ ...spec, value: 0.51 }).verdict).toBe('MET');
    expect(judge({ ...spec, value: 0.5, atMost: true }).verdict).toBe('MISS');
    expect(judge({ ...spec, value: 0.49, atMost: true }).verdict).toBe('MET');
  });

  it('a goal of 0 (anything above it) has ratio 1 when passed and 0 when not', () => {
    const spec = { name: 'n', target: 't', measured: 'm', goal: 0, strictly: true, why: () => '' };
    expect(judge({ ...spec, value: 0.4 })).toMatchObject({ verdict: 'MET', ratio: 1 });
    expect(judge({ ...spec, value: 0 })).toMatchObject({ verdict: 'MISS', ratio: 0 });
  });

  it('a further condition that does not hold makes a MISS, the ratio still the figure', () => {
    const spec = { name: 'n', target: 't', measured: 'm', value: 0.3, goal: 0.1, why: (met: boolean) => String(met) };
    expect(judge({ ...spec, holds: false })).toMatchObject({ met: false, verdict: 'MISS', ratio: 3, why: 'false' });
    expect(judge({ ...spec, holds: true })).toMatchObject({ met: true, verdict: 'MET', ratio: 3, why: 'true' });
  });
});

describe('FLOP count with causal attention as computed', () => {
  it('leaves out the L(L-1)/2 masked pairs of every full-length layer', () => {
    // the demo model: one full layer (the last runs at the last position only), H 64, L 256
    expect(maskedAttentionFlops(DEMO, 256, { lastBlockAtLastPosition: true })).toBe(2 * ((256 * 255) / 2) * 64 * 2);
    expect(maskedAttentionFlops(DEMO, 256)).toBe(2 * 2 * ((256 * 255) / 2) * 64 * 2);
    expect(maskedAttentionFlops(DEMO, 1)).toBe(0);
    // about a sixth of the demo model's counted FLOP (half its full-layer attention)
    expect(maskedAttentionFlops(DEMO, 256, { lastBlockAtLastPosition: true }) / FLOPS).toBeCloseTo(0.156, 3);
  });
});

describe('runGemmPeak', () => {
  it('takes the highest GEMM figure of the start/end probes and every round, either library', () => {
    const demo = demoResult([
      batch(8, [], { onnxruntime: 197, torch: 281 }),
      batch(32, [], { onnxruntime: 300, torch: 10 }),
    ]);
    expect(runGemmPeak(258, [demo, undefined])).toBe(300);
    expect(runGemmPeak(400, [demo])).toBe(400);
    expect(runGemmPeak(0, [])).toBe(0);
  });
});

describe('evaluateTargets', () => {
  it('judges the demo FLOP target on the best fp32 graph, leaving a faster int8 graph beside it', () => {
    // Prepare: the run's GEMM peak is 280 GFLOP/s (torch.mm in the round); onnxruntime fp32 at
    // 1100 users/s, int8 at 1200 (accurate)
    const demo = demoResult([
      batch(8, [row('pytorch', 900, 800), row('onnxruntime', 1100, 900), row('int8', 1200, 1100, 0.99995)]),
    ]);
    // Act
    const target = evaluateTargets(report(demo)).find((t) => t.name.startsWith('demo model at length 256'))!;
    // Assess: (1100 × (FLOPS − masked)) / 280e9, below 20% although credited it would be above
    const masked = maskedAttentionFlops(DEMO, 256, { lastBlockAtLastPosition: true });
    const fraction = (1100 * (FLOPS - masked)) / 280e9;
    expect((1100 * FLOPS) / 280e9).toBeGreaterThan(0.2);
    expect(fraction).toBeLessThan(0.2);
    expect(target.verdict).toBe('MISS');
    expect(target.ratio).toBeCloseTo(fraction / 0.2, 2);
    expect(target.measured).toContain('with onnxruntime at batch 8');
    expect(target.measured).toContain('int8 int8 (cosine 0.99995, not judged)');
  });

  it('meets the demo FLOP target when the fp32 graph gets there as computed', () => {
    const demo = demoResult([batch(8, [row('pytorch', 900, 800), row('onnxruntime', 1300, 1200)])]);
    const target = evaluateTargets(report(demo)).find((t) => t.name.startsWith('demo model'))!;
    expect(target.verdict).toBe('MET');
  });

  it('retires the onnxruntime-vs-PyTorch goal and shows same-batch medians', () => {
    const demo = demoResult([
      batch(8, [row('pytorch', 1000, 500), row('onnxruntime', 1100, 600), row('fused', 1200, 550)]),
      batch(32, [row('pytorch', 990, 900), row('onnxruntime', 5000, 450), row('int8', 9000, 9000, 0.99999)]),
    ]);
    // best-of-reps would compare 5000 at B=32 with 1000 at B=8; medians at the same batch do not
    expect(sameBatchMedians(demo)).toEqual([
      { batch: 8, graph: 'onnxruntime', ratio: 1.2 },
      { batch: 32, graph: 'onnxruntime', ratio: 0.5 },
    ]);
    const target = evaluateTargets(report(demo)).find((t) => t.name.startsWith('onnxruntime-node vs PyTorch'))!;
    expect(target).toMatchObject({ verdict: 'RETIRED', met: false });
    expect(target.measured).toContain('median users/s over 9 reps');
    expect(target.measured).toContain('B=8 1.2× (onnxruntime), B=32 0.5× (onnxruntime)');
  });

  it('judges length bucketing by its speedup at the pipeline defaults', () => {
    const plan = (name: string, usersPerSec: number, paddedTokens: number) =>
      ({ name, usersPerSec, paddedTokens }) as never;
    const padding = (speedup: number) => ({
      users: 100,
      meanLength: 40,
      p50Length: 20,
      p90Length: 256,
      maxLength: 256,
      realTokens: 4000,
      plans: [],
      bucketed: plan('default', 300, 6000),
      best: plan('best', 320, 5000),
      paddedToM: plan('padded', 100, 25600),
      speedup,
      bestSpeedup: 3.2,
    });
    const demo = demoResult([batch(8, [row('pytorch', 900, 800), row('onnxruntime', 1000, 900)])]);
    const verdictAt = (speedup: number) =>
      evaluateTargets(report(demo, { inference: { padding: padding(speedup) } })).find((t) =>
        t.name.startsWith('length bucketing'),
      )!;
    expect(verdictAt(3).verdict).toBe('MET');
    expect(verdictAt(2.9).verdict).toBe('MISS');
    expect(verdictAt(2.9).ratio).toBeCloseTo(2.9 / 3, 2);
    expect(verdictAt(2.9).why).toContain('padded/real tokens = 6.4×');
  });
});
