import { DAY_MS, dayStartMs } from '../events/schema.ts';
import { mergeSequence, type SequenceEvent, type SequenceRules } from '../features/sequence.ts';
import { OnnxEmbedder } from '../inference/embedder.ts';
import type { ModelDirectory } from '../inference/model-dir.ts';
import { ValidationError } from '../util/errors.ts';
import type { KeptStored } from './embed-output.ts';
import { closeWriterThread, openOutputSink, prewarmOutput } from './embed-writer.ts';
import { loadItemTable } from './items.ts';
import { layout } from './layout.ts';
import { localModelDirectory } from './model.ts';
import { readRunManifest } from './plan.ts';
import {
  decodeSequenceTable,
  decodeWorkFile,
  encodeSequenceColumns,
  eventsOf,
  SequenceColumnsBuilder,
  type SequenceTable,
  type UserSequence,
} from './snapshots.ts';
import type { EmbedEnv, ExecutionProvider, ItemInputs, ObjectsEnv, PartitionResult, RunManifest } from './types.ts';
import { writePolicyOf } from './write-policy.ts';

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
   * Whether the output (table writes, embedding snapshot) runs on the process's writer thread;
   * default true. Worth it when a core is free for it (GPU inference, spare CPU cores); where every
   * core already runs inference it only adds a thread's start-up and contention, so the local
   * runner turns it off then (src/pipeline/local-runner.ts).
   */
  readonly writerThread?: boolean;
  /**
   * Whether inference runs on an inference thread of its own (src/inference/thread-session.ts);
   * default true with the CUDA provider, false on the CPU. This thread then featurizes the next batch
   * and hands the last one to the output while a batch runs (and other partitions of the same worker
   * read, merge and snapshot meanwhile): a GPU never waits for the CPU's share of the work. On a CPU
   * whose cores all run inference the thread only adds contention (src/pipeline/local-runner.ts).
   */
  readonly inferenceThread?: boolean;
}

/** Progress callbacks of one embedPartition call (the local runner's pipelining). */
export interface EmbedHooks {
  /** The partition is read and merged and its first batch is about to run. */
  readonly onInference?: () => void;
}

const sessions = new Map<string, Promise<OnnxEmbedder>>();

function threadedInference(input: EmbedPartitionInput): boolean {
  return input.inferenceThread ?? input.executionProvider === 'cuda';
}

/** One embedder per model, provider and thread count for the life of the process (workers embed several partitions). */
async function embedderFor(env: ObjectsEnv, model: ModelDirectory, input: EmbedPartitionInput): Promise<OnnxEmbedder> {
  const key = [
    model.manifest.modelVersion,
    input.executionProvider ?? 'cpu',
    input.threads ?? 0,
    input.maxBatchSize ?? 0,
    input.maxTokensPerBatch ?? 0,
    threadedInference(input),
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
        inferenceThread: threadedInference(input),
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

/**
 * Stage 3 (one Batch job per partition). Loads the previous sequence snapshot (or starts empty
 * when the plan found none: the work files then hold the whole look-back), merges the routed
 * events, embeds the selected users in length-bucketed batches and hands each batch to the
 * partition's output (./embed-writer.ts: a writer thread that writes the table while inference
 * runs and builds the embedding snapshot), encodes the sequence snapshot while the output drains,
 * writes both snapshots and, last, the partition result
 * (which marks the partition done). Users without new events carry their snapshot rows over as
 * column ranges, never as per-event objects. Rerunning writes the same keys with the same values.
 *
 * secondsByStep splits this thread's wall time: read, merge, featurize, write (waiting for table
 * writes: back-pressure and the rest of the drain), snapshot (encoding the sequence snapshot,
 * waiting for the embedding snapshot, the puts) and, with an inference thread, wait (waiting for a
 * batch's result); infer is the wall time of the partition's session.run calls. Without an
 * inference thread infer is on this thread too and the steps add up to its wall time; with one,
 * infer runs beside featurize and write (`inference` has the thread's CPU seconds). Work
 * the writer thread does is in neither.
 */
export async function embedPartition(
  env: EmbedEnv,
  input: EmbedPartitionInput,
  hooks: EmbedHooks = {},
): Promise<PartitionResult> {
  const seconds = { read: 0, merge: 0, featurize: 0, infer: 0, wait: 0, write: 0, snapshot: 0 };
  const inferenceOnThread = threadedInference(input);
  let mark = performance.now();
  const lap = (step: keyof typeof seconds): void => {
    const now = performance.now();
    seconds[step] += (now - mark) / 1000;
    mark = now;
  };
  const threaded = input.writerThread ?? true;
  if (threaded) prewarmOutput(env.embeddings); // the writer thread boots while the model loads
  const run = await readRunManifest(env, input.modelVersion, input.date, input.attempt);
  const { partition } = input;
  if (!Number.isInteger(partition) || partition < 0 || partition >= run.partitions) {
    throw new ValidationError(`partition ${partition} is outside 0..${run.partitions - 1} of run ${run.version}`);
  }
  const model = await localModelDirectory(env, run.modelVersion);
  const { manifest } = model;
  const embedder = await embedderFor(env, model, input); // ModelError here, before anything is written
  const dims = manifest.dims.embedding;
  const version = {
    modelVersion: run.modelVersion,
    date: run.date,
    ...(run.attempt === undefined ? {} : { attempt: run.attempt }),
  };
  const policy = writePolicyOf(run);
  const sink = openOutputSink(
    env.embeddings,
    {
      partition,
      version,
      dims,
      ...(input.writeChunk === undefined ? {} : { writeChunk: input.writeChunk }),
      ...(policy === undefined ? {} : { policy }),
      ...(input.writeUnitsPerSecond === undefined ? {} : { writeUnitsPerSecond: input.writeUnitsPerSecond }),
    },
    { threaded },
  );
  mark = performance.now();
  try {
    // ---- read
    const workKeys = (
      await env.objects.list(layout.workPrefix(run.modelVersion, run.date, partition, run.attempt))
    ).map((o) => o.key);
    const expected = run.slices.map((s) =>
      layout.workFile(run.modelVersion, run.date, partition, s.index, run.attempt),
    );
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
    let previous: SequenceTable | undefined;
    if (run.previousSnapshotDate !== undefined) {
      const embKey = layout.embeddings(
        run.modelVersion,
        run.previousSnapshotDate,
        partition,
        run.previousSnapshotAttempt,
      );
      sink.setPrevious(await env.objects.get(embKey), embKey); // decoded by the output side
      const seqKey = layout.sequences(
        run.modelVersion,
        run.previousSnapshotDate,
        partition,
        run.previousSnapshotAttempt,
      );
      previous = await decodeSequenceTable(await env.objects.get(seqKey), seqKey);
    } else {
      sink.setPrevious(undefined, '');
    }
    const itemInputs = await itemCoverage(env, model, incoming);
    lap('read');

    // ---- merge and select
    const dayStart = dayStartMs(run.date);
    const vocabulary = new Set(manifest.vocab.action);
    const rules: SequenceRules = {
      actions: vocabulary,
      maxLength: manifest.dims.maxLength,
      cutoffMs: dayStart + DAY_MS,
    };
    const previousByUser = new Map((previous?.users ?? []).map((u) => [u.userId, u]));
    const userIds = [...new Set([...previousByUser.keys(), ...incoming.keys()])].sort((a, b) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    const snapshot = new SequenceColumnsBuilder();
    const lastEmbedded: (string | null)[] = []; // per snapshot user: D when embedded now, else as stored
    const selected: number[] = [];
    const sequences: SequenceEvent[][] = [];
    let activeUsers = 0;
    for (const userId of userIds) {
      const before = previousByUser.get(userId);
      const fresh = incoming.get(userId);
      const stored = before?.lastEmbedded ?? null;
      if (fresh === undefined) {
        // No new events: the stored sequence is already built by the same rules (same model, an
        // earlier cutoff), so its rows carry over unchanged.
        const embed = shouldEmbed({ lastEmbedded: stored }, false, run);
        if (embed) {
          selected.push(snapshot.size);
          sequences.push(eventsOf(previous!, before!));
        }
        lastEmbedded.push(embed ? run.date : stored);
        snapshot.carry(previous!, before!);
        continue;
      }
      const events = mergeSequence(before ? eventsOf(previous!, before) : [], fresh, rules);
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
    const users = snapshot.size;
    const columns = snapshot.build();
    sink.setUsers(columns.userIds, Int32Array.from(selected));
    lap('merge');
    hooks.onInference?.();

    // ---- embed; the output side writes each batch while the next ones run
    const tokens = { padded: 0, real: 0 };
    let inferCpuSeconds = 0;
    for await (const batch of embedder.embed(sequences, rules.cutoffMs)) {
      seconds.featurize += batch.featurizeSeconds;
      seconds.infer += batch.inferSeconds;
      seconds.wait += batch.waitSeconds;
      inferCpuSeconds += batch.inferCpuSeconds;
      tokens.padded += batch.paddedTokens;
      tokens.real += batch.realTokens;
      mark = performance.now();
      await sink.addVectors(batch.indices, batch.embeddings);
      lap('write');
    }

    // ---- the rest of the writes and the embedding snapshot (output side), the sequence snapshot (here) meanwhile
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
      // users left on their stored item keep its date, so the refresh-age rule still counts from it
      const stored = await Promise.race([drained, finished.then(() => drained)]);
      stored.users.forEach((u, i) => {
        lastEmbedded[u] = stored.dates[i]!;
      });
      kept = stored.users.length;
    }
    const sequenceBytes = encodeSequenceColumns(columns, lastEmbedded);
    const encodedSeconds = (performance.now() - mark) / 1000;
    lap('snapshot');
    const output = await finished;
    // waiting until the writes drained is write time, the rest is waiting for the embedding snapshot
    if (drainedAt !== undefined && drainedAt > mark) {
      seconds.write += (drainedAt - mark) / 1000;
      mark = drainedAt;
    }
    lap('snapshot');
    await env.objects.put(layout.sequences(run.modelVersion, run.date, partition, run.attempt), sequenceBytes);
    await env.objects.put(layout.embeddings(run.modelVersion, run.date, partition, run.attempt), output.embeddingBytes);
    lap('snapshot');

    const result: PartitionResult = {
      partition,
      date: run.date,
      modelVersion: run.modelVersion,
      users,
      activeUsers,
      embeddedUsers: selected.length,
      workEvents,
      // `wait` only means something beside an inference thread
      secondsByStep: inferenceOnThread
        ? seconds
        : Object.fromEntries(Object.entries(seconds).filter(([k]) => k !== 'wait')),
      writeStats: {
        items: output.writeStats.items,
        requests: output.writeStats.requests,
        retries: output.writeStats.retries,
        throttles: output.writeStats.throttles,
        ...(policy === undefined ? {} : { kept }),
      },
      tokens,
      itemInputs,
      inference: {
        threaded: inferenceOnThread,
        ...(Number.isFinite(inferCpuSeconds) ? { cpuSeconds: inferCpuSeconds } : {}),
      },
      stats: output.stats,
    };
    await env.objects.put(
      layout.partitionResult(run.modelVersion, run.date, partition, run.attempt),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    const total = Object.entries(seconds).reduce((a, [k, v]) => (inferenceOnThread && k === 'infer' ? a : a + v), 0);
    env.log?.(
      `partition ${partition}: ${users} users, ${selected.length} embedded (${activeUsers} active) in ${total.toFixed(1)}s` +
        ` (infer ${seconds.infer.toFixed(1)}s; sequence snapshot ${encodedSeconds.toFixed(1)}s here, embedding snapshot ` +
        `${output.seconds.embeddingSnapshot.toFixed(1)}s ${sink.threaded ? 'on the writer thread' : 'inline'})`,
    );
    return result;
  } catch (error) {
    sink.abort();
    throw error;
  }
}
