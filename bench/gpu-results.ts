/**
 * Section 5: the GPU session's results (bench/gpu.sh, run on a lent GPU machine), read back from
 * the files it writes next to bench.json, validated, and summarised for the report and the cost
 * projection. The CPU benchmark never produces these files; it folds in whatever the last GPU
 * session left (their dates are printed with them).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { type GpuNodeBench, GpuNodeBenchSchema, type GpuNodeMeasuredRow } from './gpu-node.ts';

const GpuRowSchema = z.union([
  z.object({
    batch: z.number().int().positive(),
    contender: z.string(),
    usersPerSec: z.number().positive(),
    tflops: z.number().nonnegative(),
    peakFraction: z.number().nullable(),
    measuredGemmFraction: z.number().nullable(),
    gpuMemoryGiB: z.number().nullable(),
    cosineMinVsPytorchFp32: z.number().nullable(),
  }),
  z.object({ batch: z.number().int().positive(), contender: z.string(), error: z.string() }),
]);

const BucketingSchema = z.object({
  note: z.string(),
  meanLength: z.number(),
  rows: z.array(
    z.object({
      plan: z.string(),
      precision: z.string(),
      users: z.number().int().positive(),
      batches: z.number().int().positive(),
      paddedTokens: z.number().int().positive(),
      realTokens: z.number().int().positive(),
      usersPerSec: z.number().positive(),
    }),
  ),
});

const GpuBenchSchema = z.object({
  createdAt: z.string(),
  gpu: z.string(),
  peakTflops: z.object({ fp32: z.number(), fp16: z.number(), tf32: z.number().optional() }),
  measuredGemmTflops: z.record(z.string(), z.number()),
  onnxruntime: z.string(),
  onnxruntimeCuda: z.object({ available: z.boolean(), providers: z.array(z.string()), reason: z.string().nullable() }),
  torch: z.string(),
  model: z.string(),
  flopsPerUser: z.number().positive(),
  cpuFallback: z.record(z.string(), z.string()),
  rows: z.array(GpuRowSchema),
  /** A day of heavy-tailed lengths under the pipeline's batch plans (absent in older files). */
  bucketing: BucketingSchema.optional(),
  note: z.string(),
});

const GpuTrainSchema = z.object({
  name: z.string(),
  steps: z.number().int(),
  device: z.string(),
  recall_at_10: z.number(),
  recall_at_10_stderr: z.number(),
  train_seconds: z.number(),
});

const PaperManifestSchema = z.object({
  modelVersion: z.string(),
  training: z.object({
    seconds: z.number(),
    steps: z.number().int(),
    batch_size: z.number().int(),
    device: z.string(),
  }),
  files: z.record(z.string(), z.string()),
});

export type GpuRow = z.infer<typeof GpuRowSchema>;
export type GpuMeasuredRow = Extract<GpuRow, { usersPerSec: number }>;

export interface GpuResults {
  readonly bench: z.infer<typeof GpuBenchSchema>;
  readonly train?: z.infer<typeof GpuTrainSchema>;
  readonly paperTraining?: z.infer<typeof PaperManifestSchema>;
  /** The container's path, onnxruntime-node with the CUDA EP (bench/gpu-node.ts). */
  readonly node?: GpuNodeBench;
}

/** The file names gpu.sh writes (REPORTS folder). */
export const GPU_FILES = {
  bench: 'bench-gpu.json',
  train: 'bench-gpu-train.json',
  paperManifest: 'bench-gpu-paper-manifest.json',
  node: 'bench-gpu-node.json',
} as const;

function parseFile<T>(path: string, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${path} is not what bench/gpu.sh writes: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** The GPU session's files in `dir`, or undefined when no GPU session has written them there. */
export function readGpuResults(dir: string): GpuResults | undefined {
  const benchPath = join(dir, GPU_FILES.bench);
  if (!existsSync(benchPath)) return undefined;
  const optional = <T>(name: string, schema: z.ZodType<T>): T | undefined =>
    existsSync(join(dir, name)) ? parseFile(join(dir, name), schema) : undefined;
  const train = optional(GPU_FILES.train, GpuTrainSchema);
  const paperTraining = optional(GPU_FILES.paperManifest, PaperManifestSchema);
  const node = optional(GPU_FILES.node, GpuNodeBenchSchema);
  return {
    bench: parseFile(benchPath, GpuBenchSchema),
    ...(train ? { train } : {}),
    ...(paperTraining ? { paperTraining } : {}),
    ...(node ? { node } : {}),
  };
}

export const measuredRows = (results: GpuResults): GpuMeasuredRow[] =>
  results.bench.rows.filter((r): r is GpuMeasuredRow => 'usersPerSec' in r);

/** The container path's timed rows (bench-gpu-node.json), without its error rows; none without the file. */
export const measuredNodeRows = (results: GpuResults): GpuNodeMeasuredRow[] =>
  (results.node?.rows ?? []).filter((r): r is GpuNodeMeasuredRow => 'usersPerSec' in r);

/**
 * The GPU efficiency the cost projection scales to its target GPU: the best share of the datasheet
 * peak at full accuracy per precision. fp32 takes fp32 contenders without TF32; fp16 takes the
 * fp16 contenders (onnxruntime's fp16 graph where the CUDA EP ran, else PyTorch fp16 autocast,
 * eager: no compiler fusion is assumed). Undefined without a usable row.
 */
export function gpuEfficiency(results: GpuResults): {
  readonly fp32?: number;
  readonly fp16?: number;
  readonly source: string;
} {
  const rows = measuredRows(results);
  const best = (accept: (r: GpuMeasuredRow) => boolean): GpuMeasuredRow | undefined =>
    rows
      .filter((r) => accept(r) && r.peakFraction !== null && (r.cosineMinVsPytorchFp32 ?? 0) >= 0.999)
      .reduce<GpuMeasuredRow | undefined>(
        (a, r) => (a && (a.peakFraction ?? 0) >= (r.peakFraction ?? 0) ? a : r),
        undefined,
      );
  const fp32 = best((r) => r.contender === 'onnxruntime-fp32' || r.contender === 'pytorch-fp32');
  const fp16 = best((r) => r.contender === 'onnxruntime-fp16' || r.contender === 'pytorch-fp16-autocast');
  const describe = (r: GpuMeasuredRow | undefined) => (r ? `${r.contender} at batch ${r.batch}` : 'none');
  return {
    ...(fp32?.peakFraction ? { fp32: fp32.peakFraction } : {}),
    ...(fp16?.peakFraction ? { fp16: fp16.peakFraction } : {}),
    source: `${results.bench.gpu} (${results.bench.createdAt.slice(0, 10)}): fp32 ${describe(fp32)}, fp16 ${describe(fp16)}, share of the datasheet peak`,
  };
}
