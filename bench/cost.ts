/**
 * Section 3: write cost. Bytes and write units per stored embedding, measured by writing through
 * the real store (DynamoEmbeddingStore on embedded dynalite), and a projected daily/monthly AWS
 * cost for 10M and 100M daily active users from the list prices below.
 */
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
}

/**
 * Threads of a Batch container that do a partition's CPU work: the embedding thread (read, merge,
 * featurize, sequence snapshot) and the writer thread (table writes, embedding snapshot);
 * inference runs on a third, waiting on the GPU. Perfect balance between the two is assumed.
 */
export const CONTAINER_CPU_THREADS = 2;

export interface CostRow {
  readonly dailyActiveUsers: number;
  readonly precision: 'fp32' | 'fp16';
  /** The share of the A10G's peak assumed, and where it was measured. */
  readonly efficiency: number;
  readonly efficiencyFrom: 'gpu' | 'cpu';
  /** Instance hours a day: the GPU's time, or the container's CPU work where that takes longer. */
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

/** Daily and monthly (30-day) cost of embedding `dau` users a day on g5.xlarge + DynamoDB + S3. */
export function projectCost(input: CostInput, dau: number, precision: 'fp32' | 'fp16'): CostRow {
  const peak = (precision === 'fp32' ? PRICES.a10gFp32Tflops : PRICES.a10gFp16Tflops) * 1e12;
  const measuredOnGpu = input.gpuEfficiency?.[precision];
  const efficiency = measuredOnGpu ?? input.efficiency;
  const gpuSeconds = (dau * input.flopsPerUser) / (peak * efficiency);
  const cpuSeconds =
    input.cpuSecondsPerUser === undefined ? undefined : (dau * input.cpuSecondsPerUser) / CONTAINER_CPU_THREADS;
  const limitedBy = cpuSeconds !== undefined && cpuSeconds > gpuSeconds ? 'cpu' : 'gpu';
  const gpuHours = Math.max(gpuSeconds, cpuSeconds ?? 0) / 3600;
  const gpu = gpuHours * PRICES.g5xlargePerHour;
  const dynamoWrites = ((dau * input.writeUnitsPerUser) / 1e6) * PRICES.dynamoWritePerMillionWru;
  // Items of the last tableRetentionDays days are stored (one per embedded user and day).
  const storedGb = (dau * input.tableRetentionDays * input.bytesPerItem) / 1e9;
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
    gpuHoursPerDay: round(gpuHours),
    gpuBoundHoursPerDay: round(gpuSeconds / 3600),
    ...(cpuSeconds === undefined ? {} : { cpuBoundHoursPerDay: round(cpuSeconds / 3600) }),
    limitedBy,
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
