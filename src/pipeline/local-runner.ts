import { randomUUID } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { EmbeddingDtype } from '../embeddings/types.ts';
import { assertDataLayout } from '../local/data-layout.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../local/local-embeddings.ts';
import { LocalObjectStore } from '../storage/local-object-store.ts';
import { ConflictError, ValidationError } from '../util/errors.ts';
import { replayCommand } from './input-days.ts';
import { deployModel } from './model.ts';
import { assertRunDateNotAhead, PLAN_DEFAULTS, plan } from './plan.ts';
import { publish } from './publish.ts';
import type {
  DailySummary,
  EmbedStageInference,
  ExecutionProvider,
  GateThresholds,
  PartitionResult,
  PipelineEnv,
  SliceResult,
} from './types.ts';
import { WorkerPool } from './worker-pool.ts';

export interface RunDailyOptions {
  /** Data directory: the object store's root (events/, items/, the run's objects), the embedded table in `<dataDir>/dynamodb`. */
  readonly dataDir: string;
  readonly date: string;
  /** Local model directory, deployed (idempotently) before the run; default `models/demo`. */
  readonly modelDir?: string;
  readonly backfill?: boolean;
  /** Partition count P; default 8. */
  readonly partitions?: number;
  /** Worker threads for the partition and embed stages; default min(2, cores). */
  readonly workers?: number;
  /** onnxruntime threads per worker; default max(1, floor(cores / workers)). */
  readonly threads?: number;
  readonly executionProvider?: ExecutionProvider;
  readonly refreshAgeDays?: number;
  /** The write policy's threshold (src/pipeline/write-policy.ts); default: write every embedded user. */
  readonly writeSkipCosine?: number;
  /** Full snapshot at least every this many days, deltas between (PlanInput.compactEveryDays); default 7. */
  readonly compactEveryDays?: number;
  readonly lookbackDays?: number;
  /** Event bytes per partition-stage slice; default 16 MiB locally (slices run in parallel). */
  readonly sliceBytes?: number;
  readonly gate?: GateThresholds;
  /** A date whose day starts more than this many hours after now is refused; default 6 (PLAN_DEFAULTS). */
  readonly futureToleranceHours?: number;
  /** Refuse a day without `events/dt=D/_SUCCESS`; default false. */
  readonly requireMarker?: boolean;
  /** Replay from this day: rebuild from the published state before it (PlanInput.replayFrom). */
  readonly replayFrom?: string;
  /** Storage dtype of the vectors written to the table; default float16 (the store's default). */
  readonly dtype?: EmbeddingDtype;
  /** An already open embedded table (tests); by default one is opened under the data dir and closed after. */
  readonly embeddings?: LocalEmbeddings;
  /**
   * Inference on each worker's inference thread, with a second partition reading and writing while
   * one's batches run; default: when there are cores to spare (coresToSpare). false: each worker runs
   * its partitions one at a time with session.run on the worker thread.
   */
  readonly pipelined?: boolean;
  /** Progress lines; default none. */
  readonly log?: (message: string) => void;
  /** Called as each stage ends (deploy, plan, partition, embed, publish) with its wall seconds. */
  readonly onStage?: (stage: string, seconds: number) => void;
  /**
   * Worker threads kept by the caller across runs (their sessions and item tables stay loaded);
   * built with `createStagePool`. By default each run starts its own pool and closes it.
   */
  readonly pool?: WorkerPool;
}

/**
 * Whether the embed stage has cores to spare beside inference: a GPU runs it, or the cores outnumber
 * the inference threads. Only then do workers get a writer thread each (src/pipeline/embed-writer.ts)
 * and an inference thread with a second partition in flight (pipelining): where every core already
 * runs inference the extra threads only contend for them. Measured side by side on 2 cores (100k-user
 * steady day, 2 workers x 1 thread): pipelining left the wall time unchanged within noise (15.2 s vs
 * 15.2 s, 3 rounds) and used ~10% more CPU (reports/bench.md, section 2).
 */
export function coresToSpare(workers: number, threads: number, provider: ExecutionProvider = 'cpu'): boolean {
  return provider === 'cuda' || availableParallelism() > workers * threads;
}

/**
 * Partitions one worker embeds at once (inference runs on the worker's inference thread): while one
 * partition's batches run, another reads, merges and writes its snapshots, so inference seldom
 * waits for I/O.
 */
export const EMBED_TASKS_PER_WORKER = 2;

/** A worker pool for runDaily's `pool` option, on the given embedded table and data dir. */
export function createStagePool(
  dataDir: string,
  local: LocalEmbeddings,
  workers?: number,
  writerThread = false,
): WorkerPool {
  const described = local.store.threadConfig();
  if (!described) {
    throw new ValidationError('stage workers need a store that describes its connection (openLocalEmbeddings sets it)');
  }
  // workers write with the parent store's settings, to the endpoint the local table names
  const store = { ...described, tableName: local.tableName, connection: { endpoint: local.endpoint, local: true } };
  return new WorkerPool(Math.max(1, workers ?? Math.min(2, availableParallelism())), {
    objects: resolve(dataDir),
    store,
    writerThread,
  });
}

/**
 * The run lock's lease (default 5 min), renewed every LOCK_RENEW_MS while the run lives, so a
 * killed run's lock lapses soon. PINNERFORMER_LOCK_LEASE_MS overrides it (the crash tests,
 * docs/reliability.md); a lock whose local holder process is gone is taken over at once.
 */
const LOCK_LEASE_MS = Number(process.env.PINNERFORMER_LOCK_LEASE_MS) || 5 * 60 * 1000;
const LOCK_RENEW_MS = Math.max(1000, Math.floor(LOCK_LEASE_MS / 5));

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the store's run lock for the version. A lock left by a local run on this host whose
 * process is gone (killed mid-run) is released first, so a rerun after a crash need not wait for
 * the lease; a live holder makes this a ConflictError ("two runs at once").
 */
async function takeRunLock(store: LocalEmbeddings['store'], version: string, owner: string): Promise<void> {
  const holder = await store.getRunLock(version);
  const m = holder ? /^local-(.+)-(\d+)-[0-9a-f]{8}$/.exec(holder.owner) : null;
  if (holder && m && m[1] === hostname() && Number(m[2]) !== process.pid && !processAlive(Number(m[2]))) {
    await store.releaseRunLock(version, holder.owner);
  }
  await store.acquireRunLock(version, owner, LOCK_LEASE_MS);
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

/**
 * The daily run on one machine: deploy the model, take the run lock, plan, run the slices and
 * then the partitions in parallel worker threads, publish. A partition that fails is reported
 * (by number and error) and the run is not published; the pointer stays where it was.
 */
export async function runDaily(options: RunDailyOptions): Promise<DailySummary> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const seconds: Record<string, number> = {};
  let mark = started;
  const lap = (stage: string): void => {
    const now = performance.now();
    seconds[stage] = (now - mark) / 1000;
    mark = now;
    options.onStage?.(stage, seconds[stage]);
  };
  // Before anything is opened or written: a date after today is refused outright.
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
  const objects = new LocalObjectStore(dataDir);
  // The table lock is held: no other process writes this data dir, so dead writers' leftovers can go.
  const swept = await objects.sweepTemporaryFiles();
  if (swept > 0) log(`removed ${swept} temporary files left by interrupted writers`);
  const env: PipelineEnv = {
    objects,
    embeddings: local.store,
    log: (message) => log(message),
  };
  const owner = `local-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  let renew: NodeJS.Timeout | undefined;
  let pool: WorkerPool | undefined;
  let version: string | undefined;
  try {
    const cores = availableParallelism();
    const workers = options.pool?.size ?? Math.max(1, options.workers ?? Math.min(2, cores));
    const threads = options.threads ?? Math.max(1, Math.floor(cores / workers));
    // Started first: the threads boot (tsx, onnxruntime) while the model is checked and the run planned.
    const spare = coresToSpare(workers, threads, options.executionProvider);
    const writerThread = spare;
    const pipelined = options.pipelined ?? spare;
    pool = options.pool ?? createStagePool(dataDir, local, workers, writerThread);
    pool.log = (message) => log(message);
    pool.embedTasksPerWorker = pipelined ? EMBED_TASKS_PER_WORKER : 1;
    const { modelVersion } = await deployModel(env, resolve(options.modelDir ?? 'models/demo'));
    version = `${modelVersion}@${options.date}`;
    await takeRunLock(local.store, version, owner);
    const store = local.store;
    renew = setInterval(() => {
      store.acquireRunLock(version!, owner, LOCK_LEASE_MS).catch((error) => log(`run lock renewal failed: ${error}`));
    }, LOCK_RENEW_MS);
    renew.unref();
    lap('deploy');
    const run = await plan(env, {
      date: options.date,
      modelVersion,
      ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
      backfill: options.backfill ?? false,
      ...(options.refreshAgeDays === undefined ? {} : { refreshAgeDays: options.refreshAgeDays }),
      ...(options.lookbackDays === undefined ? {} : { lookbackDays: options.lookbackDays }),
      ...(options.writeSkipCosine === undefined ? {} : { writeSkipCosine: options.writeSkipCosine }),
      ...(options.compactEveryDays === undefined ? {} : { compactEveryDays: options.compactEveryDays }),
      sliceBytes: options.sliceBytes ?? 16 * 1024 * 1024,
      ...(options.futureToleranceHours === undefined ? {} : { futureToleranceHours: options.futureToleranceHours }),
      ...(options.requireMarker === undefined ? {} : { requireMarker: options.requireMarker }),
      ...(options.replayFrom === undefined ? {} : { replayFrom: options.replayFrom }),
    });
    lap('plan');
    const attemptOf = run.attempt === undefined ? {} : { attempt: run.attempt };

    const slices = await Promise.all(
      run.slices.map((s) =>
        pool!.run<SliceResult>({
          kind: 'slice',
          input: { date: run.date, modelVersion, slice: s.index, ...attemptOf },
        }),
      ),
    );
    lap('partition');
    const cpuBefore = process.cpuUsage();
    const events = slices.reduce((n, s) => n + s.events, 0);
    if (events === 0) log(`${run.date} is an empty day: no valid events (the run still carries every user over)`);

    const failures: string[] = [];
    const results: PartitionResult[] = [];
    let finished = 0;
    await Promise.all(
      Array.from({ length: run.partitions }, async (_, partition) => {
        try {
          results.push(
            await pool!.run<PartitionResult>({
              kind: 'embed',
              input: {
                date: run.date,
                modelVersion,
                partition,
                ...attemptOf,
                threads,
                writerThread,
                inferenceThread: pipelined,
                ...(options.executionProvider === undefined ? {} : { executionProvider: options.executionProvider }),
              },
            }),
          );
          log(`embed: ${++finished}/${run.partitions} partitions done`);
        } catch (error) {
          failures.push(`partition ${partition} failed: ${(error as Error).message}`);
          log(`embed: partition ${partition} FAILED: ${(error as Error).message}`);
        }
      }),
    );
    lap('embed');
    const cpuDuring = process.cpuUsage(cpuBefore);
    const inference = inferenceLoad(
      results,
      seconds.embed!,
      workers,
      pipelined,
      (cpuDuring.user + cpuDuring.system) / 1e6,
    );
    if (!options.pool) await pool.close();
    pool = undefined;

    const verdict = await publish(env, {
      date: run.date,
      modelVersion,
      ...attemptOf,
      ...(options.gate ? { gate: options.gate } : {}),
    });
    lap('publish');
    seconds.total = (performance.now() - started) / 1000;
    results.sort((a, b) => a.partition - b.partition);
    return {
      date: run.date,
      modelVersion,
      version: run.version,
      ...attemptOf,
      ...(run.ignoredFiles?.length ? { ignoredFiles: run.ignoredFiles } : {}),
      ...(run.inputChanges?.length
        ? { inputChanges: run.inputChanges, replay: replayCommand(run.inputChanges, run.date)! }
        : {}),
      partitions: run.partitions,
      events,
      invalidEvents: slices.reduce((n, s) => n + s.invalidEvents, 0),
      activeUsers: results.reduce((n, r) => n + r.activeUsers, 0),
      embeddedUsers: results.reduce((n, r) => n + r.embeddedUsers, 0),
      ...(typeof verdict.checks.unknownItemShare === 'number'
        ? { unknownItemShare: verdict.checks.unknownItemShare }
        : {}),
      published: verdict.published,
      reasons: [...failures, ...verdict.reasons],
      secondsByStage: seconds,
      secondsByStep: sumSteps(results),
      ...(inference ? { inference } : {}),
      writeStats: {
        items: results.reduce((n, r) => n + r.writeStats.items, 0),
        requests: results.reduce((n, r) => n + r.writeStats.requests, 0),
        retries: results.reduce((n, r) => n + r.writeStats.retries, 0),
        throttles: results.reduce((n, r) => n + r.writeStats.throttles, 0),
        ...(run.writeSkipCosine === undefined
          ? {}
          : { kept: results.reduce((n, r) => n + (r.writeStats.kept ?? 0), 0) }),
      },
    };
  } finally {
    clearInterval(renew);
    if (!options.pool) await pool?.close();
    if (version !== undefined) await local.store.releaseRunLock(version, owner).catch(() => false);
    if (!options.embeddings) await local.close();
  }
}
