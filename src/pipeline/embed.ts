import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { EmbeddingRecord, WriteStats } from '../embeddings/types.ts';
import { DAY_MS, dayStartMs } from '../events/schema.ts';
import { mergeSequence, type SequenceEvent, type SequenceRules } from '../features/sequence.ts';
import { OnnxEmbedder } from '../inference/embedder.ts';
import type { ModelDirectory } from '../inference/model-dir.ts';
import { ModelError, ValidationError } from '../util/errors.ts';
import { loadItemTable } from './items.ts';
import { layout } from './layout.ts';
import { localModelDirectory } from './model.ts';
import { readRunManifest } from './plan.ts';
import {
  decodeEmbeddingSnapshot,
  decodeSequenceSnapshot,
  decodeWorkFile,
  type EmbeddingSnapshotRow,
  encodeEmbeddingSnapshot,
  encodeSequenceSnapshot,
  type UserSequence,
} from './snapshots.ts';
import type { EmbeddingStats, ExecutionProvider, PartitionResult, PipelineEnv, RunManifest } from './types.ts';

export interface EmbedPartitionInput {
  readonly date: string;
  readonly modelVersion: string;
  readonly partition: number;
  /** Default 'cpu'; 'cuda' fails with ModelError when the CUDA provider cannot run the model. */
  readonly executionProvider?: ExecutionProvider;
  /** onnxruntime intra-op threads; default onnxruntime's choice. */
  readonly threads?: number;
  /** Most users per inference batch; default BATCH_DEFAULTS (src/inference/embedder.ts). */
  readonly maxBatchSize?: number;
  /** Most positions (users × padded length) per inference batch; default BATCH_DEFAULTS. */
  readonly maxTokensPerBatch?: number;
  /** Embeddings per writeEmbeddings call (writes overlap the next batches' inference); default 2048. */
  readonly writeChunk?: number;
}

const sessions = new Map<string, Promise<OnnxEmbedder>>();

/** One embedder per model, provider and thread count for the life of the process (workers embed several partitions). */
async function embedderFor(env: PipelineEnv, model: ModelDirectory, input: EmbedPartitionInput): Promise<OnnxEmbedder> {
  const key = [
    model.manifest.modelVersion,
    input.executionProvider ?? 'cpu',
    input.threads ?? 0,
    input.maxBatchSize ?? 0,
    input.maxTokensPerBatch ?? 0,
  ].join('\u0000');
  let embedder = sessions.get(key);
  if (!embedder) {
    embedder = (async () => {
      const items = await loadItemTable(
        env.objects,
        model.manifest.dims.itemVector,
        model.idVocabulary,
        model.manifest.items.idVocabulary ?? '',
      );
      return OnnxEmbedder.open(model, items, {
        ...(input.executionProvider === undefined ? {} : { executionProvider: input.executionProvider }),
        ...(input.threads === undefined ? {} : { threads: input.threads }),
        ...(input.maxBatchSize === undefined ? {} : { maxBatchSize: input.maxBatchSize }),
        ...(input.maxTokensPerBatch === undefined ? {} : { maxTokensPerBatch: input.maxTokensPerBatch }),
      });
    })();
    sessions.set(key, embedder);
    embedder.catch(() => sessions.delete(key));
  }
  return embedder;
}

/** Releases the cached sessions (tests, end of a worker). */
export async function releaseEmbedders(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  for (const e of all) await (await e.catch(() => undefined))?.release();
}

function daysBetween(from: string, to: string): number {
  return Math.round((dayStartMs(to) - dayStartMs(from)) / DAY_MS);
}

/** Which users to embed on D, and why (docs/pipeline.md, "Selection"). */
export function shouldEmbed(
  user: UserSequence,
  changed: boolean,
  run: Pick<RunManifest, 'date' | 'backfill' | 'refreshAgeDays'>,
): boolean {
  if (run.backfill || changed || user.lastEmbedded === null) return true;
  return daysBetween(user.lastEmbedded, run.date) >= run.refreshAgeDays;
}

function norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot / (norm(a) * norm(b) || 1);
}

/**
 * Stage 3 (one Batch job per partition). Loads the previous sequence snapshot (or starts empty
 * when the plan found none: the work files then hold the whole look-back), merges the routed
 * events, writes the new snapshot, embeds the selected users in length-bucketed batches while
 * earlier batches are written to the store, writes the merged embedding snapshot for every user
 * of the partition and, last, the partition result (which marks the partition done). Rerunning
 * writes the same keys with the same values.
 */
export async function embedPartition(env: PipelineEnv, input: EmbedPartitionInput): Promise<PartitionResult> {
  const seconds = { read: 0, merge: 0, featurize: 0, infer: 0, write: 0, snapshot: 0 };
  let mark = performance.now();
  const lap = (step: keyof typeof seconds): void => {
    const now = performance.now();
    seconds[step] += (now - mark) / 1000;
    mark = now;
  };
  const run = await readRunManifest(env, input.modelVersion, input.date);
  const { partition } = input;
  if (!Number.isInteger(partition) || partition < 0 || partition >= run.partitions) {
    throw new ValidationError(`partition ${partition} is outside 0..${run.partitions - 1} of run ${run.version}`);
  }
  const model = await localModelDirectory(env, run.modelVersion);
  const { manifest } = model;
  const embedder = await embedderFor(env, model, input); // ModelError here, before anything is written
  const dims = manifest.dims.embedding;

  // ---- read
  const workKeys = (await env.objects.list(layout.workPrefix(run.modelVersion, run.date, partition))).map((o) => o.key);
  const expected = run.slices.map((s) => layout.workFile(run.modelVersion, run.date, partition, s.index));
  const missing = expected.filter((k) => !workKeys.includes(k));
  if (missing.length > 0) {
    throw new ValidationError(
      `partition ${partition}: ${missing.length} work files missing (${missing[0]}): run every slice first`,
    );
  }
  const incoming = new Map<string, SequenceEvent[]>();
  let workEvents = 0;
  for (const key of expected) workEvents += await decodeWorkFile(await env.objects.get(key), key, incoming);
  let previous: UserSequence[] = [];
  let previousEmbeddings = new Map<string, EmbeddingSnapshotRow>();
  if (run.previousSnapshotDate !== undefined) {
    const seqKey = layout.sequences(run.modelVersion, run.previousSnapshotDate, partition);
    previous = await decodeSequenceSnapshot(await env.objects.get(seqKey), seqKey);
    const embKey = layout.embeddings(run.modelVersion, run.previousSnapshotDate, partition);
    previousEmbeddings = await decodeEmbeddingSnapshot(await env.objects.get(embKey), embKey);
  }
  lap('read');

  // ---- merge and select
  const dayStart = dayStartMs(run.date);
  const vocabulary = new Set(manifest.vocab.action);
  const rules: SequenceRules = {
    actions: vocabulary,
    maxLength: manifest.dims.maxLength,
    cutoffMs: dayStart + DAY_MS,
  };
  const previousByUser = new Map(previous.map((u) => [u.userId, u]));
  const userIds = [...new Set([...previousByUser.keys(), ...incoming.keys()])].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const users: UserSequence[] = [];
  const selected: number[] = [];
  let activeUsers = 0;
  for (const userId of userIds) {
    const before = previousByUser.get(userId);
    const fresh = incoming.get(userId) ?? [];
    const events = mergeSequence(before?.events ?? [], fresh, rules);
    if (events.length === 0) continue; // only actions outside the vocabulary (e.g. hide)
    const changed = fresh.some((e) => vocabulary.has(e.action));
    if (fresh.some((e) => e.ts >= dayStart && vocabulary.has(e.action))) activeUsers++;
    const user: UserSequence = { userId, events, lastEmbedded: before?.lastEmbedded ?? null };
    if (shouldEmbed(user, changed, run)) selected.push(users.length);
    users.push(user);
  }
  lap('merge');

  // ---- embed, writing each chunk while the next batches run
  const fresh = new Map<number, Float32Array>();
  const writes: Promise<WriteStats>[] = [];
  const writeStats = { items: 0, requests: 0, retries: 0, throttles: 0 };
  const tokens = { padded: 0, real: 0 };
  const version = { modelVersion: run.modelVersion, date: run.date };
  const chunk = input.writeChunk ?? 2048;
  let pending: EmbeddingRecord[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    writes.push(env.embeddings.writeEmbeddings(version, pending));
    pending = [];
    if (writes.length >= 2) {
      // keep at most two chunks in flight: bounded memory, bounded pressure on the table
      const settled = await writes.shift()!;
      writeStats.items += settled.items;
      writeStats.requests += settled.requests;
      writeStats.retries += settled.retries;
      writeStats.throttles += settled.throttles;
    }
  };
  const sequences = selected.map((i) => users[i]!.events);
  for await (const batch of embedder.embed(sequences, rules.cutoffMs)) {
    seconds.featurize += batch.featurizeSeconds;
    seconds.infer += batch.inferSeconds;
    tokens.padded += batch.paddedTokens;
    tokens.real += batch.realTokens;
    batch.indices.forEach((k, row) => {
      const userIndex = selected[k]!;
      const vector = batch.embeddings.slice(row * dims, (row + 1) * dims);
      fresh.set(userIndex, vector);
      pending.push({ userId: users[userIndex]!.userId, embedding: vector });
    });
    mark = performance.now();
    if (pending.length >= chunk) await flush();
    await yieldToEventLoop(); // let in-flight writes progress between batches
    lap('write');
  }
  await flush();
  for (const settled of await Promise.all(writes)) {
    writeStats.items += settled.items;
    writeStats.requests += settled.requests;
    writeStats.retries += settled.retries;
    writeStats.throttles += settled.throttles;
  }
  lap('write');

  // ---- snapshots and checks over every user of the partition
  const snapshotRows: EmbeddingSnapshotRow[] = [];
  const snapshotUsers: UserSequence[] = [];
  const stats = {
    users: 0,
    nonFinite: 0,
    minNorm: Number.POSITIVE_INFINITY,
    maxNorm: 0,
    driftUsers: 0,
    driftCosineSum: 0,
  };
  const sum = new Float64Array(dims);
  users.forEach((user, i) => {
    const vector = fresh.get(i);
    const carried = previousEmbeddings.get(user.userId);
    const embedding = vector ?? carried?.embedding;
    const date = vector ? run.date : carried?.date;
    if (embedding === undefined || date === undefined) {
      throw new ModelError(`partition ${partition}: user ${user.userId} has neither a new nor an earlier embedding`, {
        userId: user.userId,
      });
    }
    snapshotUsers.push({ userId: user.userId, events: user.events, lastEmbedded: date });
    snapshotRows.push({ userId: user.userId, date, embedding });
    stats.users++;
    let finite = true;
    for (let d = 0; d < dims; d++) {
      if (!Number.isFinite(embedding[d]!)) finite = false;
      else sum[d]! += embedding[d]!;
    }
    if (!finite) {
      stats.nonFinite++;
      return;
    }
    const n = norm(embedding);
    stats.minNorm = Math.min(stats.minNorm, n);
    stats.maxNorm = Math.max(stats.maxNorm, n);
    if (vector && carried && carried.embedding.length === dims) {
      stats.driftUsers++;
      stats.driftCosineSum += cosine(vector, carried.embedding);
    }
  });
  await env.objects.put(layout.sequences(run.modelVersion, run.date, partition), encodeSequenceSnapshot(snapshotUsers));
  await env.objects.put(
    layout.embeddings(run.modelVersion, run.date, partition),
    encodeEmbeddingSnapshot(snapshotRows, dims),
  );
  lap('snapshot');

  const embeddingStats: EmbeddingStats = {
    ...stats,
    minNorm: stats.users === 0 ? 1 : stats.minNorm,
    maxNorm: stats.users === 0 ? 1 : stats.maxNorm,
    sum: Array.from(sum),
  };
  const result: PartitionResult = {
    partition,
    date: run.date,
    modelVersion: run.modelVersion,
    users: users.length,
    activeUsers,
    embeddedUsers: selected.length,
    workEvents,
    secondsByStep: seconds,
    writeStats,
    tokens,
    stats: embeddingStats,
  };
  await env.objects.put(
    layout.partitionResult(run.modelVersion, run.date, partition),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  env.log?.(
    `partition ${partition}: ${users.length} users, ${selected.length} embedded (${activeUsers} active) in ${Object.values(
      seconds,
    )
      .reduce((a, b) => a + b, 0)
      .toFixed(1)}s`,
  );
  return result;
}
