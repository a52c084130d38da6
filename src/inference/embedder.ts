import { basename } from 'node:path';
import type { FeatureBatch } from '../features/featurize.ts';
import { Featurizer } from '../features/featurize.ts';
import type { ItemTable } from '../features/item-table.ts';
import type { SequenceEvent } from '../features/sequence.ts';
import { featureSpecFromManifest, timeFeatureWidth } from '../features/spec.ts';
import { ModelError } from '../util/errors.ts';
import { type BatchSession, LocalBatchSession } from './batch-session.ts';
import { assertFinite, isCollapsed } from './checks.ts';
import type { ModelDirectory } from './model-dir.ts';
import { profilerFor } from './profiler.ts';
import { openSession, type SessionOptions } from './session.ts';
import { ThreadBatchSession } from './thread-session.ts';

export interface EmbedderOptions extends SessionOptions {
  /** Most users per batch; default 64 on the CPU, 512 on CUDA. */
  readonly maxBatchSize?: number;
  /** Most positions (users × padded length) per batch; default 4096 on the CPU, 65536 on CUDA. */
  readonly maxTokensPerBatch?: number;
  /**
   * Run the session on an inference thread of its own; default false. embed() then featurizes the
   * next batch, and its caller writes the last one, while a batch runs (the embed stage turns it on).
   */
  readonly inferenceThread?: boolean;
  /** URL of a module that measures each session.run's CPU time (./profiler.ts); default none (inferCpuSeconds NaN). */
  readonly profiler?: string;
}

/**
 * Batch limits per provider. On the CPU small batches stay in cache; a GPU wants large batches to
 * amortise launches and copies. How each was chosen, with the figures: reports/bench.md, sections 1
 * (CPU) and 5 (GPU).
 */
export const BATCH_DEFAULTS = {
  cpu: { maxBatchSize: 64, maxTokensPerBatch: 4096 },
  cuda: { maxBatchSize: 512, maxTokensPerBatch: 65_536 },
} as const;

/** One finished batch: rows of `embeddings` belong to `indices` of the input list. */
export interface EmbeddedBatch {
  readonly indices: readonly number[];
  readonly embeddings: Float32Array; // [indices.length, D]
  readonly featurizeSeconds: number;
  /** Wall seconds of session.run. */
  readonly inferSeconds: number;
  /** CPU seconds of session.run, as the caller's profiler measured them (NaN without one: ./profiler.ts). */
  readonly inferCpuSeconds: number;
  /** Seconds the calling thread waited for this batch's result (0 without an inference thread: it ran it). */
  readonly waitSeconds: number;
  /** Padded positions / real positions of this batch. */
  readonly paddedTokens: number;
  readonly realTokens: number;
}

/**
 * Largest allowed difference between the CPU-tuned graph's probe embeddings and the portable
 * graph's (unit vectors; the exports agree to ~1e-7, docs/model.md).
 */
export const CPU_GRAPH_TOLERANCE = 1e-4;

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

const INPUT_NAMES = ['item_vec', 'item_id', 'action', 'surface', 'time_frac', 'scalars', 'lengths'] as const;

/**
 * Length bucketing: indices sorted by sequence length, cut into batches that respect both limits,
 * so each batch pads only to its own longest sequence.
 */
export function planBatches(lengths: readonly number[], maxBatchSize: number, maxTokens: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const batches: number[][] = [];
  let current: number[] = [];
  for (const i of order) {
    const longest = lengths[i]!; // ascending, so the newest is the longest
    if (current.length > 0 && (current.length >= maxBatchSize || (current.length + 1) * longest > maxTokens)) {
      batches.push(current);
      current = [];
    }
    current.push(i);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Runs a model directory's ONNX graph on featurized sequences, with output checks. */
export class OnnxEmbedder {
  private constructor(
    private readonly session: BatchSession,
    private readonly featurizer: Featurizer,
    public readonly model: ModelDirectory,
    private readonly options: EmbedderOptions,
    /** The graph file this session runs (model.onnx or the CPU-tuned graph). */
    public readonly file: string,
  ) {}

  public get dims(): number {
    return this.model.manifest.dims.embedding;
  }

  /**
   * Opens the session and checks the graph against the manifest: input names and widths, then a
   * probe batch whose output must be [B, D], finite and not one constant vector. On the CPU a
   * model's CPU-tuned graph (files.onnxCpu) is used when it has one, after the same checks and a
   * probe that must match the portable graph's to CPU_GRAPH_TOLERANCE. Any mismatch is a
   * ModelError, raised before a caller writes anything.
   */
  public static async open(model: ModelDirectory, items: ItemTable, options: EmbedderOptions = {}) {
    const { manifest } = model;
    if (items.dim !== manifest.dims.itemVector) {
      throw new ModelError(
        `item vectors are ${items.dim}-d but the model expects dims.itemVector=${manifest.dims.itemVector}`,
        { items: items.dim, expected: manifest.dims.itemVector },
      );
    }
    const featurizer = new Featurizer(featureSpecFromManifest(manifest), items);
    const cpu = (options.executionProvider ?? 'cpu') === 'cpu' && model.cpuOnnxPath !== null;
    // Only the graph that will embed runs on an inference thread; the portable graph beside a
    // CPU-tuned one is opened here just for its probe.
    const portable = await OnnxEmbedder.openChecked(model, model.onnxPath, featurizer, options, !cpu);
    if (!cpu) return portable.embedder;
    try {
      const tuned = await OnnxEmbedder.openChecked(model, model.cpuOnnxPath!, featurizer, options, true);
      const diff = maxAbsDifference(tuned.probe, portable.probe);
      if (!(diff <= CPU_GRAPH_TOLERANCE)) {
        await tuned.embedder.release();
        throw new ModelError(
          `${basename(model.cpuOnnxPath!)} disagrees with model.onnx on the probe batch (max difference ${diff}; allowed ${CPU_GRAPH_TOLERANCE}): re-export the model directory`,
          { difference: diff, tolerance: CPU_GRAPH_TOLERANCE },
        );
      }
      return tuned.embedder;
    } finally {
      await portable.embedder.release();
    }
  }

  /** One graph: session, contract checks and the probe (whose output is returned for comparison). */
  private static async openChecked(
    model: ModelDirectory,
    onnxPath: string,
    featurizer: Featurizer,
    options: EmbedderOptions,
    embeds: boolean,
  ): Promise<{ embedder: OnnxEmbedder; probe: Float32Array }> {
    const { manifest } = model;
    const file = basename(onnxPath);
    const session: BatchSession =
      embeds && options.inferenceThread
        ? await ThreadBatchSession.open(onnxPath, file, options)
        : new LocalBatchSession(
            await openSession(onnxPath, options),
            file,
            await profilerFor(options.profiler, options.threads),
          );
    const expectedWidths: Record<string, number> = {
      item_vec: manifest.dims.itemVector,
      time_frac: timeFeatureWidth(featureSpecFromManifest(manifest)),
      scalars: 4,
    };
    const present = new Set(session.inputNames);
    const missing = INPUT_NAMES.filter((name) => !present.has(name));
    if (missing.length > 0 || !session.outputNames.includes('embedding')) {
      await session.release();
      throw new ModelError(`${file} inputs/outputs do not match docs/model-interface.md`, {
        missingInputs: missing,
        outputs: session.outputNames,
      });
    }
    for (const meta of session.inputMetadata) {
      const expected = expectedWidths[meta.name];
      if (expected === undefined || !meta.isTensor) continue;
      const last = meta.shape[meta.shape.length - 1];
      if (typeof last === 'number' && last !== expected) {
        await session.release();
        throw new ModelError(`${file} input ${meta.name} has width ${last}; the manifest implies ${expected}`, {
          input: meta.name,
          width: last,
          expected,
        });
      }
    }
    const embedder = new OnnxEmbedder(session, featurizer, model, options, file);
    try {
      return { embedder, probe: await embedder.probe() };
    } catch (error) {
      await embedder.release();
      throw error;
    }
  }

  /** A fixed batch of distinct sequences: checks output shape, finiteness and collapse. */
  private async probe(): Promise<Float32Array> {
    const { manifest } = this.model;
    const cutoffMs = Date.UTC(2026, 0, 2);
    const sequences: SequenceEvent[][] = [];
    for (let u = 0; u < 4; u++) {
      const length = Math.min(manifest.dims.maxLength, 1 + 3 * u);
      sequences.push(
        Array.from({ length }, (_, t) => ({
          item_id: `probe-${u}-${t}`,
          action: manifest.vocab.action[(u + t) % manifest.vocab.action.length]!,
          surface: manifest.vocab.surface[t % Math.max(manifest.vocab.surface.length, 1)] ?? null,
          ts: cutoffMs - 86_400_000 * (u + 1) + 3_600_000 * t,
          duration_ms: 1000 * (u + t),
        })),
      );
    }
    sequences.push(fullLengthProbe(this.model, cutoffMs));
    let out: Float32Array;
    try {
      out = await this.run(this.featurizer.featurize(sequences, cutoffMs));
    } catch (error) {
      const { maxLength } = manifest.dims;
      throw new ModelError(
        `${this.file} fails on a sequence of the manifest's dims.maxLength=${maxLength} using every action ` +
          `(${manifest.vocab.action.length}) and surface (${manifest.vocab.surface.length} + unknown) id: the manifest ` +
          `does not match the graph (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
        { maxLength, actions: manifest.vocab.action.length, surfaces: manifest.vocab.surface.length },
        { cause: error },
      );
    }
    if (out.length !== sequences.length * this.dims) {
      throw new ModelError(
        `${this.file} returns ${out.length / sequences.length} values per user; manifest dims.embedding is ${this.dims}`,
        { got: out.length / sequences.length, expected: this.dims },
      );
    }
    assertFinite(out, this.dims, 'on the probe batch');
    if (isCollapsed(out, this.dims)) {
      throw new ModelError(`${this.file} returns the same vector for different users (collapsed)`, {});
    }
    return out;
  }

  /** Runs one featurized batch; returns [B, D] float32. With an inference thread the batch's arrays are handed over. */
  public async run(batch: FeatureBatch): Promise<Float32Array> {
    return (await this.session.run(batch)).embedding;
  }

  /**
   * Embeds built sequences (non-empty, at most maxLength each) in length-bucketed batches, yielding
   * each checked batch as soon as it is done so callers can write while the next one runs. With an
   * inference thread one batch waits queued behind the running one, and the next is featurized
   * meanwhile, so the thread never idles while this thread works.
   */
  public async *embed(
    sequences: readonly (readonly SequenceEvent[])[],
    cutoffMs: number,
  ): AsyncGenerator<EmbeddedBatch, void, undefined> {
    const defaults = BATCH_DEFAULTS[this.options.executionProvider ?? 'cpu'];
    const batches = planBatches(
      sequences.map((s) => s.length),
      this.options.maxBatchSize ?? defaults.maxBatchSize,
      this.options.maxTokensPerBatch ?? defaults.maxTokensPerBatch,
    );
    const depth = this.session.concurrent ? 2 : 1;
    const queued: Promise<Omit<EmbeddedBatch, 'waitSeconds'>>[] = [];
    const next = async (): Promise<EmbeddedBatch> => {
      const waitFrom = performance.now();
      const batch = await queued.shift()!;
      return { ...batch, waitSeconds: this.session.concurrent ? (performance.now() - waitFrom) / 1000 : 0 };
    };
    for (const indices of batches) {
      const t0 = performance.now();
      const features = this.featurizer.featurize(
        indices.map((i) => sequences[i]!),
        cutoffMs,
      );
      const featurizeSeconds = (performance.now() - t0) / 1000;
      let realTokens = 0;
      for (const i of indices) realTokens += sequences[i]!.length;
      const paddedTokens = features.batchSize * features.length;
      const done = this.session.run(features).then((run) => {
        assertFinite(run.embedding, this.dims, `(user index ${indices[0]} batch)`);
        return {
          indices,
          embeddings: run.embedding,
          featurizeSeconds,
          inferSeconds: run.seconds,
          inferCpuSeconds: run.cpuSeconds,
          paddedTokens,
          realTokens,
        };
      });
      done.catch(() => {}); // awaited in order by next(); a stopped consumer leaves it unawaited
      queued.push(done);
      while (queued.length >= depth) yield await next();
    }
    while (queued.length > 0) yield await next();
  }

  public async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * One probe sequence of exactly dims.maxLength that uses every action, every surface (and an
 * unknown one, and none) and the last id of the item vocabulary: a graph whose position table or
 * embedding tables are smaller than the manifest says fails here, at deploy, not on the first
 * long-history user of a daily run.
 */
function fullLengthProbe(model: ModelDirectory, cutoffMs: number): SequenceEvent[] {
  const { manifest, itemIds } = model;
  const surfaces = [...manifest.vocab.surface, null, 'probe-unknown-surface'];
  const lastId = itemIds?.lastId ?? null;
  const length = manifest.dims.maxLength;
  return Array.from({ length }, (_, t) => ({
    item_id: t === length - 1 && lastId !== null ? lastId : `probe-full-${t}`,
    action: manifest.vocab.action[t % manifest.vocab.action.length]!,
    surface: surfaces[t % surfaces.length] ?? null,
    ts: cutoffMs - 60_000 * (length - t),
    duration_ms: 500 * (t % 40),
  }));
}
