/**
 * A BatchSession whose onnxruntime session lives on an inference thread of its own
 * (./inference-thread.ts), so that the embedding thread featurizes, writes and reads while a batch
 * runs. Batches run one at a time in the order posted; their arrays are transferred, not copied.
 * A thread that dies fails every batch it held, and every later one, with the reason.
 */
import { Worker } from 'node:worker_threads';
import type ort from 'onnxruntime-node';
import type { FeatureBatch } from '../features/featurize.ts';
import { reviveError, type SerializedError } from '../pipeline/thread-errors.ts';
import type { ExecutionProvider } from '../pipeline/types.ts';
import type { BatchRun, BatchSession, InputMeta } from './batch-session.ts';
import { type SessionOptions, sessionOptions } from './session.ts';

export interface InferenceThreadData {
  readonly onnxPath: string;
  /** The graph's file name, for error messages. */
  readonly file: string;
  readonly options: ort.InferenceSession.SessionOptions;
  readonly provider: ExecutionProvider;
  /** URL of the caller's profiler module (./profiler.ts), loaded on the thread; absent: no CPU time. */
  readonly profiler?: string;
}

export type InferenceRequest =
  | { readonly kind: 'run'; readonly id: number; readonly batch: FeatureBatch }
  | { readonly kind: 'release' };

export type InferenceReply =
  | {
      readonly kind: 'ready';
      readonly inputNames: string[];
      readonly outputNames: string[];
      readonly inputMetadata: InputMeta[];
    }
  | { readonly kind: 'failed'; readonly error: SerializedError }
  | {
      readonly kind: 'result';
      readonly id: number;
      readonly embedding: Float32Array;
      readonly seconds: number;
      readonly cpuSeconds: number;
    }
  | { readonly kind: 'error'; readonly id: number; readonly error: SerializedError }
  | { readonly kind: 'released' };

type Ready = Extract<InferenceReply, { kind: 'ready' }>;

export class ThreadBatchSession implements BatchSession {
  public readonly concurrent = true;
  private readonly pending = new Map<number, { resolve: (r: BatchRun) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private failure: Error | undefined;
  private released: (() => void) | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly ready: Ready,
  ) {
    worker.unref(); // an idle session does not keep the process alive; a pending batch does (run)
    worker.on('message', (message: InferenceReply) => this.onReply(message));
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => {
      this.fail(new Error(`inference thread exited with code ${code}`));
      this.released?.();
    });
  }

  /** Starts the thread and opens the session there; rejects with the session's ModelError if it cannot. */
  public static open(
    onnxPath: string,
    file: string,
    options: SessionOptions & { readonly profiler?: string } = {},
  ): Promise<ThreadBatchSession> {
    const data: InferenceThreadData = {
      onnxPath,
      file,
      options: sessionOptions(options),
      provider: options.executionProvider ?? 'cpu',
      ...(options.profiler === undefined ? {} : { profiler: options.profiler }),
    };
    const worker = new Worker(new URL('./inference-thread.mjs', import.meta.url), { workerData: data });
    return new Promise<ThreadBatchSession>((resolve, reject) => {
      const onMessage = (message: InferenceReply): void => {
        cleanup();
        if (message.kind === 'ready') resolve(new ThreadBatchSession(worker, message));
        else if (message.kind === 'failed') reject(reviveError(message.error));
        else reject(new Error(`inference thread: unexpected ${message.kind} before ready`));
      };
      const onError = (error: Error): void => {
        cleanup();
        reject(error);
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(new Error(`inference thread exited with code ${code} before its session opened`));
      };
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  public get inputNames(): readonly string[] {
    return this.ready.inputNames;
  }

  public get outputNames(): readonly string[] {
    return this.ready.outputNames;
  }

  public get inputMetadata(): readonly InputMeta[] {
    return this.ready.inputMetadata;
  }

  private onReply(message: InferenceReply): void {
    if (message.kind === 'released') {
      this.released?.();
      return;
    }
    if (message.kind !== 'result' && message.kind !== 'error') return;
    const waiter = this.pending.get(message.id);
    if (!waiter) return;
    this.pending.delete(message.id);
    if (this.pending.size === 0) this.worker.unref();
    if (message.kind === 'error') waiter.reject(reviveError(message.error));
    else waiter.resolve({ embedding: message.embedding, seconds: message.seconds, cpuSeconds: message.cpuSeconds });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.pending.values()) waiter.reject(this.failure);
    this.pending.clear();
  }

  public run(batch: FeatureBatch): Promise<BatchRun> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    const done = new Promise<BatchRun>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    const arrays = [
      batch.itemVec,
      batch.itemId,
      batch.action,
      batch.surface,
      batch.timeFrac,
      batch.scalars,
      batch.lengths,
    ];
    // each array owns its buffer (featurize allocates them), so they move without a copy
    this.worker.postMessage(
      { kind: 'run', id, batch } satisfies InferenceRequest,
      arrays.map((a) => a.buffer as ArrayBuffer),
    );
    return done;
  }

  public async release(): Promise<void> {
    if (this.failure) {
      await this.worker.terminate();
      return;
    }
    const released = new Promise<void>((resolve) => {
      this.released = resolve;
    });
    this.worker.ref(); // the reply must keep the process alive until it arrives
    this.worker.postMessage({ kind: 'release' } satisfies InferenceRequest);
    await Promise.race([released, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    this.fail(new Error('inference session released'));
    await this.worker.terminate();
  }
}
