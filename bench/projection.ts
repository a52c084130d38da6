/**
 * Section 3b: the projected AWS cost of a paper-size model at 10M and 100M daily active users,
 * from this run's figures (or, re-rendering, from a stored report's): the write cost per item, the
 * snapshot bytes, the inference efficiency, the GPU results and the container's CPU side.
 */
import {
  type CostInput,
  type CostProjection,
  type CostRow,
  CPU_THREADS_PER_LANE,
  type ItemCost,
  PRICES,
  projectCost,
} from './cost.ts';
import type { DailySizeResult } from './daily.ts';
import { flopsPerUser, type ModelShape } from './flops.ts';
import { type GpuResults, gpuEfficiency } from './gpu-results.ts';
import type { PaddingResult } from './inference.ts';
import { PAPER_SIZE } from './models.ts';
import { cpuSecondsPerUser, type PipeliningResult } from './pipelining.ts';
import { round } from './stats.ts';
import { runGemmPeak } from './targets.ts';
import type { BenchReport } from './types.ts';
import { type WritePolicyResult, writeSkipShareOf } from './write-policy.ts';

/**
 * The paper-size efficiency for the cost projection: the best fp32-accurate onnxruntime graph over
 * the run's highest GEMM figure (runGemmPeak); 0.5 when the paper size did not run.
 */
export function paperEfficiency(
  startEndPeak: number,
  demo: BenchReport['inference']['demo'],
  paper: BenchReport['inference']['paper'],
): number {
  const peak = runGemmPeak(startEndPeak, [demo, paper]);
  const best = (paper?.batches ?? [])
    .flatMap((b) =>
      b.contenders.filter((c) => c.name !== 'pytorch' && !c.name.includes('int8') && (c.cosineMin ?? 0) >= 0.999),
    )
    .reduce((a, c) => Math.max((c.usersPerSec * c.flopsPerUser) / 1e9 / peak, a), 0);
  return best > 0 ? Math.min(best, 1) : 0.5;
}

/** The projection's GPU assumption: measured on a GPU when gpu.sh's results are there, else this CPU's share. */
export function gpuAssumption(gpu: GpuResults | undefined): Pick<CostInput, 'gpuEfficiency'> & { gpu: string } {
  if (!gpu) {
    return {
      gpu: 'g5 (1× A10G per container); throughput = A10G datasheet peak × the share of peak measured on this CPU',
    };
  }
  const measured = gpuEfficiency(gpu);
  return {
    gpuEfficiency: measured,
    gpu: `g5 (1× A10G per container); throughput = A10G datasheet peak × the share of its datasheet peak the model reached on ${measured.source}`,
  };
}

/**
 * The container's CPU side for the projection: CPU seconds per full-length user outside inference
 * (from the profiled daily run, bench/pipelining.ts) and the note that says how it was derived.
 */
export function cpuSideAssumption(
  pipelining: PipeliningResult | undefined,
  padding: PaddingResult | undefined,
): { input: { cpuSecondsPerUser?: number }; notes: { cpuNote?: string } } {
  const perUser =
    pipelining && padding ? cpuSecondsPerUser(pipelining, padding.meanLength, PAPER_SIZE.maxLength) : undefined;
  if (perUser === undefined) return { input: {}, notes: {} };
  return {
    input: { cpuSecondsPerUser: round(perUser, 6) },
    notes: {
      cpuNote: `a container's CPU work outside inference (section 2, CPU by component, without the local table's server; per-event parts scaled from the measured mean length ${padding!.meanLength} to ${PAPER_SIZE.maxLength}) is ${round(perUser * 1000)} CPU-ms per user at this machine's per-core speed, on ${CPU_THREADS_PER_LANE} threads per lane (partition) of a container`,
    },
  };
}

/** Projected daily and monthly cost for 10M and 100M daily active users, fp32 and fp16. */
export function projectionOf(input: CostInput): { rows: CostRow[] } {
  return {
    rows: [10_000_000, 100_000_000].flatMap((dau) => [
      projectCost(input, dau, 'fp32'),
      projectCost(input, dau, 'fp16'),
    ]),
  };
}

/** This run's figures the projection reads. */
export interface ProjectionFigures {
  /** The smallest daily run of the shipped model (its steady day's snapshots). */
  readonly smallest: DailySizeResult | undefined;
  readonly items: readonly ItemCost[];
  readonly demoShape: ModelShape;
  /** The demo model's item-vector and embedding widths (the paper size's differ). */
  readonly demoDims: { readonly itemVector: number; readonly embedding: number };
  readonly peakGflops: number;
  readonly inference: BenchReport['inference'];
  readonly pipelining?: PipeliningResult;
  readonly writePolicy?: WritePolicyResult;
  readonly gpu?: GpuResults;
}

/** Snapshot bytes per user at the paper size, scaled from the smallest daily run's steady day. */
function snapshotBytesPerUser(figures: ProjectionFigures, padding: PaddingResult | undefined): number | undefined {
  const { smallest } = figures;
  const steady = smallest?.runs.find((r) => r.role === 'steady');
  if (!smallest || !steady) return undefined;
  const snapshotUsers = smallest.users; // every user with history is in the day's snapshots
  const seqBytesPerEvent =
    padding && padding.realTokens > 0 ? steady.snapshotBytes.sequences / (snapshotUsers * padding.meanLength) : 20;
  return (
    steady.snapshotBytes.embeddings / snapshotUsers +
    (PAPER_SIZE.embedding - figures.demoDims.embedding) * 4 +
    seqBytesPerEvent * PAPER_SIZE.maxLength
  );
}

/** Section 3b from this run's figures; undefined without the write cost or a steady day. */
export function costProjection(figures: ProjectionFigures): CostProjection | undefined {
  const { padding, demo, paper } = figures.inference;
  const paperItem = figures.items.find((i) => i.dims === PAPER_SIZE.embedding && i.dtype === 'float16');
  const snapshotBytes = snapshotBytesPerUser(figures, padding);
  if (!paperItem || snapshotBytes === undefined) return undefined;
  const { demoShape } = figures;
  const paperShapeFlops = flopsPerUser(
    {
      ...demoShape,
      ...PAPER_SIZE,
      inputWidth: PAPER_SIZE.itemVector + (demoShape.inputWidth - figures.demoDims.itemVector),
    },
    PAPER_SIZE.maxLength,
    { lastBlockAtLastPosition: true },
  );
  const { gpu: gpuNote, ...measuredOnGpu } = gpuAssumption(figures.gpu);
  const cpuSide = cpuSideAssumption(figures.pipelining, padding);
  const writeSkipShare = writeSkipShareOf(figures.writePolicy);
  const input = {
    flopsPerUser: paperShapeFlops,
    efficiency: paperEfficiency(figures.peakGflops, demo, paper),
    ...measuredOnGpu,
    ...cpuSide.input,
    writeUnitsPerUser: paperItem.writeUnitsPerItem,
    bytesPerItem: paperItem.bytesPerItem,
    snapshotBytesPerUser: snapshotBytes,
    snapshotRetentionDays: 7,
    tableRetentionDays: 30,
    activeShare: 0.3,
    ...(writeSkipShare === undefined ? {} : { writeSkipShare }),
  };
  return {
    assumptions: {
      ...input,
      model: 'paper size 6×768, D 256, every embedded user at full length M=256 (a year of history)',
      gpu: gpuNote,
      prices: PRICES,
      note: 'S3: embedding + sequence snapshots of all users (DAU / 0.3) kept 7 days; DynamoDB: one item per embedded user per day, kept 30 days (TTL)',
      ...cpuSide.notes,
    },
    ...projectionOf(input),
  };
}

/** A stored report's projection re-derived with the current rules and GPU results (`--render`). */
export function reprojected(earlier: BenchReport, gpu: GpuResults | undefined): CostProjection | undefined {
  if (!earlier.projection) return undefined;
  // the projection follows the current efficiency rule too (its other inputs are stored)
  const efficiency = paperEfficiency(earlier.gemm.peakGflops, earlier.inference.demo, earlier.inference.paper);
  const { gpuEfficiency: _stale, ...stored } = earlier.projection.assumptions as Partial<CostInput>;
  const cpuSide = cpuSideAssumption(earlier.pipelining, earlier.inference.padding);
  const writeSkipShare = writeSkipShareOf(earlier.writePolicy);
  const assumptions = {
    ...stored,
    ...(writeSkipShare === undefined ? {} : { writeSkipShare }),
    efficiency,
    prices: PRICES,
    ...gpuAssumption(gpu),
    ...cpuSide.input,
    ...cpuSide.notes,
  };
  return { assumptions, ...projectionOf(assumptions as unknown as CostInput) };
}
