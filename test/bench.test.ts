import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { contest, SETTLE_MS } from '../bench/contest.ts';
import { CONTAINER_SHAPES, CPU_THREADS_PER_LANE, PRICES, projectCost } from '../bench/cost.ts';
import { cpuByComponent, INFERENCE_COMPONENT } from '../bench/cpu-profile.ts';
import { flopsPerUser, type ModelShape } from '../bench/flops.ts';
import { GPU_FILES, gpuEfficiency, readGpuResults } from '../bench/gpu-results.ts';
import { padBatch } from '../bench/inputs.ts';
import { cpuSecondsPerUser } from '../bench/pipelining.ts';
import type { FeatureBatch } from '../src/features/featurize.ts';
import { sessionOptions } from '../src/inference/session.ts';

const paper: ModelShape = { layers: 6, hidden: 768, heads: 8, embedding: 256, inputWidth: 444, maxLength: 256 };

describe('bench FLOP count', () => {
  it('counts the paper-size model at about 23 GFLOP per user at full length', () => {
    // Prepare: per layer 24·L·H² (projections + FFN) + 4·L²·H (scores, attention × V)
    const l = 256;
    const h = 768;
    const expected = 2 * l * 444 * h + 6 * (24 * l * h * h + 4 * l * l * h) + 8 * h * h + 8 * h * 256;
    // Act
    const flops = flopsPerUser(paper, l);
    // Assess
    expect(flops).toBe(expected);
    expect(flops / 1e9).toBeGreaterThan(22);
    expect(flops / 1e9).toBeLessThan(24);
  });

  it('counts less for the last-position graph, and grows faster than linearly with length', () => {
    const full = flopsPerUser(paper, 256);
    const lastOnly = flopsPerUser(paper, 256, { lastBlockAtLastPosition: true });
    expect(lastOnly).toBeLessThan(full);
    // the saving is most of one of six layers
    expect(full - lastOnly).toBeGreaterThan((full / 6) * 0.8);
    expect(flopsPerUser(paper, 256)).toBeGreaterThan(2 * flopsPerUser(paper, 128));
  });
});

describe('bench padding baseline', () => {
  it('pads each row to M with zeros and keeps the real positions', () => {
    // Prepare: 2 users, length 2, one float feature of width 2
    const batch: FeatureBatch = {
      batchSize: 2,
      length: 2,
      itemVec: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
      itemId: BigInt64Array.from([2n, 2n, 2n, 0n]),
      action: BigInt64Array.from([1n, 2n, 3n, 0n]),
      surface: BigInt64Array.from([2n, 2n, 2n, 0n]),
      timeFrac: Float32Array.from([0.1, 0.2, 0.3, 0.4]),
      scalars: new Float32Array(16).fill(1),
      lengths: BigInt64Array.from([2n, 1n]),
    };
    // Act
    const padded = padBatch(batch, 4);
    // Assess
    expect(padded.length).toBe(4);
    expect(Array.from(padded.itemVec)).toEqual([1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0]);
    expect(Array.from(padded.action)).toEqual([1n, 2n, 0n, 0n, 3n, 0n, 0n, 0n]);
    expect(Array.from(padded.lengths)).toEqual([2n, 1n]);
  });
});

describe('bench cost projection', () => {
  const cpuMeasured = {
    flopsPerUser: 23e9,
    efficiency: 0.8,
    writeUnitsPerUser: 1,
    bytesPerItem: 600,
    snapshotBytesPerUser: 10_000,
    snapshotRetentionDays: 7,
    tableRetentionDays: 30,
    activeShare: 0.3,
  };

  it('scales linearly with daily active users and prices GPU hours at the g5 rate', () => {
    const input = cpuMeasured;
    const small = projectCost(input, 10_000_000, 'fp32');
    const large = projectCost(input, 100_000_000, 'fp32');
    expect(large.usdPerDay.total / small.usdPerDay.total).toBeCloseTo(10, 1);
    // without a CPU figure the GPU limits every shape, so the smallest instance is the cheapest
    expect(small).toMatchObject({ instance: 'g5.xlarge', partitionsPerJob: 1, limitedBy: 'gpu' });
    expect(small.usdPerDay.gpu).toBeCloseTo(small.gpuHoursPerDay * PRICES.g5xlargePerHour, 2);
    expect(small.usdPerDay.dynamoWrites).toBeCloseTo(10 * PRICES.dynamoWritePerMillionWru, 6);
    expect(projectCost(input, 10_000_000, 'fp16').gpuHoursPerDay).toBeLessThan(small.gpuHoursPerDay);
  });

  it("bills a container for its lanes' CPU work where that takes longer than its GPU's, and picks the cheapest shape", () => {
    // Prepare: 23 GFLOP at 80% of the A10G's fp16 peak is ~0.23 ms of GPU per user, fp32 ~0.92 ms;
    // 1 CPU-ms per user on 2 threads per lane is 0.5 ms with 1 lane, 0.25 with 2, 0.125 with 4
    const input = { ...cpuMeasured, cpuSecondsPerUser: 0.001 };
    // Act
    const fp16 = projectCost(input, 10_000_000, 'fp16');
    const fp32 = projectCost(input, 10_000_000, 'fp32');
    // Assess: every shape is priced; one lane is CPU-bound in fp16
    const oneLane = fp16.byShape.find((shape) => shape.partitionsPerJob === 1)!;
    expect(fp16.byShape.map((shape) => shape.instance)).toEqual(CONTAINER_SHAPES.map((shape) => shape.instance));
    expect(oneLane.limitedBy).toBe('cpu');
    expect(oneLane.cpuBoundHoursPerDay).toBeCloseTo((10_000_000 * 0.001) / CPU_THREADS_PER_LANE / 3600, 2);
    expect(oneLane.hoursPerDay).toBe(oneLane.cpuBoundHoursPerDay);
    // 2 lanes on a g5.2xlarge: 0.69 h x 1.212 beats 1 lane (1.39 h x 1.006) and 4 lanes (0.64 h x 1.624)
    expect(fp16).toMatchObject({ instance: 'g5.2xlarge', partitionsPerJob: 2, limitedBy: 'cpu' });
    expect(fp16.usdPerDay.gpu).toBeCloseTo(fp16.gpuHoursPerDay * PRICES.g5_2xlargePerHour, 1);
    expect(fp16.usdPerDay.gpu).toBeLessThan(oneLane.usdPerDay);
    expect(fp16.gpuBoundHoursPerDay).toBeLessThan(fp16.gpuHoursPerDay);
    // fp32: the GPU limits even one lane, so more cores only cost more
    expect(fp32).toMatchObject({ instance: 'g5.xlarge', limitedBy: 'gpu' });
    expect(fp32.gpuHoursPerDay).toBe(fp32.gpuBoundHoursPerDay);
  });

  it("takes a GPU's measured share of its peak over the CPU's, per precision, and says which it used", () => {
    // Prepare: the CPU reached 80%; the GPU measured only fp16 (40%)
    const input = { ...cpuMeasured, gpuEfficiency: { fp16: 0.4 } };
    // Act
    const fp16 = projectCost(input, 10_000_000, 'fp16');
    const fp32 = projectCost(input, 10_000_000, 'fp32');
    // Assess: half the efficiency, twice the GPU hours of the CPU-based figure
    expect(fp16).toMatchObject({ efficiency: 0.4, efficiencyFrom: 'gpu' });
    expect(fp32).toMatchObject({ efficiency: 0.8, efficiencyFrom: 'cpu' });
    const cpuOnly = projectCost(cpuMeasured, 10_000_000, 'fp16');
    expect(fp16.gpuHoursPerDay / cpuOnly.gpuHoursPerDay).toBeCloseTo(2, 2);
  });
});

describe("bench GPU results (bench/gpu.sh's files)", () => {
  const row = (contender: string, batch: number, peakFraction: number, cosine = 1) => ({
    batch,
    contender,
    usersPerSec: 1000 * peakFraction,
    tflops: 100 * peakFraction,
    peakFraction,
    measuredGemmFraction: peakFraction,
    gpuMemoryGiB: 1,
    cosineMinVsPytorchFp32: cosine,
  });
  const bench = (rows: unknown[]) => ({
    createdAt: '2026-11-28T15:39:48Z',
    gpu: 'NVIDIA H200',
    peakTflops: { fp32: 67, fp16: 989, tf32: 494.7 },
    measuredGemmTflops: { fp32: 51, bf16: 640 },
    onnxruntime: '1.30.0',
    onnxruntimeCuda: { available: false, providers: ['CPUExecutionProvider'], reason: 'no CUDA EP' },
    torch: '2.11.0',
    model: '6x768',
    flopsPerUser: 2e10,
    cpuFallback: {},
    rows,
    note: 'n',
  });
  const folderWith = (files: Record<string, unknown>): string => {
    const dir = mkdtempSync(join(tmpdir(), 'pf-gpu-'));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), JSON.stringify(content));
    return dir;
  };

  it('picks the best accurate row per precision, leaving out TF32, compiled and inaccurate rows', () => {
    // Prepare
    const dir = folderWith({
      [GPU_FILES.bench]: bench([
        row('pytorch-fp32', 64, 0.6),
        row('pytorch-fp32', 256, 0.7),
        row('pytorch-tf32', 256, 0.9),
        row('pytorch-fp16-autocast', 256, 0.3),
        row('pytorch-bf16-compiled', 256, 0.5),
        row('onnxruntime-fp16', 256, 0.45, 0.99),
        { batch: 4096, contender: 'pytorch-fp16-autocast', error: 'out of memory' },
      ]),
    });
    // Act
    const results = readGpuResults(dir);
    // Assess
    expect(results).toBeDefined();
    const efficiency = gpuEfficiency(results as NonNullable<typeof results>);
    expect(efficiency.fp32).toBe(0.7);
    expect(efficiency.fp16).toBe(0.3);
    expect(efficiency.source).toContain('pytorch-fp16-autocast at batch 256');
  });

  it('is absent without a GPU session, and refuses a file gpu.sh did not write', () => {
    expect(readGpuResults(folderWith({}))).toBeUndefined();
    const broken = folderWith({ [GPU_FILES.bench]: { ...bench([]), flopsPerUser: -1 } });
    expect(() => readGpuResults(broken)).toThrow(/is not what bench\/gpu.sh writes/);
  });
});

describe('bench contest', () => {
  it('runs the contenders round robin after a settle pause each, and keeps warm-up rounds out of best and median', async () => {
    // Prepare: two contenders that log when they run and report fixed seconds per round
    const log: { name: string; at: number }[] = [];
    const contender = (name: string, seconds: number[]) => {
      let round = 0;
      return {
        name,
        run: async () => {
          log.push({ name, at: performance.now() });
          return seconds[round++]!;
        },
      };
    };
    // Act
    const timings = await contest([contender('a', [9, 3, 1, 2]), contender('b', [9, 5, 4, 6])], 3, 1, 20);
    // Assess: a, b alternate, and each run comes at least the settle pause after the one before
    expect(log.map((x) => x.name)).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
    for (let i = 1; i < log.length; i++) expect(log[i]!.at - log[i - 1]!.at).toBeGreaterThanOrEqual(19);
    expect(timings.get('a')).toEqual({ best: 1, median: 2, reps: 3 });
    expect(timings.get('b')).toEqual({ best: 4, median: 5, reps: 3 });
    expect(SETTLE_MS).toBeGreaterThan(8); // longer than PyTorch's measured 4-8 ms of spinning
  });
});

describe('session options (measured in npm run bench)', () => {
  it('lets idle intra-op threads sleep, flushes denormals, and keeps CUDA from falling back to the CPU', () => {
    const cpu = sessionOptions({ threads: 2 });
    const cuda = sessionOptions({ executionProvider: 'cuda' });
    expect(cpu.extra).toEqual({ session: { 'intra_op.allow_spinning': '0', set_denormal_as_zero: '1' } });
    expect(cpu.intraOpNumThreads).toBe(2);
    expect(cuda.extra).toEqual({
      session: { 'intra_op.allow_spinning': '0', set_denormal_as_zero: '1', disable_cpu_ep_fallback: '1' },
    });
  });
});

describe('bench CPU by component (V8 --cpu-prof files)', () => {
  it('sums each component over every thread inside the window, leaving idle and outside samples out', () => {
    // Prepare: two threads' profiles; samples at 1000 + cumulative deltas (µs)
    const dir = mkdtempSync(join(tmpdir(), 'pf-prof-'));
    const node = (id: number, functionName: string, url: string) => ({ id, callFrame: { functionName, url } });
    const nodes = [
      node(1, '(idle)', ''),
      node(2, 'run', 'file:///app/node_modules/onnxruntime-node/dist/backend.js'),
      node(3, '_put', 'file:///app/node_modules/classic-level/index.js'),
      node(4, 'featurize', 'file:///app/src/features/featurize.ts'),
      node(5, 'somethingElse', 'file:///app/src/util/errors.ts'),
    ];
    writeFileSync(
      join(dir, 'a.cpuprofile'),
      JSON.stringify({
        nodes,
        startTime: 1000,
        samples: [2, 2, 1, 4, 2],
        timeDeltas: [100, 500_000, 300_000, 200_000, 9_000_000],
      }),
    );
    writeFileSync(
      join(dir, 'b.cpuprofile'),
      JSON.stringify({ nodes, startTime: 1000, samples: [3, 5], timeDeltas: [250_000, 250_000] }),
    );
    writeFileSync(join(dir, 'notes.txt'), 'not a profile');
    // Act: the window ends before thread a's last sample
    const byComponent = cpuByComponent(dir, 1000, 2_000_000);
    // Assess
    expect(byComponent[INFERENCE_COMPONENT]).toBeCloseTo(0.5001, 6);
    expect(byComponent['embedded table server (dynalite, LevelDB)']).toBeCloseTo(0.25, 6);
    expect(byComponent.featurize).toBeCloseTo(0.2, 6);
    expect(byComponent.other).toBeCloseTo(0.25, 6);
    expect(Object.values(byComponent).reduce((a, b) => a + b, 0)).toBeCloseTo(1.2001, 6); // idle not counted
  });
});

describe('bench CPU side per user (for the cost projection)', () => {
  it('leaves inference and the local table server out and scales only per-event work with length', () => {
    // Prepare: 100 users embedded; per-user 2 s (table client 1.5, output 0.5), per-event 3 s
    const profile = {
      mode: 'serial' as const,
      stageCpuSeconds: 20,
      cpuSecondsByComponent: {
        'inference (onnxruntime)': 10,
        'embedded table server (dynalite, LevelDB)': 5,
        'table client and loopback HTTP (AWS SDK)': 1.5,
        'output (table items, embedding snapshot)': 0.5,
        featurize: 2,
        'parquet columns (hyparquet, src/io)': 1,
      },
      sampledSecondsByComponent: {},
    };
    const result = {
      users: 1000,
      date: '2026-01-07',
      embeddedUsers: 100,
      rounds: [],
      meanEmbedSeconds: { serial: 1, pipelined: 1, ratio: 1 },
      profile,
    };
    // Act / Assess: (2 + 3 × 256 / 64) / 100
    expect(cpuSecondsPerUser(result, 64, 256)).toBeCloseTo(0.14, 9);
    expect(cpuSecondsPerUser(result, 64, 64)).toBeCloseTo(0.05, 9);
    expect(cpuSecondsPerUser({ ...result, profile: undefined }, 64, 256)).toBeUndefined();
  });
});
