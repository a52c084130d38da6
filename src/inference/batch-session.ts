/**
 * What the embedder runs a featurized batch on: an onnxruntime session on the calling thread
 * (LocalBatchSession) or on an inference thread of its own (./thread-session.ts). Both take the
 * same FeatureBatch and build the same feeds (feedsOf), so the two paths cannot drift apart.
 */
import ort from 'onnxruntime-node';
import type { FeatureBatch } from '../features/featurize.ts';
import { ModelError } from '../util/errors.ts';
import type { BatchProfiler } from './profiler.ts';

export interface InputMeta {
  readonly name: string;
  readonly isTensor: boolean;
  readonly shape: readonly (number | string)[];
}

/** One run's output and cost. */
export interface BatchRun {
  readonly embedding: Float32Array; // [B, D]
  /** Wall seconds of session.run. */
  readonly seconds: number;
  /** CPU seconds of session.run, measured by the caller's profiler (./profiler.ts); NaN without one. */
  readonly cpuSeconds: number;
}

export interface BatchSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly InputMeta[];
  /** Whether run() returns before the batch has run (another thread runs it), so callers can pipeline. */
  readonly concurrent: boolean;
  /** Runs one batch. A concurrent session takes ownership of the batch's arrays (they are transferred). */
  run(batch: FeatureBatch): Promise<BatchRun>;
  release(): Promise<void>;
}

/** A session's input metadata as plain data (it crosses a thread boundary from an inference thread). */
export function inputMetaOf(session: ort.InferenceSession): InputMeta[] {
  return session.inputMetadata.map((m) => ({
    name: m.name,
    isTensor: m.isTensor,
    shape: m.isTensor ? [...m.shape] : [],
  }));
}

/** The graph's feeds for one batch (docs/model-interface.md). */
export function feedsOf(batch: FeatureBatch): Record<string, ort.Tensor> {
  const { batchSize: b, length: l } = batch;
  return {
    item_vec: new ort.Tensor('float32', batch.itemVec, [b, l, batch.itemVec.length / (b * l)]),
    item_id: new ort.Tensor('int64', batch.itemId, [b, l]),
    action: new ort.Tensor('int64', batch.action, [b, l]),
    surface: new ort.Tensor('int64', batch.surface, [b, l]),
    time_frac: new ort.Tensor('float32', batch.timeFrac, [b, l, batch.timeFrac.length / (b * l)]),
    scalars: new ort.Tensor('float32', batch.scalars, [b, l, 4]),
    lengths: new ort.Tensor('int64', batch.lengths, [b]),
  };
}

/** The `embedding` output of a run, or a ModelError naming the graph file. */
export function embeddingOutput(result: ort.InferenceSession.OnnxValueMapType, file: string): Float32Array {
  const output = result.embedding;
  if (output === undefined || output.type !== 'float32') {
    throw new ModelError(`${file} did not return a float32 \`embedding\` output`, {});
  }
  return output.data as Float32Array;
}

/** A session on the calling thread: session.run blocks its event loop while the batch runs. */
export class LocalBatchSession implements BatchSession {
  public readonly concurrent = false;

  public constructor(
    private readonly session: ort.InferenceSession,
    private readonly file: string,
    /** Measures each run's CPU time where given (profilerFor: one intra-op thread only). */
    private readonly profiler?: BatchProfiler,
  ) {}

  public get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  public get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  public get inputMetadata(): readonly InputMeta[] {
    return inputMetaOf(this.session);
  }

  public async run(batch: FeatureBatch): Promise<BatchRun> {
    const feeds = feedsOf(batch);
    const started = performance.now();
    const profiler = this.profiler;
    let cpu0 = Number.NaN;
    // read inside the run's own turn of the event loop (session.run defers to setImmediate)
    if (profiler) setImmediate(() => (cpu0 = profiler.threadCpuSeconds()));
    const result = await this.session.run(feeds);
    const cpuSeconds = profiler ? profiler.threadCpuSeconds() - cpu0 : Number.NaN;
    const embedding = embeddingOutput(result, this.file);
    return { embedding, seconds: (performance.now() - started) / 1000, cpuSeconds };
  }

  public async release(): Promise<void> {
    await this.session.release();
  }
}
