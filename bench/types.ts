/**
 * The benchmark report's types (reports/bench.json): shared by the run (main.ts), the verdicts
 * (targets.ts) and the markdown (report.ts), so that none of them imports another's entry point.
 */
import type { ActiveCostResult } from './active-cost.ts';
import type { CostProjection, ItemCost } from './cost.ts';
import type { DailySizeResult } from './daily.ts';
import type { GpuResults } from './gpu-results.ts';
import type { GemmPeak, ModelInferenceResult, PaddingResult } from './inference.ts';
import type { LanesResult } from './lanes.ts';
import type { LookupFigures } from './lookup.ts';
import type { Variants } from './models.ts';
import type { PipeliningResult } from './pipelining.ts';
import type { ScaleResult } from './scale-sim.ts';
import type { WritePolicyResult } from './write-policy.ts';

/** MET or MISS against its goal; RETIRED: still measured and shown, no longer judged (reason in `why`). */
export type Verdict = 'MET' | 'MISS' | 'RETIRED';

export interface TargetResult {
  readonly name: string;
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
  readonly verdict: Verdict;
  /** measured / target (above 1 is met for "at least" targets). */
  readonly ratio: number;
  readonly why: string;
}

export interface BenchReport {
  readonly createdAt: string;
  readonly command: string;
  readonly wallSeconds: number;
  readonly machine: {
    readonly cpu: string;
    readonly cores: number;
    readonly memoryGiB: number;
    readonly node: string;
    readonly onnxruntimeNode: string;
    readonly threads: number;
    readonly loadAverageStart: readonly number[];
    readonly loadAverageEnd: readonly number[];
  };
  readonly settings: Record<string, unknown>;
  readonly gemm: { readonly start?: GemmPeak; readonly end?: GemmPeak; readonly peakGflops: number };
  readonly inference: {
    readonly demo?: ModelInferenceResult & { readonly trained: boolean; readonly variants: Variants['details'] };
    readonly paper?: ModelInferenceResult & { readonly variants: Variants['details'] };
    readonly padding?: PaddingResult;
  };
  readonly daily: readonly DailySizeResult[];
  /** Serial vs pipelined embed stage, and where its CPU goes, on one daily size's steady day. */
  readonly pipelining?: PipeliningResult;
  /** A Batch child's partitions one after another vs at once on lanes (batch-container/worker.ts). */
  readonly lanes?: LanesResult;
  readonly writeCost: {
    readonly items: readonly ItemCost[];
    readonly fromDailyRuns: readonly Record<string, number>[];
  };
  readonly projection?: CostProjection;
  readonly lookup: readonly LookupFigures[];
  /** The last GPU session's results (bench/gpu.sh), when its files are in the --gpu folder. */
  readonly gpu?: GpuResults;
  /** Section 6: write only what changed (bench/write-policy.ts). */
  readonly writePolicy?: WritePolicyResult;
  /** Section 7: the scale plan's simulation (bench/scale-sim.ts). */
  readonly scale?: ScaleResult;
  /** Section 8: cost that follows active users, full snapshots against deltas (bench/active-cost.ts). */
  readonly activeCost?: ActiveCostResult;
  readonly targets: readonly TargetResult[];
  readonly errors: readonly string[];
}
