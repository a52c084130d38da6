/**
 * The stage contract of the daily run. The local runner (src/pipeline/local-runner.ts), the
 * Lambda handlers (lambdas/) and the Batch worker (batch-container/) all call these same stage
 * functions; only the stores and the launcher differ.
 *
 * Object-store layout (one bucket/prefix or one local directory; keys in layout.ts). Everything a
 * run writes lives under its model version <mv>, so two models never share state:
 *   events/dt=YYYY-MM-DD/*.parquet               input events (docs/data.md)
 *   items/*.parquet                              optional item table with pretrained vectors
 *   models/<mv>/...                              deployed model directories (docs/model-interface.md)
 *   runs/<mv>/dt=D/manifest.json                 run manifest written by plan
 *   runs/<mv>/dt=D/slices/slice=S.json           partition-stage results (+ slice=S.quarantine.parquet)
 *   runs/<mv>/dt=D/partitions/partition=P.json   embed-stage results (written last: "partition done")
 *   runs/<mv>/dt=D/publish.json                  the gate's verdict
 *   work/<mv>/dt=D/partition=P/slice=S.parquet   partition inputs (events routed by user hash)
 *   sequences/<mv>/dt=D/partition=P.parquet      sequence snapshot after merging D
 *   embeddings/model=<mv>/dt=D/part-P.parquet    merged daily embedding snapshot (offline consumers)
 * (P and S are zero-padded to 5 digits.)
 */
import type { EmbeddingStore, EmbeddingWriter, VersionReader, VersionRegistry } from '../embeddings/types.ts';
import type { IgnoredFile } from '../events/day-files.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import type { InputChange } from './input-days.ts';

export type ExecutionProvider = 'cpu' | 'cuda';

/** What every stage has: the object store and a log. The partition stage has nothing else. */
export interface ObjectsEnv {
  readonly objects: ObjectStore;
  /** Progress/log sink; stages stay silent when absent. */
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * The stores a stage runs against, with the table role it uses (src/embeddings/types.ts; the
 * same roles src/contract/table-access.ts grants on AWS). Local mode passes a directory store and
 * embedded dynalite with every role (`PipelineEnv`); the Lambdas and the Batch worker open only
 * the role of their stage.
 */
export interface StageEnv<Table> extends ObjectsEnv {
  readonly embeddings: Table;
}
/** Every role: the local runner, which runs all stages against one store. */
export type PipelineEnv = StageEnv<EmbeddingStore>;
/** Plan: reads the versions (previous state, published attempt, the write policy's dates). */
export type PlanEnv = StageEnv<VersionReader>;
/** Partition: no table at all. */
export type PartitionEnv = ObjectsEnv;
/** Embed: writes embedding items, nothing else. */
export type EmbedEnv = StageEnv<EmbeddingWriter>;
/** Publish: records the version and moves the pointer. */
export type PublishEnv = StageEnv<VersionRegistry>;

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
  /** A date whose day starts more than this many hours after now is refused; default 6. */
  readonly futureToleranceHours?: number;
  /** Clock in epoch ms (the future-date check); default Date.now. */
  readonly now?: () => number;
  /** Refuse a day without `events/dt=D/_SUCCESS` (the writer has not finished); default false. */
  readonly requireMarker?: boolean;
  /**
   * Rebuild from the published state before this day (instead of the newest), so that input that
   * changed or arrived late from this day on is in the sequences again.
   */
  readonly replayFrom?: string;
  /**
   * Write a full snapshot (compaction) at least every this many days; the days between write
   * deltas of the users they change (src/pipeline/state-chain.ts); default 7. 1: full every day.
   */
  readonly compactEveryDays?: number;
  /**
   * Also compact when the previous state's deltas hold more than this share of its base's bytes;
   * default 0.5.
   */
  readonly compactDeltaShare?: number;
  /**
   * Skip the table write of a user whose stored embedding is within this cosine of the new one
   * (src/pipeline/write-policy.ts); default: write every embedded user.
   */
  readonly writeSkipCosine?: number;
}

/** One day's state files (a full snapshot or a delta), of the attempt that published it. */
export interface StateFile {
  readonly date: string;
  readonly attempt?: string;
  /**
   * The partitions whose full snapshot this file is (they compacted that day); the rest wrote a
   * delta. Absent: the chain's base is every partition's full snapshot, a later file none's.
   */
  readonly full?: readonly number[];
}

/** A partition's state as of a published day: a full snapshot (base) and the deltas after it, oldest first. */
export interface StateChain {
  readonly base: StateFile;
  readonly deltas: readonly StateFile[];
}

export interface RunManifest {
  readonly version: string; // `${modelVersion}@${date}`
  readonly date: string;
  /**
   * This run attempt's id when the date was already published at plan time: everything it writes
   * (objects and table items) is keyed apart from the published version (layout.ts). Absent for
   * a date's first attempt, which uses the bare keys.
   */
  readonly attempt?: string;
  readonly modelVersion: string;
  readonly partitions: number;
  /** Event files per partition-stage invocation; each file with its day (D, or a catch-up day). */
  readonly slices: readonly {
    readonly index: number;
    readonly files: readonly SliceFile[];
  }[];
  /** Event days routed by this run: D, plus the days since the previous snapshot (or the look-back). */
  readonly days: readonly string[];
  /** Bytes of D's own event files (0 for an empty day). */
  readonly eventBytes: number;
  readonly backfill: boolean;
  readonly refreshAgeDays: number;
  /** The write policy's threshold, when the run has one. */
  readonly writeSkipCosine?: number;
  /**
   * With a threshold and no backfill: the dates of this model readers saw when the run was planned
   * (published, not withdrawn, first attempt, before D), whose items the write policy may keep
   * (src/pipeline/write-policy.ts). The plan reads them, so the embed stage only writes the table.
   */
  readonly writePolicyDates?: readonly string[];
  readonly lookbackDays: number;
  /** The newest earlier published (not withdrawn) date under this model with the same P, if any. */
  readonly previousSnapshotDate?: string;
  /** The published attempt of previousSnapshotDate, when it was a rerun's. */
  readonly previousSnapshotAttempt?: string;
  /** PlanInput.replayFrom, when the run replays from an earlier day. */
  readonly replayFrom?: string;
  /**
   * What this run writes of the state (src/pipeline/state-chain.ts): 'full' snapshots of every
   * user, or a 'delta' of the users it changed on top of `previousState`. Absent (manifests
   * written before deltas): full.
   */
  readonly snapshot?: 'full' | 'delta';
  /**
   * On a 'delta' run, the partitions that compact anyway (write a full snapshot): their staggered
   * day, a day they missed, or deltas outgrowing their base (src/pipeline/state-chain.ts).
   */
  readonly fullPartitions?: readonly number[];
  /** The files the previous published state is read from: its base and the deltas after it, oldest first. */
  readonly previousState?: StateChain;
  /** PlanInput.compactEveryDays as the plan applied it. */
  readonly compactEveryDays?: number;
  /** PlanInput.compactDeltaShare as the plan applied it. */
  readonly compactDeltaShare?: number;
  /**
   * Fingerprint of each event day the run's state is built from (the previous state's days and
   * this run's), src/pipeline/input-days.ts. Absent in manifests written before it.
   */
  readonly dayFingerprints?: Readonly<Record<string, string>>;
  /** Objects in the run's day folders that are not read, with why (src/events/day-files.ts). */
  readonly ignoredFiles?: readonly IgnoredFile[];
  /** Days up to the previous state's date whose input changed or arrived after it was built. */
  readonly inputChanges?: readonly InputChange[];
  readonly maxLength: number;
  readonly createdAt: string;
}

/** One event file of a slice, or a piece of one (consecutive row groups of a file larger than a slice). */
export interface SliceFile {
  readonly key: string;
  readonly date: string;
  /** Bytes this entry reads: the file, or the piece's row groups (compressed). */
  readonly size: number;
  /** Only for a piece: its rows [start, end) in the file, and the file's size. */
  readonly part?: { readonly rows: readonly [number, number]; readonly fileSize: number };
}

export interface SliceResult {
  readonly slice: number;
  /** Valid rows of D's own files. */
  readonly events: number;
  /** Invalid (quarantined) rows of D's own files. */
  readonly invalidEvents: number;
  /** Valid / invalid rows of catch-up days' files. */
  readonly historyEvents: number;
  readonly historyInvalidEvents: number;
  readonly invalidByReason: Readonly<Record<string, number>>;
  /** Valid and invalid rows per event day (D and each catch-up day): the gate judges each day alone. */
  readonly byDay?: Readonly<Record<string, { readonly valid: number; readonly invalid: number }>>;
  /** Rows written to work files per partition (sums to events + historyEvents). */
  readonly routed: number;
  readonly quarantineKey?: string;
  readonly seconds: number;
}

/** Output checks one partition computes over its whole merged snapshot; publish aggregates them. */
export interface EmbeddingStats {
  /** Users in the embedding snapshot (new and carried over). */
  readonly users: number;
  readonly nonFinite: number;
  readonly minNorm: number;
  readonly maxNorm: number;
  /** Sum of all snapshot vectors (for the collapse check: the norm of their mean). */
  readonly sum: readonly number[];
  /** Re-embedded users that had an earlier embedding, and the sum of cos(new, previous) over them. */
  readonly driftUsers: number;
  readonly driftCosineSum: number;
}

/** The item table against the events a partition read (the gate's input check). */
export interface ItemInputs {
  /** The model's pretrained item-vector width (manifest dims.itemVector); 0: it uses none. */
  readonly itemVector: number;
  /** Items with a vector in `items/*.parquet` (0 when the table is missing). */
  readonly tableItems: number;
  /** Events the partition read (its work files). */
  readonly events: number;
  /** Of them, events whose item has no vector in the table. */
  readonly unknownItemEvents: number;
  /** The manifest's `items.trainingCoverage`, when the model declares it. */
  readonly trainingCoverage?: number;
}

export interface PartitionResult {
  readonly partition: number;
  readonly date: string;
  readonly modelVersion: string;
  /** Users with a sequence in the new snapshot. */
  readonly users: number;
  /** Users with an event of the model's action vocabulary on D. */
  readonly activeUsers: number;
  readonly embeddedUsers: number;
  /** Rows read from the work files (must equal the rows the slices routed here). */
  readonly workEvents: number;
  readonly secondsByStep: Readonly<Record<string, number>>;
  readonly writeStats: {
    readonly items: number;
    readonly requests: number;
    readonly retries: number;
    readonly throttles: number;
    /** Embedded users not written because their stored item is close enough (only with a write policy). */
    readonly kept?: number;
  };
  /** Padded / real positions over all inference batches (length bucketing's effect). */
  readonly tokens: { readonly padded: number; readonly real: number };
  /** Item-table coverage of the events read; absent in results written before it. */
  readonly itemInputs?: ItemInputs;
  /**
   * Inference of this partition (its wall time is secondsByStep.infer): threaded = on an inference
   * thread, beside the partition's other steps; cpuSeconds = CPU time of its session.run calls,
   * measured only by the caller's profiler (src/inference/profiler.ts, one onnxruntime thread).
   */
  readonly inference?: { readonly threaded: boolean; readonly cpuSeconds?: number };
  readonly stats: EmbeddingStats;
}

export interface GateThresholds {
  /** Norms must lie within 1 ± this; default 1e-3. */
  readonly normTolerance?: number;
  /** Refuse when the mean cos(new, previous) of re-embedded users is below this; default 0.2. */
  readonly minMeanCosine?: number;
  /** Refuse when the norm of the mean embedding exceeds this (all users alike); default 0.98. */
  readonly maxMeanNorm?: number;
  /** Refuse when invalid rows exceed this share of any one event day's rows; default 0.05. */
  readonly maxInvalidShare?: number;
  /**
   * For a model whose manifest declares `items.trainingCoverage` (the share of training events
   * whose item had a vector): refuse when the run's share is below this fraction of it; default 0.5.
   */
  readonly minItemCoverageRatio?: number;
}

export interface PublishResult {
  readonly version: string;
  readonly published: boolean;
  /** Whether the current-version pointer now names this version (false for a rerun of an older day). */
  readonly pointerMoved: boolean;
  /** Why the gate refused, when it did. */
  readonly reasons: readonly string[];
  readonly checks: Readonly<Record<string, number | boolean | null>>;
}

/** The embed stage's inference load, measured by the local runner. */
export interface EmbedStageInference {
  /** Inference lanes: the stage threads, each with one session. */
  readonly lanes: number;
  /** Whether inference ran on inference threads beside the partitions' other work. */
  readonly pipelined: boolean;
  /** Wall seconds of all session.run calls (a run waiting for a core counts: it holds its lane). */
  readonly busySeconds: number;
  /** busySeconds / (embed-stage wall seconds × lanes). */
  readonly busyShare: number;
  /** CPU seconds of the whole process during the embed stage (every thread, the embedded table's too). */
  readonly stageCpuSeconds: number;
  /** CPU seconds spent in session.run, with a profiler (runDaily's `profiler`, one intra-op thread). */
  readonly cpuSeconds?: number;
  /** cpuSeconds / stageCpuSeconds: where the machine's cores went. */
  readonly cpuShare?: number;
}

/** One JSON summary per daily run: what `pinnerformer daily --json` prints. */
export interface DailySummary {
  readonly date: string;
  readonly modelVersion: string;
  readonly version: string;
  /** The run attempt, when this was a rerun of a published date (RunManifest.attempt). */
  readonly attempt?: string;
  /** Objects in the run's day folders that were not read, with why. */
  readonly ignoredFiles?: readonly IgnoredFile[];
  /** Days whose input changed or arrived after the published state was built (not in this run). */
  readonly inputChanges?: readonly InputChange[];
  /** The command that replays from the earliest of inputChanges. */
  readonly replay?: string;
  readonly partitions: number;
  readonly events: number;
  readonly invalidEvents: number;
  readonly activeUsers: number;
  readonly embeddedUsers: number;
  /** Share of the events read whose item has no vector in the item table (0 when none were read). */
  readonly unknownItemShare?: number;
  readonly published: boolean;
  readonly reasons: readonly string[];
  readonly secondsByStage: Readonly<Record<string, number>>;
  /** Embed-stage time split, summed over partitions (read, merge, featurize, infer, wait, write, snapshot). */
  readonly secondsByStep: Readonly<Record<string, number>>;
  /** How busy inference kept the embed stage (local runner; see docs/pipeline.md, "Pipelining"). */
  readonly inference?: EmbedStageInference;
  readonly writeStats: {
    readonly items: number;
    readonly requests: number;
    readonly retries: number;
    readonly throttles: number;
    /** Embedded users the write policy left on their stored item (only with a policy). */
    readonly kept?: number;
  };
}

/*
 * The stage functions (implemented in src/pipeline/<stage>.ts, exported from src/pipeline/index.ts):
 *   plan(env, input: PlanInput): Promise<RunManifest>
 *   partitionSlice(env, { date, modelVersion, slice }): Promise<SliceResult>
 *   embedPartition(env, { date, modelVersion, partition, executionProvider?, threads? }): Promise<PartitionResult>
 *   publish(env, { date, modelVersion, gate? }): Promise<PublishResult>
 *   deployModel(env, localModelDir): Promise<{ modelVersion }>   // uploads models/<mv>/ and records it
 */
