import { DAY_MS, dayStartMs } from '../events/schema.ts';
import { mergeSequence, type SequenceEvent, type SequenceRules } from '../features/sequence.ts';
import { OnnxEmbedder } from '../inference/embedder.ts';
import type { ModelDirectory } from '../inference/model-dir.ts';
import { ValidationError } from '../util/errors.ts';
import { Stopwatch } from '../util/stopwatch.ts';
import type { KeptStored, OutputResult } from './embed-output.ts';
import { closeWriterThread, type OutputSink, openOutputSink, prewarmOutput } from './embed-writer.ts';
import { loadItemTable } from './items.ts';
import { layout } from './layout.ts';
import { localModelDirectory } from './model.ts';
import { type EmbedOverlap, inferenceOffThread, outputOffThread, overlapOfTask } from './overlap.ts';
import { readRunManifest } from './plan.ts';
import {
  decodeWorkFile,
  encodeSequenceColumns,
  eventsOf,
  SequenceColumnsBuilder,
  type UserSequence,
} from './snapshots.ts';
import {
  type PreviousState,
  readPreviousState,
  type StoredSequence,
  snapshotKindOf,
  writtenKeys,
} from './state-chain.ts';
import type { EmbedEnv, ExecutionProvider, ItemInputs, ObjectsEnv, PartitionResult, RunManifest } from './types.ts';
import { type WritePolicy, writePolicyOf } from './write-policy.ts';

export interface EmbedPartitionInput {
  readonly date: string;
  readonly modelVersion: string;
  readonly partition: number;
  /** The run attempt (RunManifest.attempt); default the attempt the plan stage started last. */
  readonly attempt?: string;
  /** Default 'cpu'; 'cuda' fails with ModelError when the CUDA provider cannot run the model. */
  readonly executionProvider?: ExecutionProvider;
  /** onnxruntime intra-op threads; default onnxruntime's choice. */
  readonly threads?: number;
  /** Most users per inference batch; default BATCH_DEFAULTS (src/inference/embedder.ts). */
  readonly maxBatchSize?: number;
  /** Most positions (users × padded length) per inference batch; default BATCH_DEFAULTS. */
  readonly maxTokensPerBatch?: number;
  /** Embeddings per writeEmbeddings call (writes overlap inference, on the writer thread); default 2048. */
  readonly writeChunk?: number;
  /**
   * This partition's share of the table's write units per second (src/pipeline/sizing.ts,
   * writeUnitsPerSecondPerLane); default unpaced (the store's AIMD back-off alone).
   */
  readonly writeUnitsPerSecond?: number;
  /**
   * Which steps leave this partition's thread (./overlap.ts): the output to the writer thread, inference
   * to an inference thread; default defaultOverlap(executionProvider). The local runner decides it
   * for the run (localOverlap).
   */
  readonly overlap?: EmbedOverlap;
  /**
   * URL of a module that measures each session.run's CPU time (src/inference/profiler.ts); the bench
   * passes one (bench/thread-cpu.mjs). Default none: PartitionResult.inference has no cpuSeconds.
   */
  readonly profiler?: string;
}

/** Progress callbacks of one embedPartition call (the local runner's pipelining). */
export interface EmbedHooks {
  /** The partition is read and merged and its first batch is about to run. */
  readonly onInference?: () => void;
}

const sessions = new Map<string, Promise<OnnxEmbedder>>();

/** One embedder per model, provider, thread count and placement for the life of the process (stage threads embed several partitions). */
async function embedderFor(
  env: ObjectsEnv,
  model: ModelDirectory,
  input: EmbedPartitionInput,
  overlap: EmbedOverlap,
): Promise<OnnxEmbedder> {
  const inferenceThread = inferenceOffThread(overlap);
  const key = [
    model.manifest.modelVersion,
    input.executionProvider ?? 'cpu',
    input.threads ?? 0,
    input.maxBatchSize ?? 0,
    input.maxTokensPerBatch ?? 0,
    inferenceThread,
    input.profiler ?? '',
  ].join('\u0000');
  let embedder = sessions.get(key);
  if (!embedder) {
    embedder = (async () => {
      const items = await loadItemTable(
        env.objects,
        model.manifest.dims.itemVector,
        model.itemIds,
        model.manifest.modelVersion,
      );
      return OnnxEmbedder.open(model, items, {
        ...(input.executionProvider === undefined ? {} : { executionProvider: input.executionProvider }),
        ...(input.threads === undefined ? {} : { threads: input.threads }),
        ...(input.maxBatchSize === undefined ? {} : { maxBatchSize: input.maxBatchSize }),
        ...(input.maxTokensPerBatch === undefined ? {} : { maxTokensPerBatch: input.maxTokensPerBatch }),
        ...(input.profiler === undefined ? {} : { profiler: input.profiler }),
        inferenceThread,
      });
    })();
    sessions.set(key, embedder);
    embedder.catch(() => sessions.delete(key));
  }
  return embedder;
}

/** Releases the cached sessions and ends the writer thread (tests, end of a worker). */
export async function releaseEmbedders(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  for (const e of all) await (await e.catch(() => undefined))?.release();
  await closeWriterThread();
}

/** Whole days from one date to another; memoized (called once per user, on few distinct dates). */
const dayGaps = new Map<string, number>();
function daysBetween(from: string, to: string): number {
  const key = `${from}|${to}`;
  let days = dayGaps.get(key);
  if (days === undefined) {
    days = Math.round((dayStartMs(to) - dayStartMs(from)) / DAY_MS);
    if (dayGaps.size > 4096) dayGaps.clear();
    dayGaps.set(key, days);
  }
  return days;
}

/**
 * How well the item table covers the events this run read (the gate refuses a model trained with
 * item vectors when the table is missing or covers too few of them): the featurizer gives an item
 * without a vector zeros, which the model never saw for a known item in training.
 */
async function itemCoverage(
  env: ObjectsEnv,
  model: ModelDirectory,
  incoming: ReadonlyMap<string, readonly SequenceEvent[]>,
): Promise<ItemInputs> {
  const itemVector = model.manifest.dims.itemVector;
  const items = await loadItemTable(env.objects, itemVector, model.itemIds, model.manifest.modelVersion); // cached: the same table the embedder loaded
  let events = 0;
  let unknownItemEvents = 0;
  for (const list of incoming.values()) {
    events += list.length;
    for (const e of list) if (items.rowOf(e.item_id) < 0) unknownItemEvents++;
  }
  const trainingCoverage = (model.manifest.items as { trainingCoverage?: unknown }).trainingCoverage;
  return {
    itemVector,
    tableItems: items.size,
    events,
    unknownItemEvents,
    ...(typeof trainingCoverage === 'number' ? { trainingCoverage } : {}),
  };
}

/** Which users to embed on D, and why (docs/pipeline.md, "Selection"). */
export function shouldEmbed(
  user: Pick<UserSequence, 'lastEmbedded'>,
  changed: boolean,
  run: Pick<RunManifest, 'date' | 'backfill' | 'refreshAgeDays'>,
): boolean {
  if (run.backfill || changed || user.lastEmbedded === null) return true;
  return daysBetween(user.lastEmbedded, run.date) >= run.refreshAgeDays;
}

/** The embed stage's steps, in order (PartitionResult.secondsByStep). */
const EMBED_STEPS = ['read', 'merge', 'featurize', 'infer', 'wait', 'write', 'snapshot'] as const;
type EmbedStopwatch = Stopwatch<(typeof EMBED_STEPS)[number]>;

/** What the read step hands on: the routed events by user and the previous sequence snapshot. */
interface PartitionInputs {
  readonly incoming: Map<string, SequenceEvent[]>;
  readonly workEvents: number;
  readonly previous: PreviousState | undefined;
  readonly itemInputs: ItemInputs;
}

/** What the merge step hands on: the new sequence snapshot and who of it is embedded now. */
interface MergedPartition {
  readonly rules: SequenceRules;
  /** Every user of the partition's state, in snapshot order. */
  readonly users: string[];
  /** The snapshot's columns: every user's, or on a delta day only the `written` users'. */
  readonly columns: ReturnType<SequenceColumnsBuilder['build']>;
  /** Delta day: the snapshot positions written (changed users); undefined on a full snapshot day. */
  readonly written: number[] | undefined;
  /** Per snapshot user: D when embedded now, else as stored (the write policy may still set it back). */
  readonly lastEmbedded: (string | null)[];
  /** Snapshot positions of the users embedded now, in embedding order. */
  readonly selected: number[];
  readonly sequences: SequenceEvent[][];
  readonly activeUsers: number;
}

/**
 * Stage 3 (one Batch job per partition). Loads the previous sequence snapshot (or starts empty
 * when the plan found none: the work files then hold the whole look-back), merges the routed
 * events, embeds the selected users in length-bucketed batches and hands each batch to the
 * partition's output (./embed-writer.ts: on the writer thread when the overlap says so, it writes
 * the table while inference runs and builds the embedding snapshot), encodes the sequence snapshot
 * while the output drains, writes both snapshots and, last, the partition result (which marks the
 * partition done). Users without new events carry their snapshot rows over as column ranges,
 * never as per-event objects. Rerunning writes the same keys with the same values.
 *
 * secondsByStep splits this thread's wall time: read, merge, featurize, write (waiting for table
 * writes: back-pressure and the rest of the drain), snapshot (encoding the sequence snapshot,
 * waiting for the embedding snapshot, the puts) and, with an inference thread, wait (waiting for a
 * batch's result); infer is the wall time of the partition's session.run calls. Without an
 * inference thread infer is on this thread too and the steps add up to its wall time; with one,
 * infer runs beside featurize and write. Work the writer thread does is in neither.
 */
export async function embedPartition(
  env: EmbedEnv,
  input: EmbedPartitionInput,
  hooks: EmbedHooks = {},
): Promise<PartitionResult> {
  const overlap = overlapOfTask(input);
  const watch = new Stopwatch(EMBED_STEPS);
  if (outputOffThread(overlap)) prewarmOutput(env.embeddings); // the writer thread boots while the model loads
  const run = await readRunManifest(env, input.modelVersion, input.date, input.attempt);
  const { partition } = input;
  if (!Number.isInteger(partition) || partition < 0 || partition >= run.partitions) {
    throw new ValidationError(`partition ${partition} is outside 0..${run.partitions - 1} of run ${run.version}`);
  }
  const model = await localModelDirectory(env, run.modelVersion);
  const embedder = await embedderFor(env, model, input, overlap); // ModelError here, before anything is written
  const policy = writePolicyOf(run);
  const sink = openOutputSink(
    env.embeddings,
    {
      partition,
      version: {
        modelVersion: run.modelVersion,
        date: run.date,
        ...(run.attempt === undefined ? {} : { attempt: run.attempt }),
      },
      dims: model.manifest.dims.embedding,
      ...(input.writeChunk === undefined ? {} : { writeChunk: input.writeChunk }),
      ...(policy === undefined ? {} : { policy }),
      ...(input.writeUnitsPerSecond === undefined ? {} : { writeUnitsPerSecond: input.writeUnitsPerSecond }),
      ...(snapshotKindOf(run, partition) === 'delta' ? { snapshot: 'delta' as const } : {}),
    },
    { threaded: outputOffThread(overlap) },
  );
  watch.restart();
  try {
    const inputs = await readPartition(env, run, partition, model, sink);
    watch.lap('read');
    const merged = mergeAndSelect(run, partition, model, inputs);
    sink.setUsers(merged.users, Int32Array.from(merged.selected));
    watch.lap('merge');
    hooks.onInference?.();
    const embedded = await embedAndWrite(embedder, merged, sink, watch);
    const snapshots = await writeSnapshots(env, run, partition, merged, sink, policy, watch);
    const threaded = inferenceOffThread(overlap);
    const result = partitionResultOf({ run, partition, inputs, merged, embedded, snapshots, policy, threaded, watch });
    await env.objects.put(
      layout.partitionResult(run.modelVersion, run.date, partition, run.attempt),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    const total = Object.entries(watch.seconds).reduce((a, [k, v]) => (threaded && k === 'infer' ? a : a + v), 0);
    env.log?.(
      `partition ${partition}: ${result.users} users, ${result.embeddedUsers} embedded (${result.activeUsers} active) in ${total.toFixed(1)}s` +
        ` (infer ${watch.seconds.infer.toFixed(1)}s; sequence snapshot ${snapshots.encodedSeconds.toFixed(1)}s here, embedding snapshot ` +
        `${snapshots.output.seconds.embeddingSnapshot.toFixed(1)}s ${sink.threaded ? 'on the writer thread' : 'inline'})`,
    );
    return result;
  } catch (error) {
    sink.abort();
    throw error;
  }
}

/** The partition result (written last: it marks the partition done) from what the steps reported. */
function partitionResultOf(parts: {
  readonly run: RunManifest;
  readonly partition: number;
  readonly inputs: PartitionInputs;
  readonly merged: MergedPartition;
  readonly embedded: Awaited<ReturnType<typeof embedAndWrite>>;
  readonly snapshots: Awaited<ReturnType<typeof writeSnapshots>>;
  readonly policy: WritePolicy | undefined;
  readonly threaded: boolean;
  readonly watch: EmbedStopwatch;
}): PartitionResult {
  const { run, merged, embedded, threaded } = parts;
  const { output, kept } = parts.snapshots;
  const seconds = parts.watch.seconds;
  return {
    partition: parts.partition,
    date: run.date,
    modelVersion: run.modelVersion,
    users: merged.users.length,
    activeUsers: merged.activeUsers,
    embeddedUsers: merged.selected.length,
    workEvents: parts.inputs.workEvents,
    // `wait` only means something beside an inference thread
    secondsByStep: threaded
      ? { ...seconds }
      : Object.fromEntries(Object.entries(seconds).filter(([k]) => k !== 'wait')),
    writeStats: {
      items: output.writeStats.items,
      requests: output.writeStats.requests,
      retries: output.writeStats.retries,
      throttles: output.writeStats.throttles,
      ...(parts.policy === undefined ? {} : { kept }),
    },
    tokens: embedded.tokens,
    itemInputs: parts.inputs.itemInputs,
    inference: {
      threaded,
      ...(Number.isFinite(embedded.inferCpuSeconds) ? { cpuSeconds: embedded.inferCpuSeconds } : {}),
    },
    stats: output.stats,
  };
}

/**
 * Step read: the partition's work files (every slice's must be there), the previous snapshots
 * (the embedding snapshot goes to the output side, which decodes it) and the item coverage.
 */
async function readPartition(
  env: EmbedEnv,
  run: RunManifest,
  partition: number,
  model: ModelDirectory,
  sink: OutputSink,
): Promise<PartitionInputs> {
  const workKeys = (await env.objects.list(layout.workPrefix(run.modelVersion, run.date, partition, run.attempt))).map(
    (o) => o.key,
  );
  const expected = run.slices.map((s) => layout.workFile(run.modelVersion, run.date, partition, s.index, run.attempt));
  const present = new Set(workKeys);
  const missing = expected.filter((k) => !present.has(k));
  if (missing.length > 0) {
    throw new ValidationError(
      `partition ${partition}: ${missing.length} work files missing (${missing[0]}): run every slice first`,
    );
  }
  const incoming = new Map<string, SequenceEvent[]>();
  let workEvents = 0;
  for (const key of expected) workEvents += await decodeWorkFile(await env.objects.get(key), key, incoming);
  // the previous state: its base and deltas (./state-chain.ts); embeddings decoded by the output side
  const previous = await readPreviousState(env, run, partition);
  for (const file of previous?.embeddingFiles ?? []) sink.setPrevious(file.bytes, file.key);
  const itemInputs = await itemCoverage(env, model, incoming);
  return { incoming, workEvents, previous, itemInputs };
}

/** Step merge and select: each user's new sequence, in user-id order, and who is embedded (shouldEmbed). */
function mergeAndSelect(
  run: RunManifest,
  partition: number,
  model: ModelDirectory,
  inputs: PartitionInputs,
): MergedPartition {
  const { manifest } = model;
  const { incoming, previous } = inputs;
  const dayStart = dayStartMs(run.date);
  const vocabulary = new Set(manifest.vocab.action);
  const rules: SequenceRules = {
    actions: vocabulary,
    maxLength: manifest.dims.maxLength,
    cutoffMs: dayStart + DAY_MS,
  };
  const previousByUser = previous?.users ?? new Map<string, StoredSequence>();
  const userIds = [...new Set([...previousByUser.keys(), ...incoming.keys()])].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const snapshot = new SequenceColumnsBuilder();
  const lastEmbedded: (string | null)[] = [];
  const selected: number[] = [];
  const sequences: SequenceEvent[][] = [];
  let activeUsers = 0;
  for (const userId of userIds) {
    const before = previousByUser.get(userId);
    const fresh = incoming.get(userId);
    const stored = before?.range.lastEmbedded ?? null;
    if (fresh === undefined) {
      // No new events: the stored sequence is already built by the same rules (same model, an
      // earlier cutoff), so its rows carry over unchanged.
      const embed = shouldEmbed({ lastEmbedded: stored }, false, run);
      if (embed) {
        selected.push(snapshot.size);
        sequences.push(eventsOf(before!.table, before!.range));
      }
      lastEmbedded.push(embed ? run.date : stored);
      snapshot.carry(before!.table, before!.range);
      continue;
    }
    const events = mergeSequence(before ? eventsOf(before.table, before.range) : [], fresh, rules);
    if (events.length === 0) continue; // only actions outside the vocabulary (e.g. hide)
    const changed = fresh.some((e) => vocabulary.has(e.action));
    if (fresh.some((e) => e.ts >= dayStart && vocabulary.has(e.action))) activeUsers++;
    const embed = shouldEmbed({ lastEmbedded: stored }, changed, run);
    if (embed) {
      selected.push(snapshot.size);
      sequences.push(events);
    }
    lastEmbedded.push(embed ? run.date : stored);
    snapshot.add(userId, events);
  }
  const written = snapshotKindOf(run, partition) === 'delta' ? snapshot.changed(selected) : undefined; // a delta's users
  return {
    rules,
    users: snapshot.users,
    columns: snapshot.build(written),
    written,
    lastEmbedded,
    selected,
    sequences,
    activeUsers,
  };
}

/**
 * Step embed and write: the selected users' batches, each handed to the output side, which writes
 * it while the next ones run. The embedder's own timings (featurize, infer, wait) go to the
 * stopwatch as they are; the rest of this thread's time here is waiting for the writes.
 */
async function embedAndWrite(
  embedder: OnnxEmbedder,
  merged: MergedPartition,
  sink: OutputSink,
  watch: EmbedStopwatch,
): Promise<{ tokens: { padded: number; real: number }; inferCpuSeconds: number }> {
  const tokens = { padded: 0, real: 0 };
  let inferCpuSeconds = 0;
  for await (const batch of embedder.embed(merged.sequences, merged.rules.cutoffMs)) {
    watch.add('featurize', batch.featurizeSeconds);
    watch.add('infer', batch.inferSeconds);
    watch.add('wait', batch.waitSeconds);
    inferCpuSeconds += batch.inferCpuSeconds;
    tokens.padded += batch.paddedTokens;
    tokens.real += batch.realTokens;
    watch.restart();
    await sink.addVectors(batch.indices, batch.embeddings);
    watch.lap('write');
  }
  return { tokens, inferCpuSeconds };
}

/**
 * Step snapshot: the rest of the writes and the embedding snapshot (output side) while this thread
 * encodes the sequence snapshot, then both snapshots' puts. With a write policy the users it kept
 * on their stored item keep that item's date, so the refresh-age rule still counts from it.
 */
async function writeSnapshots(
  env: EmbedEnv,
  run: RunManifest,
  partition: number,
  merged: MergedPartition,
  sink: OutputSink,
  policy: WritePolicy | undefined,
  watch: EmbedStopwatch,
): Promise<{ output: OutputResult; kept: number; encodedSeconds: number }> {
  const { columns, lastEmbedded, written } = merged;
  let drainedAt: number | undefined;
  let markKept!: (kept: KeptStored) => void;
  const drained = new Promise<KeptStored>((resolve) => {
    markKept = resolve;
  });
  const finished = sink.finish((kept) => {
    drainedAt = performance.now();
    markKept(kept);
  });
  finished.catch(() => {}); // awaited below
  let kept = 0;
  if (policy !== undefined) {
    const stored = await Promise.race([drained, finished.then(() => drained)]);
    stored.users.forEach((u, i) => {
      lastEmbedded[u] = stored.dates[i]!;
    });
    kept = stored.users.length;
  }
  const sequenceBytes = encodeSequenceColumns(columns, written?.map((u) => lastEmbedded[u]!) ?? lastEmbedded);
  const encodedSeconds = watch.lap('snapshot');
  const output = await finished;
  // waiting until the writes drained is write time, the rest is waiting for the embedding snapshot
  if (drainedAt !== undefined) watch.lap('write', drainedAt);
  watch.lap('snapshot');
  const keys = writtenKeys(run, partition);
  await env.objects.put(keys.sequences, sequenceBytes);
  await env.objects.put(keys.embeddings, output.embeddingBytes);
  watch.lap('snapshot');
  return { output, kept, encodedSeconds };
}
