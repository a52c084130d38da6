import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { EmbeddingDtype } from '../embeddings/types.ts';
import { assertDataLayout } from '../local/data-layout.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../local/local-embeddings.ts';
import { LocalObjectStore } from '../storage/local-object-store.ts';
import { ConflictError, ValidationError } from '../util/errors.ts';
import { Stopwatch } from '../util/stopwatch.ts';
import type { EmbedPartitionInput } from './embed.ts';
import { replayCommand } from './input-days.ts';
import { abandonedLocalLock, holdRunLock, LOCAL_LOCK_LEASE_MS, localLockOwner } from './local-run-lock.ts';
import { deployModel } from './model.ts';
import { type EmbedOverlap, inferenceOffThread, localOverlap } from './overlap.ts';
import { assertRunDateNotAhead, PLAN_DEFAULTS, type PlanOptions, plan, planOptionsOf } from './plan.ts';
import { publish } from './publish.ts';
import { StageThreadPool } from './stage-thread-pool.ts';
import { type StartedRun, startRun } from './start-run.ts';
import type {
  DailySummary,
  EmbedStageInference,
  ExecutionProvider,
  GateThresholds,
  PartitionResult,
  PipelineEnv,
  PublishResult,
  RunManifest,
  SliceResult,
} from './types.ts';

/**
 * A local run's options. The plan's settings (PlanOptions: partitions, refresh age, look-back,
 * slice bytes, future tolerance, marker, replay, compaction, write policy) pass to the plan as
 * they are, through planOptionsOf.
 */
export interface RunDailyOptions extends PlanOptions {
  /** Data directory: the object store's root (events/, items/, the run's objects), the embedded table in `<dataDir>/dynamodb`. */
  readonly dataDir: string;
  readonly date: string;
  /** Local model directory, deployed (idempotently) before the run; default `models/demo`. */
  readonly modelDir?: string;
  readonly backfill?: boolean;
  /** Stage threads (the pool's worker threads) for the partition and embed stages; default min(2, cores). */
  readonly workers?: number;
  /** onnxruntime threads per stage thread; default max(1, floor(cores / workers)). */
  readonly threads?: number;
  readonly executionProvider?: ExecutionProvider;
  /** Event bytes per partition-stage slice; default 16 MiB locally (slices run in parallel). */
  readonly sliceBytes?: number;
  readonly gate?: GateThresholds;
  /** Storage dtype of the vectors written to the table; default float16 (the store's default). */
  readonly dtype?: EmbeddingDtype;
  /** An already open embedded table (tests); by default one is opened under the data dir and closed after. */
  readonly embeddings?: LocalEmbeddings;
  /**
   * Inference on each stage thread's inference thread, with a second partition reading and writing
   * while one's batches run; default: when there are cores to spare (localOverlap in ./overlap.ts,
   * which decides the run's one EmbedOverlap). false: each stage thread runs its partitions one at
   * a time with session.run on that thread.
   */
  readonly pipelined?: boolean;
  /**
   * URL of a module that measures each session.run's CPU time (src/inference/profiler.ts): the
   * bench passes one; default none (the summary's inference has no cpuSeconds).
   */
  readonly profiler?: string;
  /** Progress lines; default none. */
  readonly log?: (message: string) => void;
  /** Called as each stage ends (deploy, plan, partition, embed, publish) with its wall seconds. */
  readonly onStage?: (stage: string, seconds: number) => void;
  /**
   * Stage threads kept by the caller across runs (their sessions and item tables stay loaded);
   * built with `createStagePool`. By default each run starts its own pool and closes it.
   */
  readonly pool?: StageThreadPool;
}

/** A stage thread pool for runDaily's `pool` option, on the given embedded table and data dir. */
export function createStagePool(
  dataDir: string,
  local: LocalEmbeddings,
  workers?: number,
  overlap?: EmbedOverlap,
): StageThreadPool {
  const described = local.store.threadConfig();
  if (!described) {
    throw new ValidationError('stage threads need a store that describes its connection (openLocalEmbeddings sets it)');
  }
  // stage threads write with the parent store's settings, to the endpoint the local table names
  const store = { ...described, tableName: local.tableName, connection: { endpoint: local.endpoint, local: true } };
  return new StageThreadPool(Math.max(1, workers ?? Math.min(2, availableParallelism())), {
    objects: resolve(dataDir),
    store,
    ...(overlap === undefined ? {} : { overlap }),
  });
}

/** What a run needs open: the data dir's object store and table (closed by `close` unless the caller's). */
interface OpenedRun {
  readonly dataDir: string;
  readonly env: PipelineEnv;
  readonly local: LocalEmbeddings;
  readonly close: () => Promise<void>;
}

/**
 * Step open: refuses a date ahead of today before anything is opened or written, checks the data
 * dir's layout, opens its table (one process at a time) and sweeps dead writers' temporary files.
 */
async function openRun(options: RunDailyOptions, log: (message: string) => void): Promise<OpenedRun> {
  assertRunDateNotAhead(options.date, Date.now(), options.futureToleranceHours ?? PLAN_DEFAULTS.futureToleranceHours);
  const dataDir = resolve(options.dataDir);
  assertDataLayout(dataDir);
  let local = options.embeddings;
  if (!local) {
    try {
      local = await openLocalEmbeddings({ dataDir, ...(options.dtype ? { store: { dtype: options.dtype } } : {}) });
    } catch (error) {
      if (/lock/i.test(String((error as Error)?.message))) {
        throw new ConflictError(
          `another process is using ${join(dataDir, 'dynamodb')}: one run at a time per data dir`,
        );
      }
      throw error;
    }
  }
  const opened = local;
  const objects = new LocalObjectStore(dataDir);
  // The table lock is held: no other process writes this data dir, so dead writers' leftovers can go.
  const swept = await objects.sweepTemporaryFiles();
  if (swept > 0) log(`removed ${swept} temporary files left by interrupted writers`);
  return {
    dataDir,
    env: { objects, embeddings: opened.store, log: (message) => log(message) },
    local: opened,
    close: async () => {
      if (!options.embeddings) await opened.close();
    },
  };
}

/** The run's stage threads and how the embed stage uses them, decided once for the run. */
interface StageThreads {
  readonly pool: StageThreadPool;
  /** Stage threads: each embeds with one session (EmbedStageInference.lanes). */
  readonly threads: number;
  readonly sessionThreads: number;
  readonly overlap: EmbedOverlap;
  readonly close: () => Promise<void>;
}

/** Step threads: the caller's pool or a new one, started first so that its threads boot while the run is planned. */
function startStageThreads(options: RunDailyOptions, opened: OpenedRun, log: (message: string) => void): StageThreads {
  const cores = availableParallelism();
  const threads = options.pool?.size ?? Math.max(1, options.workers ?? Math.min(2, cores));
  const sessionThreads = options.threads ?? Math.max(1, Math.floor(cores / threads));
  const overlap = localOverlap({
    threads,
    sessionThreads,
    cores,
    ...(options.executionProvider === undefined ? {} : { provider: options.executionProvider }),
    ...(options.pipelined === undefined ? {} : { pipelined: options.pipelined }),
  });
  const pool = options.pool ?? createStagePool(opened.dataDir, opened.local, threads, overlap);
  pool.log = (message) => log(message);
  let closed = false;
  return {
    pool,
    threads,
    sessionThreads,
    overlap,
    close: async () => {
      if (closed || options.pool) return;
      closed = true;
      await pool.close();
    },
  };
}

/**
 * Step start: deploys the model directory (idempotently), then startRun (./start-run.ts), as on
 * AWS: the forced backfill when the model is not the pointer's, and the run lock, owned by this
 * process and renewed while the run lives (a dead local holder's lock is taken over at once).
 */
async function startLocalRun(
  options: RunDailyOptions,
  env: PipelineEnv,
  store: LocalEmbeddings['store'],
  log: (message: string) => void,
): Promise<{ started: StartedRun; release: () => Promise<void> }> {
  const { modelVersion } = await deployModel(env, resolve(options.modelDir ?? 'models/demo'));
  const owner = localLockOwner();
  const started = await startRun(
    { versions: store, locks: store },
    {
      request: { date: options.date, modelVersion, ...(options.backfill ? { backfill: true } : {}) },
      owner,
      leaseMs: LOCAL_LOCK_LEASE_MS,
      abandoned: abandonedLocalLock,
    },
  );
  return { started, release: holdRunLock(store, started.version, owner, log) };
}

/** Local slices are smaller than the plan's default: they run in parallel on the stage threads. */
const LOCAL_SLICE_BYTES = 16 * 1024 * 1024;

/** Step plan: the plan stage with the runner's plan options (planOptionsOf) and the local slice size. */
function planLocalRun(options: RunDailyOptions, env: PipelineEnv, started: StartedRun): Promise<RunManifest> {
  return plan(env, {
    date: started.date,
    modelVersion: started.modelVersion,
    backfill: started.backfill,
    ...planOptionsOf(options),
    sliceBytes: options.sliceBytes ?? LOCAL_SLICE_BYTES,
  });
}

/** Step partition: every slice of the run, in parallel on the stage threads. */
function runSlices(pool: StageThreadPool, run: RunManifest): Promise<SliceResult[]> {
  const attemptOf = run.attempt === undefined ? {} : { attempt: run.attempt };
  return Promise.all(
    run.slices.map((s) =>
      pool.run<SliceResult>({
        kind: 'slice',
        input: { date: run.date, modelVersion: run.modelVersion, slice: s.index, ...attemptOf },
      }),
    ),
  );
}

/**
 * Step embed: every partition on the stage threads; a failed partition is reported by number and
 * error (the run is then not published) while the others run to their end.
 */
async function runPartitions(
  options: RunDailyOptions,
  stage: StageThreads,
  run: RunManifest,
  log: (message: string) => void,
): Promise<{ results: PartitionResult[]; failures: string[] }> {
  const failures: string[] = [];
  const results: PartitionResult[] = [];
  let finished = 0;
  const task = (partition: number): EmbedPartitionInput => ({
    date: run.date,
    modelVersion: run.modelVersion,
    partition,
    ...(run.attempt === undefined ? {} : { attempt: run.attempt }),
    threads: stage.sessionThreads,
    overlap: stage.overlap,
    ...(options.executionProvider === undefined ? {} : { executionProvider: options.executionProvider }),
    ...(options.profiler === undefined ? {} : { profiler: options.profiler }),
  });
  await Promise.all(
    Array.from({ length: run.partitions }, async (_, partition) => {
      try {
        results.push(await stage.pool.run<PartitionResult>({ kind: 'embed', input: task(partition) }));
        log(`embed: ${++finished}/${run.partitions} partitions done`);
      } catch (error) {
        failures.push(`partition ${partition} failed: ${(error as Error).message}`);
        log(`embed: partition ${partition} FAILED: ${(error as Error).message}`);
      }
    }),
  );
  results.sort((a, b) => a.partition - b.partition);
  return { results, failures };
}

function sumSteps(results: readonly PartitionResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.secondsByStep)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** The embed stage's inference load from its partitions' results (undefined when none ran). */
function inferenceLoad(
  results: readonly PartitionResult[],
  stageSeconds: number,
  lanes: number,
  pipelined: boolean,
  stageCpuSeconds: number,
): EmbedStageInference | undefined {
  if (results.length === 0 || !(stageSeconds > 0)) return undefined;
  const busySeconds = results.reduce((n, r) => n + (r.secondsByStep.infer ?? 0), 0);
  const cpu = results.map((r) => r.inference?.cpuSeconds);
  const cpuSeconds = cpu.every((c) => c !== undefined) ? cpu.reduce((a, b) => a + b!, 0) : undefined;
  return {
    lanes,
    pipelined,
    busySeconds,
    busyShare: busySeconds / (stageSeconds * lanes),
    stageCpuSeconds,
    ...(cpuSeconds === undefined ? {} : { cpuSeconds, cpuShare: cpuSeconds / stageCpuSeconds }),
  };
}

/** What the stages reported, for the summary. */
interface RunOutcome {
  readonly run: RunManifest;
  readonly slices: readonly SliceResult[];
  readonly results: readonly PartitionResult[];
  readonly failures: readonly string[];
  readonly verdict: PublishResult;
  readonly seconds: Readonly<Record<string, number>>;
  readonly inference: EmbedStageInference | undefined;
}

/** Step summary: the run's DailySummary from what its stages reported. */
function summaryOf(o: RunOutcome): DailySummary {
  const { run, results, verdict } = o;
  const sum = (of: (r: PartitionResult) => number): number => results.reduce((n, r) => n + of(r), 0);
  return {
    date: run.date,
    modelVersion: run.modelVersion,
    version: run.version,
    ...(run.attempt === undefined ? {} : { attempt: run.attempt }),
    ...(run.ignoredFiles?.length ? { ignoredFiles: run.ignoredFiles } : {}),
    ...(run.inputChanges?.length
      ? { inputChanges: run.inputChanges, replay: replayCommand(run.inputChanges, run.date)! }
      : {}),
    partitions: run.partitions,
    events: o.slices.reduce((n, s) => n + s.events, 0),
    invalidEvents: o.slices.reduce((n, s) => n + s.invalidEvents, 0),
    activeUsers: sum((r) => r.activeUsers),
    embeddedUsers: sum((r) => r.embeddedUsers),
    ...(typeof verdict.checks.unknownItemShare === 'number'
      ? { unknownItemShare: verdict.checks.unknownItemShare }
      : {}),
    published: verdict.published,
    reasons: [...o.failures, ...verdict.reasons],
    secondsByStage: o.seconds,
    secondsByStep: sumSteps(results),
    ...(o.inference ? { inference: o.inference } : {}),
    writeStats: {
      items: sum((r) => r.writeStats.items),
      requests: sum((r) => r.writeStats.requests),
      retries: sum((r) => r.writeStats.retries),
      throttles: sum((r) => r.writeStats.throttles),
      ...(run.writeSkipCosine === undefined ? {} : { kept: sum((r) => r.writeStats.kept ?? 0) }),
    },
  };
}

const RUN_STAGES = ['deploy', 'plan', 'partition', 'embed', 'publish'] as const;

/**
 * The daily run on one machine, in steps: open the data dir, start the stage threads, start the
 * run (deploy the model, startRun: model, backfill, run lock), plan, run the slices and then the
 * partitions on the stage threads, publish. A partition that fails is reported (by number and
 * error) and the run is not published; the pointer stays where it was.
 */
export async function runDaily(options: RunDailyOptions): Promise<DailySummary> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const watch = new Stopwatch(RUN_STAGES);
  const lap = (stage: (typeof RUN_STAGES)[number]): void => {
    const seconds = watch.lap(stage); // not inside the optional call: it would be skipped without onStage
    options.onStage?.(stage, seconds);
  };
  const opened = await openRun(options, log);
  const { env } = opened;
  let stage: StageThreads | undefined;
  let release: (() => Promise<void>) | undefined;
  try {
    stage = startStageThreads(options, opened, log);
    const start = await startLocalRun(options, env, opened.local.store, log);
    release = start.release;
    lap('deploy');
    const run = await planLocalRun(options, env, start.started);
    lap('plan');
    const slices = await runSlices(stage.pool, run);
    lap('partition');
    if (slices.every((s) => s.events === 0)) {
      log(`${run.date} is an empty day: no valid events (the run still carries every user over)`);
    }
    const cpuBefore = process.cpuUsage();
    const { results, failures } = await runPartitions(options, stage, run, log);
    lap('embed');
    const cpuDuring = process.cpuUsage(cpuBefore);
    const inference = inferenceLoad(
      results,
      watch.seconds.embed,
      stage.threads,
      inferenceOffThread(stage.overlap),
      (cpuDuring.user + cpuDuring.system) / 1e6,
    );
    await stage.close();
    const verdict = await publish(env, {
      date: run.date,
      modelVersion: run.modelVersion,
      ...(run.attempt === undefined ? {} : { attempt: run.attempt }),
      ...(options.gate ? { gate: options.gate } : {}),
    });
    lap('publish');
    const seconds = { ...watch.seconds, total: (performance.now() - started) / 1000 };
    return summaryOf({ run, slices, results, failures, verdict, seconds, inference });
  } finally {
    await stage?.close();
    await release?.();
    await opened.close();
  }
}
