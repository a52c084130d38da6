/**
 * Section 5, the Batch container's own path: onnxruntime-node with the CUDA execution provider (no
 * CPU fallback, as src/inference/session.ts opens it) timed on full-length batches of a model
 * directory, beside the PyTorch and Python-onnxruntime rows bench/gpu.sh measures on the same GPU.
 * bench/gpu.sh runs it as its last step when `node` is on the machine; `--provider cpu` is the dry
 * run that `make test` keeps working (test/gpu-node-bench.test.ts).
 *
 *   npx tsx bench/gpu-node.ts --model DIR --out reports/bench-gpu-node.json
 *        [--fp16 FILE] [--batches 64,256,1024] [--reps 10] [--provider cuda|cpu]
 *
 * `--fp16`: a graph with fp16 weights and fp32 inputs/outputs (gpu_bench.py writes one as
 * WORK/fused-fp16.onnx). Each row is the median of `--reps` timed runs after 2 warm-ups, feeds
 * built once on the host, so a row includes host-to-device copies as the worker's session.run does.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type ort from 'onnxruntime-node';
import { z } from 'zod';
import { Featurizer } from '../src/features/featurize.ts';
import { featureSpecFromManifest } from '../src/features/spec.ts';
import { embeddingOutput, feedsOf } from '../src/inference/batch-session.ts';
import { readModelDirectory } from '../src/inference/model-dir.ts';
import { openSession } from '../src/inference/session.ts';
import type { ExecutionProvider } from '../src/pipeline/types.ts';
import { flopsPerUser, modelShape } from './flops.ts';
import { BENCH_CUTOFF_MS, benchItemTable, fullLengthSequences } from './inputs.ts';
import { cosineSummary, median, round } from './stats.ts';

const WARMUPS = 2;

export const GpuNodeRowSchema = z.union([
  z.object({
    batch: z.number().int().positive(),
    contender: z.string(),
    medianMs: z.number().positive(),
    usersPerSec: z.number().positive(),
    tflops: z.number().nonnegative(),
    cosineMinVsFp32: z.number().nullable(),
  }),
  z.object({ batch: z.number().int().positive(), contender: z.string(), error: z.string() }),
]);

export const GpuNodeBenchSchema = z.object({
  createdAt: z.string(),
  provider: z.enum(['cuda', 'cpu']),
  onnxruntimeNode: z.string(),
  model: z.string(),
  length: z.number().int().positive(),
  flopsPerUser: z.number().positive(),
  reps: z.number().int().positive(),
  rows: z.array(GpuNodeRowSchema),
  note: z.string(),
});
export type GpuNodeBench = z.infer<typeof GpuNodeBenchSchema>;
type GpuNodeRow = z.infer<typeof GpuNodeRowSchema>;
export type GpuNodeMeasuredRow = Extract<GpuNodeRow, { usersPerSec: number }>;

export interface GpuNodeOptions {
  readonly modelDir: string;
  readonly out: string;
  readonly fp16Path?: string;
  readonly batches: readonly number[];
  readonly reps: number;
  readonly provider: ExecutionProvider;
}

function onnxruntimeNodeVersion(): string {
  const url = new URL('../node_modules/onnxruntime-node/package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

async function timeRuns(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, reps: number) {
  let output: Float32Array = new Float32Array(0);
  for (let i = 0; i < WARMUPS; i++) output = embeddingOutput(await session.run(feeds), 'warm-up');
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    output = embeddingOutput(await session.run(feeds), 'timed run');
    times.push(performance.now() - start);
  }
  return { medianMs: median(times), output };
}

/** Times every graph at every batch; writes the report after each row, so a run cut short keeps what it measured. */
export async function runGpuNodeBench(options: GpuNodeOptions): Promise<GpuNodeBench> {
  const model = readModelDirectory(options.modelDir);
  const { manifest } = model;
  const length = manifest.dims.maxLength;
  const shape = modelShape(manifest);
  const flops = flopsPerUser(shape, length, { lastBlockAtLastPosition: true });
  const report: GpuNodeBench = {
    createdAt: new Date().toISOString(),
    provider: options.provider,
    onnxruntimeNode: onnxruntimeNodeVersion(),
    model: `${shape.layers}x${shape.hidden}, D ${shape.embedding}, M ${length}`,
    length,
    flopsPerUser: flops,
    reps: options.reps,
    rows: [],
    note: `median of ${options.reps} session.run calls after ${WARMUPS} warm-ups, full-length batches, feeds on the host (host-device copies included, as in the Batch worker)`,
  };
  const save = () => {
    mkdirSync(dirname(options.out), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  };
  const graphs: [string, string][] = [[`onnxruntime-node-fp32`, model.onnxPath]];
  if (options.fp16Path !== undefined) graphs.push([`onnxruntime-node-fp16`, options.fp16Path]);
  const featurizer = new Featurizer(featureSpecFromManifest(manifest), benchItemTable(manifest.dims.itemVector));
  const sessions = new Map<string, ort.InferenceSession | Error>();
  for (const [name, path] of graphs) {
    sessions.set(name, await openSession(path, { executionProvider: options.provider }).catch((e: Error) => e));
  }
  for (const batch of options.batches) {
    const feeds = feedsOf(featurizer.featurize(fullLengthSequences(manifest, batch, length), BENCH_CUTOFF_MS));
    let reference: Float32Array | null = null;
    for (const [name] of graphs) {
      const session = sessions.get(name)!;
      let row: GpuNodeRow;
      try {
        if (session instanceof Error) throw session;
        const { medianMs, output } = await timeRuns(session, feeds, options.reps);
        reference ??= output;
        row = {
          batch,
          contender: name,
          medianMs: round(medianMs, 4),
          usersPerSec: round((batch * 1000) / medianMs, 4),
          tflops: round((flops * batch) / (medianMs / 1000) / 1e12, 4),
          cosineMinVsFp32: name.endsWith('fp32')
            ? null
            : round(cosineSummary(reference, output, shape.embedding).min, 6),
        };
      } catch (error) {
        row = { batch, contender: name, error: (error instanceof Error ? error.message : String(error)).slice(0, 300) };
      }
      report.rows.push(row);
      save();
      console.error(
        `[gpu-node] batch ${batch} ${name}: ${'error' in row ? `ERROR ${row.error}` : `${row.usersPerSec} users/s`}`,
      );
    }
  }
  for (const session of sessions.values()) if (!(session instanceof Error)) await session.release();
  save();
  return report;
}

export function parseGpuNodeArgs(argv: readonly string[]): GpuNodeOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      model: { type: 'string' },
      out: { type: 'string', default: 'reports/bench-gpu-node.json' },
      fp16: { type: 'string' },
      batches: { type: 'string', default: '64,256,1024' },
      reps: { type: 'string', default: '10' },
      provider: { type: 'string', default: 'cuda' },
    },
    strict: true,
  });
  if (values.model === undefined)
    throw new Error('--model DIR is required (a model directory, e.g. gpu_bench.py WORK/model-6x768)');
  const batches = values.batches.split(',').map(Number);
  if (batches.some((b) => !Number.isInteger(b) || b < 1))
    throw new Error(`--batches must list positive integers, got ${values.batches}`);
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, got ${values.reps}`);
  if (values.provider !== 'cuda' && values.provider !== 'cpu')
    throw new Error(`--provider must be cuda or cpu, got ${values.provider}`);
  return {
    modelDir: values.model,
    out: values.out,
    ...(values.fp16 === undefined ? {} : { fp16Path: values.fp16 }),
    batches,
    reps,
    provider: values.provider,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fail = (error: unknown) => {
    console.error(`[gpu-node] ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  };
  try {
    runGpuNodeBench(parseGpuNodeArgs(process.argv.slice(2))).catch(fail);
  } catch (error) {
    fail(error);
  }
}
