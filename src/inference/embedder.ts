import ort from 'onnxruntime-node';
import type { FeatureBatch } from '../features/featurize.ts';
import { Featurizer } from '../features/featurize.ts';
import type { ItemTable } from '../features/item-table.ts';
import type { SequenceEvent } from '../features/sequence.ts';
import { featureSpecFromManifest, timeFeatureWidth } from '../features/spec.ts';
import { ModelError } from '../util/errors.ts';
import { assertFinite, isCollapsed } from './checks.ts';
import type { ModelDirectory } from './model-dir.ts';
import { openSession, type SessionOptions } from './session.ts';

export interface EmbedderOptions extends SessionOptions {
  /** Most users per batch; default 64 on the CPU, 512 on CUDA. */
  readonly maxBatchSize?: number;
  /** Most positions (users × padded length) per batch; default 4096 on the CPU, 65536 on CUDA. */
  readonly maxTokensPerBatch?: number;
}

/**
 * Batch limits per provider. On the CPU small batches stay in cache: measured on the demo-size
 * model (2 x 64, M 256, 1 thread) 4096 positions per batch ran ~1.8x faster per user than 32768.
 * A GPU wants large batches to amortise launches and copies.
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
  readonly inferSeconds: number;
  /** Padded positions / real positions of this batch. */
  readonly paddedTokens: number;
  readonly realTokens: number;
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
    private readonly session: ort.InferenceSession,
    private readonly featurizer: Featurizer,
    public readonly model: ModelDirectory,
    private readonly options: EmbedderOptions,
  ) {}

  public get dims(): number {
    return this.model.manifest.dims.embedding;
  }

  /**
   * Opens the session and checks the graph against the manifest: input names and widths, then a
   * probe batch whose output must be [B, D], finite and not one constant vector. Any mismatch is a
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
    const session = await openSession(model.onnxPath, options);
    const spec = featureSpecFromManifest(manifest);
    const expectedWidths: Record<string, number> = {
      item_vec: manifest.dims.itemVector,
      time_frac: timeFeatureWidth(spec),
      scalars: 4,
    };
    const present = new Set(session.inputNames);
    const missing = INPUT_NAMES.filter((name) => !present.has(name));
    if (missing.length > 0 || !session.outputNames.includes('embedding')) {
      await session.release();
      throw new ModelError(`model.onnx inputs/outputs do not match docs/model-interface.md`, {
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
        throw new ModelError(`model.onnx input ${meta.name} has width ${last}; the manifest implies ${expected}`, {
          input: meta.name,
          width: last,
          expected,
        });
      }
    }
    const embedder = new OnnxEmbedder(session, new Featurizer(spec, items), model, options);
    await embedder.probe();
    return embedder;
  }

  /** A fixed batch of distinct sequences: checks output shape, finiteness and collapse. */
  private async probe(): Promise<void> {
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
    const out = await this.run(this.featurizer.featurize(sequences, cutoffMs));
    if (out.length !== sequences.length * this.dims) {
      throw new ModelError(
        `model.onnx returns ${out.length / sequences.length} values per user; manifest dims.embedding is ${this.dims}`,
        { got: out.length / sequences.length, expected: this.dims },
      );
    }
    assertFinite(out, this.dims, 'on the probe batch');
    if (isCollapsed(out, this.dims)) {
      throw new ModelError('model.onnx returns the same vector for different users (collapsed)', {});
    }
  }

  /** Runs one featurized batch; returns [B, D] float32. */
  public async run(batch: FeatureBatch): Promise<Float32Array> {
    const { batchSize: b, length: l } = batch;
    const ev = this.model.manifest.dims.itemVector;
    const feeds: Record<string, ort.Tensor> = {
      item_vec: new ort.Tensor('float32', batch.itemVec, [b, l, ev]),
      item_id: new ort.Tensor('int64', batch.itemId, [b, l]),
      action: new ort.Tensor('int64', batch.action, [b, l]),
      surface: new ort.Tensor('int64', batch.surface, [b, l]),
      time_frac: new ort.Tensor('float32', batch.timeFrac, [b, l, batch.timeFrac.length / (b * l)]),
      scalars: new ort.Tensor('float32', batch.scalars, [b, l, 4]),
      lengths: new ort.Tensor('int64', batch.lengths, [b]),
    };
    const result = await this.session.run(feeds);
    const output = result.embedding;
    if (output === undefined || output.type !== 'float32') {
      throw new ModelError('model.onnx did not return a float32 `embedding` output', {});
    }
    return output.data as Float32Array;
  }

  /**
   * Embeds built sequences (non-empty, at most maxLength each) in length-bucketed batches, yielding
   * each checked batch as soon as it is done so callers can write while the next one runs.
   */
  public async *embed(sequences: readonly (readonly SequenceEvent[])[], cutoffMs: number) {
    const defaults = BATCH_DEFAULTS[this.options.executionProvider ?? 'cpu'];
    const batches = planBatches(
      sequences.map((s) => s.length),
      this.options.maxBatchSize ?? defaults.maxBatchSize,
      this.options.maxTokensPerBatch ?? defaults.maxTokensPerBatch,
    );
    for (const indices of batches) {
      const t0 = performance.now();
      const features = this.featurizer.featurize(
        indices.map((i) => sequences[i]!),
        cutoffMs,
      );
      const t1 = performance.now();
      const embeddings = await this.run(features);
      const t2 = performance.now();
      assertFinite(embeddings, this.dims, `(user index ${indices[0]} batch)`);
      let realTokens = 0;
      for (const i of indices) realTokens += sequences[i]!.length;
      const batch: EmbeddedBatch = {
        indices,
        embeddings,
        featurizeSeconds: (t1 - t0) / 1000,
        inferSeconds: (t2 - t1) / 1000,
        paddedTokens: features.batchSize * features.length,
        realTokens,
      };
      yield batch;
    }
  }

  public async release(): Promise<void> {
    await this.session.release();
  }
}
