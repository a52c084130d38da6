/**
 * Section 1: inference throughput. onnxruntime-node (the pipeline's embedder) against PyTorch
 * eager on the same model, the same featurized batches and the same thread count; the graph
 * variants (transformer optimizer, fused attention, int8) with their accuracy against fp32; the
 * GEMM peak of this CPU measured in the same run; and length bucketing against padding to M.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { type FeatureBatch, Featurizer } from '../src/features/featurize.ts';
import type { ItemTable } from '../src/features/item-table.ts';
import type { SequenceEvent } from '../src/features/sequence.ts';
import { featureSpecFromManifest } from '../src/features/spec.ts';
import { BATCH_DEFAULTS, OnnxEmbedder, planBatches } from '../src/inference/embedder.ts';
import type { ModelDirectory } from '../src/inference/model-dir.ts';
import { openSession } from '../src/inference/session.ts';
import { type Contender, contest, type Timing, timed } from './contest.ts';
import { flopsPerUser, type ModelShape, modelShape } from './flops.ts';
import { BENCH_CUTOFF_MS, fullLengthSequences, padBatch, writeBatch } from './inputs.ts';
import { progress } from './progress.ts';
import type { TorchServer } from './python.ts';
import { cosineSummary, round } from './stats.ts';

export interface GemmPeak {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly torchGflops: number;
  readonly onnxruntimeGflops: number;
  /** The higher of the two: the GEMM peak fractions are reported against. */
  readonly peakGflops: number;
}

/** GEMM runs that join a contest, so the peak is measured in the same rounds as the model. */
export interface GemmProbe {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** `gemm-onnxruntime` (a one-MatMul graph) and `gemm-torch` (torch.mm), one [m,k]×[k,n] fp32 product each. */
  readonly contenders: readonly Contender[];
  readonly flop: number;
  release(): Promise<void>;
}

export async function gemmProbe(
  torch: TorchServer,
  gemmOnnx: { path: string; k: number; n: number },
  threads: number,
  m = 2048,
): Promise<GemmProbe> {
  const { k, n } = gemmOnnx;
  const session = await openSession(gemmOnnx.path, { threads });
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: m * k }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5),
    [m, k],
  );
  return {
    m,
    k,
    n,
    flop: 2 * m * k * n,
    contenders: [
      { name: 'gemm-onnxruntime', run: () => timed(() => session.run({ x })) },
      { name: 'gemm-torch', run: async () => (await torch.gemm(m, k, n, 1))[0]! },
    ],
    release: () => session.release(),
  };
}

/** GFLOP/s of the probe's contenders in a contest's timings (best of reps). */
function probePeak(probe: GemmProbe, timings: Map<string, Timing>): { onnxruntime: number; torch: number } {
  const gflops = (name: string) => probe.flop / (timings.get(name)?.best ?? Number.POSITIVE_INFINITY) / 1e9;
  return { onnxruntime: gflops('gemm-onnxruntime'), torch: gflops('gemm-torch') };
}

/** Best-of-reps GEMM FLOP/s, onnxruntime and torch.mm, round robin. */
export async function measureGemmPeak(probe: GemmProbe, reps: number): Promise<GemmPeak> {
  const peak = probePeak(probe, await contest(probe.contenders, reps));
  return {
    m: probe.m,
    k: probe.k,
    n: probe.n,
    torchGflops: round(peak.torch),
    onnxruntimeGflops: round(peak.onnxruntime),
    peakGflops: round(Math.max(peak.onnxruntime, peak.torch)),
  };
}

export interface ContenderRow {
  readonly name: string;
  /** FLOP per user this graph computes. */
  readonly flopsPerUser: number;
  readonly usersPerSec: number;
  readonly usersPerSecMedian: number;
  /** Achieved FLOP/s (analytic count) over the GEMM peak. */
  readonly peakFraction: number;
  /** Against onnxruntime fp32 of the same model on the same batch (1 = identical). */
  readonly cosineMin?: number;
  readonly cosineMean?: number;
  readonly error?: string;
}

export interface BatchResult {
  readonly batch: number;
  readonly length: number;
  readonly flopsPerUser: number;
  readonly contenders: readonly ContenderRow[];
  /** onnxruntime fp32 (`onnxruntime`) users/s over PyTorch eager users/s. */
  readonly ortOverTorch: number;
  /** The GEMM peak measured in the same rounds (onnxruntime, torch.mm): the fractions' denominator. */
  readonly gemmGflops: { readonly onnxruntime: number; readonly torch: number };
}

export interface ModelInferenceResult {
  readonly label: string;
  readonly modelVersion: string;
  readonly shape: ModelShape;
  readonly batches: readonly BatchResult[];
}

interface OpenContender {
  readonly name: string;
  readonly embedder?: OnnxEmbedder;
  readonly error?: string;
}

/**
 * One model: for each batch size, full-length sequences featurized once, then PyTorch eager and
 * every onnxruntime variant round robin on that batch.
 */
export async function benchModel(options: {
  readonly label: string;
  readonly model: ModelDirectory;
  readonly items: ItemTable;
  readonly torch: TorchServer;
  readonly variants: Readonly<Record<string, string>>;
  readonly batchSizes: readonly number[];
  readonly length: number;
  readonly reps: number;
  readonly threads: number;
  /** Runs in every round with the model, so each batch has its own GEMM peak from the same rounds. */
  readonly probe: GemmProbe;
  readonly workDir: string;
}): Promise<ModelInferenceResult> {
  const { model, items, torch, threads, length } = options;
  const shape = modelShape(model.manifest);
  const key = options.label;
  await torch.load(key, model.dir);
  const opened: OpenContender[] = [];
  // `onnxruntime` is the graph the pipeline runs on the CPU (model.cpu.onnx when the directory has one)
  const shipped = model.cpuOnnxPath ?? model.onnxPath;
  for (const [name, onnxPath] of Object.entries({ onnxruntime: shipped, ...options.variants })) {
    try {
      opened.push({
        name,
        embedder: await OnnxEmbedder.open({ ...model, onnxPath, cpuOnnxPath: null }, items, { threads }),
      });
    } catch (error) {
      progress(`${options.label}: variant ${name} does not open: ${(error as Error).message}`);
      opened.push({ name, error: (error as Error).message.slice(0, 300) });
    }
  }
  const featurizer = new Featurizer(featureSpecFromManifest(model.manifest), items);
  // PyTorch and every exported graph run the last block at the last position only (model.forward).
  const flops = flopsPerUser(shape, length, { lastBlockAtLastPosition: true });
  const batches: BatchResult[] = [];
  try {
    for (const b of options.batchSizes) {
      progress(`${options.label}: batch ${b} × length ${length}: PyTorch and ${opened.length} onnxruntime graphs`);
      const features = featurizer.featurize(fullLengthSequences(model.manifest, b, length), BENCH_CUTOFF_MS);
      const dir = writeBatch(join(options.workDir, `batch-${key}-${b}`), features);
      const torchOut = join(dir, 'torch-out.bin');
      const outputs = new Map<string, Float32Array>();
      const contenders: Contender[] = [
        { name: 'pytorch', run: async () => (await torch.run(key, dir, 1, torchOut))[0]! },
      ];
      for (const c of opened) {
        if (!c.embedder) continue;
        const embedder = c.embedder;
        contenders.push({
          name: c.name,
          run: async () => {
            const started = performance.now();
            const out = await embedder.run(features);
            const seconds = (performance.now() - started) / 1000;
            outputs.set(c.name, out);
            return seconds;
          },
        });
      }
      const timings = await contest([...contenders, ...options.probe.contenders], options.reps);
      const peak = probePeak(options.probe, timings);
      const peakGflops = Math.max(peak.onnxruntime, peak.torch);
      const raw = readFileSync(torchOut); // small files come from Node's shared pool: copy by offset
      const torchOutput = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      outputs.set('pytorch', torchOutput);
      const reference = outputs.get('onnxruntime');
      const row = (name: string, t: Timing | undefined, error?: string): ContenderRow => {
        if (!t)
          return {
            name,
            flopsPerUser: flops,
            usersPerSec: 0,
            usersPerSecMedian: 0,
            peakFraction: 0,
            ...(error ? { error } : {}),
          };
        const usersPerSec = b / t.best;
        const out = outputs.get(name);
        const cos = reference && out ? cosineSummary(reference, out, shape.embedding) : undefined;
        return {
          name,
          flopsPerUser: flops,
          usersPerSec: round(usersPerSec),
          usersPerSecMedian: round(b / t.median),
          peakFraction: round((usersPerSec * flops) / (peakGflops * 1e9)),
          ...(cos ? { cosineMin: round(cos.min, 7), cosineMean: round(cos.mean, 7) } : {}),
        };
      };
      const rows = [
        row('pytorch', timings.get('pytorch')),
        ...opened.map((c) => row(c.name, timings.get(c.name), c.error)),
      ];
      const ort = rows.find((r) => r.name === 'onnxruntime')!;
      const pt = rows[0]!;
      batches.push({
        batch: b,
        length,
        flopsPerUser: flops,
        contenders: rows,
        ortOverTorch: round(ort.usersPerSec / pt.usersPerSec),
        gemmGflops: { onnxruntime: round(peak.onnxruntime), torch: round(peak.torch) },
      });
      progress(
        `${options.label} batch ${b} (GEMM peak ${round(peakGflops)} GFLOP/s): ${rows.map((r) => `${r.name} ${r.usersPerSec} users/s (${(100 * r.peakFraction).toFixed(0)}%)`).join(', ')}`,
      );
    }
  } finally {
    for (const c of opened) await c.embedder?.release();
  }
  return { label: options.label, modelVersion: model.manifest.modelVersion, shape, batches };
}

export interface PlanFigures {
  readonly name: string;
  /** planBatches limits; padded plans fill batches of maxTokens / M users. */
  readonly maxBatchSize: number;
  readonly maxTokensPerBatch: number;
  readonly seconds: number;
  readonly usersPerSec: number;
  readonly paddedTokens: number;
  readonly batches: number;
}

export interface PaddingResult {
  readonly users: number;
  readonly meanLength: number;
  readonly p50Length: number;
  readonly p90Length: number;
  readonly maxLength: number;
  readonly realTokens: number;
  /** Every plan, timed round robin: padded to M, the pipeline's default buckets, smaller budgets. */
  readonly plans: readonly PlanFigures[];
  /** The pipeline's default bucketing, and the best bucketing plan. */
  readonly bucketed: PlanFigures;
  readonly best: PlanFigures;
  readonly paddedToM: PlanFigures;
  /** Effective users/s of the default bucketing over padded to M; and of the best plan. */
  readonly speedup: number;
  readonly bestSpeedup: number;
}

/** The embedder's batch limits on the CPU when the pipeline passes none (src/inference/embedder.ts). */
export const PIPELINE_BATCH_LIMITS = BATCH_DEFAULTS.cpu;

/**
 * Length bucketing (the embedder's planBatches, as the pipeline runs it, and with smaller token
 * budgets) against the same users in batches of the same token budget with every sequence padded
 * to M. Same model, same session, featurized up front: inference only, round robin.
 */
export async function benchPadding(options: {
  readonly model: ModelDirectory;
  readonly items: ItemTable;
  readonly sequences: readonly (readonly SequenceEvent[])[];
  readonly cutoffMs: number;
  readonly threads: number;
  readonly reps: number;
}): Promise<PaddingResult> {
  const { model, items, sequences, cutoffMs } = options;
  const maxLength = model.manifest.dims.maxLength;
  const embedder = await OnnxEmbedder.open(model, items, { threads: options.threads });
  const featurizer = new Featurizer(featureSpecFromManifest(model.manifest), items);
  const lengths = sequences.map((s) => s.length);
  const limits = [
    {
      name: `bucketed (pipeline default: ≤${PIPELINE_BATCH_LIMITS.maxBatchSize} users, ≤${PIPELINE_BATCH_LIMITS.maxTokensPerBatch} tokens)`,
      ...PIPELINE_BATCH_LIMITS,
    },
    { name: 'bucketed ≤256 users, ≤32768 tokens', maxBatchSize: 256, maxTokensPerBatch: 32_768 },
    { name: 'bucketed ≤64 users, ≤8192 tokens', maxBatchSize: 64, maxTokensPerBatch: 8192 },
    { name: 'bucketed ≤32 users, ≤2048 tokens', maxBatchSize: 32, maxTokensPerBatch: 2048 },
  ];
  try {
    const plans = limits.map((l) => ({
      ...l,
      batches: planBatches(lengths, l.maxBatchSize, l.maxTokensPerBatch).map((idx) =>
        featurizer.featurize(
          idx.map((i) => sequences[i]!),
          cutoffMs,
        ),
      ),
    }));
    const perPadded = Math.max(1, Math.floor(PIPELINE_BATCH_LIMITS.maxTokensPerBatch / maxLength));
    const padded: FeatureBatch[] = [];
    for (let i = 0; i < sequences.length; i += perPadded) {
      padded.push(padBatch(featurizer.featurize(sequences.slice(i, i + perPadded), cutoffMs), maxLength));
    }
    plans.unshift({
      name: 'padded to M',
      maxBatchSize: perPadded,
      maxTokensPerBatch: PIPELINE_BATCH_LIMITS.maxTokensPerBatch,
      batches: padded,
    });
    const runAll = async (batches: readonly FeatureBatch[]): Promise<number> => {
      const started = performance.now();
      for (const batch of batches) await embedder.run(batch);
      return (performance.now() - started) / 1000;
    };
    progress(
      `padding: ${sequences.length} users; ${plans.map((p) => `${p.name}: ${p.batches.length} batches`).join(', ')}`,
    );
    const timings = await contest(
      plans.map((p) => ({ name: p.name, run: () => runAll(p.batches) })),
      options.reps,
      0,
    );
    const figures: PlanFigures[] = plans.map((p) => {
      const seconds = timings.get(p.name)!.best;
      return {
        name: p.name,
        maxBatchSize: p.maxBatchSize,
        maxTokensPerBatch: p.maxTokensPerBatch,
        seconds: round(seconds),
        usersPerSec: round(sequences.length / seconds),
        paddedTokens: p.batches.reduce((n, b) => n + b.batchSize * b.length, 0),
        batches: p.batches.length,
      };
    });
    const sorted = [...lengths].sort((a, b) => a - b);
    const paddedToM = figures[0]!;
    const bucketed = figures[1]!;
    const best = figures.slice(1).reduce((a, c) => (c.usersPerSec > a.usersPerSec ? c : a));
    return {
      users: sequences.length,
      meanLength: round(lengths.reduce((a, c) => a + c, 0) / lengths.length),
      p50Length: sorted[Math.floor(sorted.length * 0.5)]!,
      p90Length: sorted[Math.floor(sorted.length * 0.9)]!,
      maxLength: sorted[sorted.length - 1]!,
      realTokens: lengths.reduce((a, c) => a + c, 0),
      plans: figures,
      bucketed,
      best,
      paddedToM,
      speedup: round(paddedToM.seconds / bucketed.seconds),
      bestSpeedup: round(paddedToM.seconds / best.seconds),
    };
  } finally {
    await embedder.release();
  }
}
