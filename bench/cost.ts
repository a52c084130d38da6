/**
 * Section 3: write cost. Bytes and write units per stored embedding, measured by writing through
 * the real store (DynamoEmbeddingStore on embedded dynalite), and a projected daily/monthly AWS
 * cost for 10M and 100M daily active users from the list prices below.
 */
import { VCPUS_PER_PARTITION } from '../src/contract/run-contract.ts';
import type { EmbeddingDtype } from '../src/embeddings/types.ts';
import { openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { Rng } from '../src/synth/rng.ts';
import { round } from './stats.ts';

/**
 * List prices (USD, us-east-1, on-demand; AWS pricing pages as of 2025). Stated in the report.
 * A10G peaks: NVIDIA A10 datasheet (FP32 31.2 TFLOPS; FP16 tensor core 125 TFLOPS dense).
 */
export const PRICES = {
  g5xlargePerHour: 1.006,
  g5_2xlargePerHour: 1.212,
  g5_4xlargePerHour: 1.624,
  g5_8xlargePerHour: 2.448,
  a10gFp32Tflops: 31.2,
  a10gFp16Tflops: 125,
  dynamoWritePerMillionWru: 0.625,
  dynamoStoragePerGbMonth: 0.25,
  s3StoragePerGbMonth: 0.023,
  s3PutPer1000: 0.005,
} as const;

export interface ItemCost {
  readonly dims: number;
  readonly dtype: EmbeddingDtype;
  readonly items: number;
  readonly bytesPerItem: number;
  readonly writeUnitsPerItem: number;
  /** BatchWriteItem calls per 1,000 users. */
  readonly requestsPer1k: number;
}

/** Writes `count` unit vectors per (dims, dtype) through the store and reads its WriteStats. */
export async function measureItemCost(
  shapes: readonly { dims: number; dtype: EmbeddingDtype }[],
  count = 1000,
): Promise<ItemCost[]> {
  const out: ItemCost[] = [];
  for (const { dims, dtype } of shapes) {
    const local = await openLocalEmbeddings({ store: { dtype } });
    try {
      const rng = new Rng(dims);
      const records = Array.from({ length: count }, (_, i) => {
        const v = Float32Array.from({ length: dims }, () => rng.normal());
        const n = Math.hypot(...v);
        return { userId: `u${String(i).padStart(8, '0')}`, embedding: v.map((x) => x / n) };
      });
      const stats = await local.store.writeEmbeddings(
        { modelVersion: `pf-bench-${dims}`, date: '2026-01-31' },
        records,
      );
      out.push({
        dims,
        dtype,
        items: stats.items,
        bytesPerItem: round(stats.bytes / stats.items),
        writeUnitsPerItem: round(stats.writeUnits / stats.items),
        requestsPer1k: round((1000 * stats.requests) / stats.items),
      });
    } finally {
      await local.close();
    }
  }
  return out;
}

export interface CostInput {
  /** FLOP per embedded user of the model being projected (at the assumed sequence length). */
  readonly flopsPerUser: number;
  /** Fraction of the peak the model reaches (measured on this CPU at its best batch). */
  readonly efficiency: number;
  /**
   * Fractions of the datasheet peak measured on a GPU (bench/gpu.sh) per precision; where present
   * they replace `efficiency`, since a GPU's share of its peak is the better guide to another GPU's.
   */
  readonly gpuEfficiency?: { readonly fp32?: number; readonly fp16?: number };
  readonly writeUnitsPerUser: number;
  readonly bytesPerItem: number;
  /** Object-store bytes per user (embedding + sequence snapshots), and days of snapshots kept. */
  readonly snapshotBytesPerUser: number;
  readonly snapshotRetentionDays: number;
  /** Days an embedding item stays in the table (the store's TTL; default 30). */
  readonly tableRetentionDays: number;
  /** Share of all users active on a day (the synthetic data's ~30%). */
  readonly activeShare: number;
  /**
   * CPU seconds per embedded user of a partition's work outside inference (read, merge, featurize,
   * table client, snapshots), measured on this machine without the local table's server; where
   * present, a container cannot embed faster than its CPU threads do this work.
   */
  readonly cpuSecondsPerUser?: number;
  /** Share of embedded users whose write the write policy skips (section 6, measured); default 0. */
  readonly writeSkipShare?: number;
}

/**
 * Threads of one lane (partition) of a Batch child that do its CPU work: the embedding thread
 * (read, merge, featurize, sequence snapshot) and the writer thread (table writes, embedding
 * snapshot); inference runs on a third, waiting on the GPU. Perfect balance between the two is
 * assumed, and a lane's 4 vCPUs (src/contract/run-contract.ts) are 2 cores.
 */
export const CPU_THREADS_PER_LANE = 2;

/** One A10G each; a child with `partitionsPerJob` lanes takes the size with 4 vCPUs per lane. */
export const CONTAINER_SHAPES = [
  { instance: 'g5.xlarge', partitionsPerJob: 1, usdPerHour: PRICES.g5xlargePerHour },
  { instance: 'g5.2xlarge', partitionsPerJob: 2, usdPerHour: PRICES.g5_2xlargePerHour },
  { instance: 'g5.4xlarge', partitionsPerJob: 4, usdPerHour: PRICES.g5_4xlargePerHour },
  { instance: 'g5.8xlarge', partitionsPerJob: 8, usdPerHour: PRICES.g5_8xlargePerHour },
].map((shape) => ({ ...shape, vcpus: VCPUS_PER_PARTITION * shape.partitionsPerJob }));

/** What a day costs on one container shape. */
export interface ShapeCost {
  readonly instance: string;
  readonly partitionsPerJob: number;
  /** Instance hours a day: the GPU's time, or the lanes' CPU work where that takes longer. */
  readonly hoursPerDay: number;
  readonly cpuBoundHoursPerDay?: number;
  readonly limitedBy: 'gpu' | 'cpu';
  readonly usdPerDay: number;
}

/** The cost section of the report: the inputs it assumed and a row per (daily active users, precision). */
export interface CostProjection {
  readonly assumptions: Record<string, unknown>;
  readonly rows: readonly CostRow[];
}

export interface CostRow {
  readonly dailyActiveUsers: number;
  readonly precision: 'fp32' | 'fp16';
  /** The share of the A10G's peak assumed, and where it was measured. */
  readonly efficiency: number;
  readonly efficiencyFrom: 'gpu' | 'cpu';
  /** The cheapest container shape (the rows below use it), and every shape considered. */
  readonly instance: string;
  readonly partitionsPerJob: number;
  readonly byShape: readonly ShapeCost[];
  /** Instance hours a day on the cheapest shape: the GPU's time, or the CPU work where that takes longer. */
  readonly gpuHoursPerDay: number;
  /** Hours the GPU alone would need, and what limits a container (the larger of the two). */
  readonly gpuBoundHoursPerDay: number;
  readonly cpuBoundHoursPerDay?: number;
  readonly limitedBy: 'gpu' | 'cpu';
  readonly usdPerDay: {
    readonly gpu: number;
    readonly dynamoWrites: number;
    readonly dynamoStorage: number;
    readonly s3: number;
    readonly total: number;
  };
  readonly usdPerMonth: number;
}

/**
 * Daily and monthly (30-day) cost of embedding `dau` users a day on g5 instances + DynamoDB + S3,
 * on the cheapest container shape: each is billed for whichever takes longer, its GPU's time or
 * its lanes' CPU work (more lanes: more cores on the same GPU, at a higher hourly price).
 */
export function projectCost(input: CostInput, dau: number, precision: 'fp32' | 'fp16'): CostRow {
  const peak = (precision === 'fp32' ? PRICES.a10gFp32Tflops : PRICES.a10gFp16Tflops) * 1e12;
  const measuredOnGpu = input.gpuEfficiency?.[precision];
  const efficiency = measuredOnGpu ?? input.efficiency;
  const gpuSeconds = (dau * input.flopsPerUser) / (peak * efficiency);
  const byShape: ShapeCost[] = CONTAINER_SHAPES.map((shape) => {
    const cpuSeconds =
      input.cpuSecondsPerUser === undefined
        ? undefined
        : (dau * input.cpuSecondsPerUser) / (CPU_THREADS_PER_LANE * shape.partitionsPerJob);
    const hours = Math.max(gpuSeconds, cpuSeconds ?? 0) / 3600;
    return {
      instance: shape.instance,
      partitionsPerJob: shape.partitionsPerJob,
      hoursPerDay: hours,
      ...(cpuSeconds === undefined ? {} : { cpuBoundHoursPerDay: cpuSeconds / 3600 }),
      limitedBy: cpuSeconds !== undefined && cpuSeconds > gpuSeconds ? 'cpu' : 'gpu',
      usdPerDay: hours * shape.usdPerHour,
    };
  });
  const best = byShape.reduce((a, b) => (b.usdPerDay < a.usdPerDay ? b : a));
  const gpu = best.usdPerDay;
  const written = dau * (1 - (input.writeSkipShare ?? 0));
  const dynamoWrites = ((written * input.writeUnitsPerUser) / 1e6) * PRICES.dynamoWritePerMillionWru;
  // Items of the last tableRetentionDays days are stored (one per written user and day).
  const storedGb = (written * input.tableRetentionDays * input.bytesPerItem) / 1e9;
  const dynamoStorage = (storedGb * PRICES.dynamoStoragePerGbMonth) / 30;
  const allUsers = dau / input.activeShare;
  const s3Gb = (allUsers * input.snapshotBytesPerUser * input.snapshotRetentionDays) / 1e9;
  const s3 = (s3Gb * PRICES.s3StoragePerGbMonth) / 30;
  const total = gpu + dynamoWrites + dynamoStorage + s3;
  return {
    dailyActiveUsers: dau,
    precision,
    efficiency: round(efficiency),
    efficiencyFrom: measuredOnGpu === undefined ? 'cpu' : 'gpu',
    instance: best.instance,
    partitionsPerJob: best.partitionsPerJob,
    byShape: byShape.map((c) => ({
      ...c,
      hoursPerDay: round(c.hoursPerDay),
      ...(c.cpuBoundHoursPerDay === undefined ? {} : { cpuBoundHoursPerDay: round(c.cpuBoundHoursPerDay) }),
      usdPerDay: round(c.usdPerDay),
    })),
    gpuHoursPerDay: round(best.hoursPerDay),
    gpuBoundHoursPerDay: round(gpuSeconds / 3600),
    ...(best.cpuBoundHoursPerDay === undefined ? {} : { cpuBoundHoursPerDay: round(best.cpuBoundHoursPerDay) }),
    limitedBy: best.limitedBy,
    usdPerDay: {
      gpu: round(gpu),
      dynamoWrites: round(dynamoWrites),
      dynamoStorage: round(dynamoStorage),
      s3: round(s3),
      total: round(total),
    },
    usdPerMonth: round(total * 30),
  };
}
