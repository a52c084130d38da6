/**
 * The stage contract of the daily run. The local runner (src/pipeline/local-runner.ts), the
 * Lambda handlers (lambdas/) and the Batch worker (batch-container/) all call these same stage
 * functions; only the stores and the launcher differ.
 *
 * Object-store layout (one bucket/prefix or one local directory):
 *   events/dt=YYYY-MM-DD/*.parquet          input events (docs/data.md)
 *   items/*.parquet                         optional item table with pretrained vectors
 *   models/<modelVersion>/...               deployed model directories (docs/model-interface.md)
 *   runs/<modelVersion>/dt=D/manifest.json  run manifest written by plan
 *   runs/<modelVersion>/dt=D/slices/*       partition-stage results and quarantine
 *   runs/<modelVersion>/dt=D/partitions/*   embed-stage result manifests
 *   work/dt=D/partition=P/*.parquet         partition inputs (events routed by user hash)
 *   sequences/dt=D/partition=P.parquet      sequence snapshot after merging D
 *   embeddings/model=<mv>/dt=D/part-P.parquet  merged daily embedding snapshot (offline consumers)
 */
import type { EmbeddingStore } from '../embeddings/types.ts';
import type { ObjectStore } from '../storage/object-store.ts';

export type ExecutionProvider = 'cpu' | 'cuda';

/** The stores a stage runs against; local mode passes a directory store and embedded dynalite. */
export interface PipelineEnv {
  readonly objects: ObjectStore;
  readonly embeddings: EmbeddingStore;
  /** Progress/log sink; stages stay silent when absent. */
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface PlanInput {
  /** Run date, YYYY-MM-DD (UTC). */
  readonly date: string;
  /** Model version already deployed under models/<modelVersion>/. */
  readonly modelVersion: string;
  /** Partition count; default 8 (local) — fixed per deployment. */
  readonly partitions?: number;
  /** Re-embed every user with a sequence, not only the active/stale ones. */
  readonly backfill?: boolean;
  /** Users whose newest embedding is older than this are re-embedded; default 7 days. */
  readonly refreshAgeDays?: number;
  /** First run without a snapshot: how many earlier days to rebuild sequences from; default 365. */
  readonly lookbackDays?: number;
  /** Upper bound of event bytes one partition-stage invocation reads; default 64 MiB. */
  readonly sliceBytes?: number;
}

export interface RunManifest {
  readonly version: string; // `${modelVersion}@${date}`
  readonly date: string;
  readonly modelVersion: string;
  readonly partitions: number;
  readonly slices: readonly { readonly index: number; readonly files: readonly string[] }[];
  readonly backfill: boolean;
  readonly refreshAgeDays: number;
  readonly lookbackDays: number;
  readonly previousSnapshotDate?: string;
  readonly createdAt: string;
}

export interface SliceResult {
  readonly slice: number;
  readonly events: number;
  readonly invalidEvents: number;
  readonly invalidByReason: Readonly<Record<string, number>>;
}

export interface PartitionResult {
  readonly partition: number;
  readonly users: number;
  readonly activeUsers: number;
  readonly embeddedUsers: number;
  readonly secondsByStep: Readonly<Record<string, number>>;
  readonly writeStats: { readonly items: number; readonly requests: number; readonly retries: number };
}

export interface PublishResult {
  readonly version: string;
  readonly published: boolean;
  /** Why the gate refused, when it did. */
  readonly reasons: readonly string[];
}

/** One JSON summary per daily run: what `pinnerformer daily --json` prints. */
export interface DailySummary {
  readonly date: string;
  readonly modelVersion: string;
  readonly version: string;
  readonly partitions: number;
  readonly events: number;
  readonly invalidEvents: number;
  readonly activeUsers: number;
  readonly embeddedUsers: number;
  readonly published: boolean;
  readonly reasons: readonly string[];
  readonly secondsByStage: Readonly<Record<string, number>>;
}

/*
 * The stage functions (implemented in src/pipeline/<stage>.ts, exported from src/pipeline/index.ts):
 *   plan(env, input: PlanInput): Promise<RunManifest>
 *   partitionSlice(env, { date, modelVersion, slice }): Promise<SliceResult>
 *   embedPartition(env, { date, modelVersion, partition, executionProvider }): Promise<PartitionResult>
 *   publish(env, { date, modelVersion }): Promise<PublishResult>
 *   deployModel(env, localModelDir): Promise<{ modelVersion }>   // uploads models/<mv>/ and records it
 */
