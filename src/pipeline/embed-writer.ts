/**
 * Where an embed partition's output goes (./embed-output.ts): to the process's writer thread when
 * the store can be opened from another thread (DynamoEmbeddingWriter.threadConfig(): local mode,
 * the Batch worker), else inline on the calling thread (stores that wrap a client, tests).
 *
 * Why a thread: onnxruntime-node's session.run is synchronous, so an inference thread handles
 * write responses only between batches. The writer thread answers them at once and builds the
 * embedding snapshot; the inference thread posts vectors (transferred, not copied) and waits only
 * when more than `maxUnwritten` embeddings are unwritten (bounded memory) and at the end.
 *
 * Failures: a failed table write, a snapshot error or a writer thread that dies rejects the
 * partition's next wait (and finish), so the partition fails before its result is written.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { threadConfigOf } from '../embeddings/embedding-writer.ts';
import type { StoreThreadConfig } from '../embeddings/store-config.ts';
import type { EmbeddingWriter } from '../embeddings/types.ts';
import { type KeptStored, type OutputJob, type OutputResult, PartitionOutput } from './embed-output.ts';
import { reviveError, type SerializedError } from './thread-errors.ts';

export type WriterRequest =
  | {
      readonly kind: 'begin';
      readonly job: number;
      readonly store: StoreThreadConfig;
      readonly output: OutputJob;
    }
  | { readonly kind: 'previous'; readonly job: number; readonly bytes?: Uint8Array; readonly file: string }
  | { readonly kind: 'users'; readonly job: number; readonly userIds: string[]; readonly selected: Int32Array }
  | {
      readonly kind: 'vectors';
      readonly job: number;
      readonly id: number;
      readonly indices: Int32Array;
      readonly vectors: Float32Array;
    }
  | { readonly kind: 'finish' | 'abort' | 'close'; readonly job: number };

export type WriterReply =
  | { readonly kind: 'ack'; readonly job: number; readonly id: number }
  | { readonly kind: 'drained'; readonly job: number; readonly kept: KeptStored }
  | { readonly kind: 'done'; readonly job: number; readonly result: OutputResult }
  | { readonly kind: 'failed'; readonly job: number; readonly error: SerializedError };

/** One partition's output, as the inference thread sees it. */
export interface OutputSink {
  /** Whether the output runs on another thread. */
  readonly threaded: boolean;
  setPrevious(bytes: Uint8Array | undefined, file: string): void;
  setUsers(userIds: string[], selected: Int32Array): void;
  /**
   * Hands over one batch of embeddings (`indices`: positions in embedding order). Resolves at once
   * unless too many are unwritten; then when enough are. Rejects once the output has failed.
   */
  addVectors(indices: readonly number[], vectors: Float32Array): Promise<void>;
  /**
   * Waits for every table write (`onDrained` then, with the users the write policy kept), then for
   * the embedding snapshot and statistics.
   */
  finish(onDrained: (kept: KeptStored) => void): Promise<OutputResult>;
  /** Drops the partition's output after a failure on the inference side. */
  abort(): void;
}

export interface SinkOptions {
  /** Use the writer thread when the store allows it; default true (false: inline). */
  readonly threaded?: boolean;
  /** Most embeddings handed over but not yet written before addVectors waits; default 3 × writeChunk. */
  readonly maxUnwritten?: number;
}

/** Tracks unwritten embeddings per handed-over batch; waits on the oldest while over the limit. */
class Backpressure {
  private readonly outstanding: { count: number; written: Promise<void> }[] = [];
  private unwritten = 0;

  public constructor(private readonly limit: number) {}

  public async add(count: number, written: Promise<void>): Promise<void> {
    written.catch(() => {}); // surfaced by the wait below or by finish()
    this.outstanding.push({ count, written });
    this.unwritten += count;
    while (this.unwritten > this.limit && this.outstanding.length > 0) {
      const oldest = this.outstanding.shift()!;
      await oldest.written;
      this.unwritten -= oldest.count;
    }
  }
}

class InlineSink implements OutputSink {
  public readonly threaded = false;
  private readonly output: PartitionOutput;
  private readonly backpressure: Backpressure;

  public constructor(store: EmbeddingWriter, job: OutputJob, options: SinkOptions) {
    this.output = new PartitionOutput(store, job);
    this.backpressure = new Backpressure(options.maxUnwritten ?? 3 * (job.writeChunk ?? 2048));
  }

  public setPrevious(bytes: Uint8Array | undefined, file: string): void {
    this.output.setPrevious(bytes, file);
  }

  public setUsers(userIds: string[], selected: Int32Array): void {
    this.output.setUsers(userIds, selected);
  }

  public async addVectors(indices: readonly number[], vectors: Float32Array): Promise<void> {
    if (this.output.failed !== undefined) throw this.output.failed;
    await this.backpressure.add(indices.length, this.output.addVectors(indices, vectors));
    await yieldToEventLoop(); // on this thread, write responses progress only between batches
  }

  public async finish(onDrained: (kept: KeptStored) => void): Promise<OutputResult> {
    onDrained(await this.output.drain());
    return this.output.finish();
  }

  public abort(): void {}
}

type JobHandlers = {
  readonly acks: Map<number, { resolve: () => void; reject: (e: unknown) => void }>;
  drained?: (kept: KeptStored) => void;
  done?: { resolve: (r: OutputResult) => void; reject: (e: unknown) => void };
  failure?: unknown;
};

/** The process's writer thread (lazily started, kept across partitions, unref'd while idle). */
class WriterThread {
  private readonly worker: Worker;
  private readonly jobs = new Map<number, JobHandlers>();
  private nextJob = 1;
  public dead = false;

  public constructor() {
    this.worker = new Worker(new URL('./embed-writer-thread.mjs', import.meta.url), {
      // The AWS SDK warns about Node 20 once per thread; the parent's warning (if any) is enough.
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    this.worker.unref();
    this.worker.on('message', (reply: WriterReply) => this.onReply(reply));
    let failure: Error | undefined;
    this.worker.on('error', (error) => {
      failure = error;
    });
    this.worker.on('exit', (code) => {
      this.dead = true;
      const reason = failure ?? new Error(`embed writer thread exited with code ${code}`);
      for (const job of [...this.jobs.keys()]) this.fail(job, reason);
    });
  }

  private onReply(reply: WriterReply): void {
    const handlers = this.jobs.get(reply.job);
    if (!handlers) return;
    switch (reply.kind) {
      case 'ack': {
        handlers.acks.get(reply.id)?.resolve();
        handlers.acks.delete(reply.id);
        return;
      }
      case 'drained':
        handlers.drained?.(reply.kept);
        return;
      case 'done':
        this.end(reply.job);
        handlers.done?.resolve(reply.result);
        return;
      case 'failed':
        this.fail(reply.job, reviveError(reply.error));
        return;
    }
  }

  private fail(job: number, error: unknown): void {
    const handlers = this.jobs.get(job);
    if (!handlers) return;
    handlers.failure ??= error;
    for (const ack of handlers.acks.values()) ack.reject(error);
    handlers.acks.clear();
    handlers.done?.reject(error);
    this.end(job);
  }

  private end(job: number): void {
    this.jobs.delete(job);
    if (this.jobs.size === 0) this.worker.unref();
  }

  public begin(): { job: number; handlers: JobHandlers } {
    const job = this.nextJob++;
    const handlers: JobHandlers = { acks: new Map() };
    this.jobs.set(job, handlers);
    this.worker.ref(); // a partition in progress keeps the process alive
    return { job, handlers };
  }

  public post(message: WriterRequest, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  public abort(job: number): void {
    if (!this.jobs.has(job)) return;
    this.post({ kind: 'abort', job });
    this.end(job);
  }

  public async close(): Promise<void> {
    if (this.dead) return;
    this.post({ kind: 'close', job: 0 });
    await Promise.race([
      new Promise<void>((resolve) => this.worker.once('exit', () => resolve())),
      new Promise<void>((resolve) => setTimeout(resolve, 5000).unref()),
    ]);
    await this.worker.terminate();
  }
}

let shared: WriterThread | undefined;

class ThreadSink implements OutputSink {
  public readonly threaded = true;
  private readonly job: number;
  private readonly handlers: JobHandlers;
  private readonly backpressure: Backpressure;
  private nextId = 1;

  public constructor(
    private readonly thread: WriterThread,
    store: StoreThreadConfig,
    output: OutputJob,
    options: SinkOptions,
  ) {
    ({ job: this.job, handlers: this.handlers } = thread.begin());
    this.backpressure = new Backpressure(options.maxUnwritten ?? 3 * (output.writeChunk ?? 2048));
    thread.post({ kind: 'begin', job: this.job, store, output });
  }

  private check(): void {
    if (this.handlers.failure !== undefined) throw this.handlers.failure;
  }

  public setPrevious(bytes: Uint8Array | undefined, file: string): void {
    this.check();
    // copied by the structured clone: the bytes may be a view into a pooled buffer
    this.thread.post({ kind: 'previous', job: this.job, file, ...(bytes ? { bytes } : {}) });
  }

  public setUsers(userIds: string[], selected: Int32Array): void {
    this.check();
    this.thread.post({ kind: 'users', job: this.job, userIds, selected });
  }

  public async addVectors(indices: readonly number[], vectors: Float32Array): Promise<void> {
    this.check();
    const id = this.nextId++;
    const written = new Promise<void>((resolve, reject) => this.handlers.acks.set(id, { resolve, reject }));
    const own = Int32Array.from(indices);
    const copy = vectors.slice(); // onnxruntime's output buffer is not ours to transfer
    this.thread.post({ kind: 'vectors', job: this.job, id, indices: own, vectors: copy }, [
      own.buffer as ArrayBuffer,
      copy.buffer as ArrayBuffer,
    ]);
    await this.backpressure.add(indices.length, written);
  }

  public finish(onDrained: (kept: KeptStored) => void): Promise<OutputResult> {
    this.check();
    return new Promise<OutputResult>((resolve, reject) => {
      this.handlers.drained = onDrained;
      this.handlers.done = { resolve, reject };
      this.thread.post({ kind: 'finish', job: this.job });
    });
  }

  public abort(): void {
    this.thread.abort(this.job);
  }
}

function writerThread(): WriterThread {
  if (!shared || shared.dead) shared = new WriterThread();
  return shared;
}

/**
 * Starts the writer thread ahead of the first partition when the store allows one (it takes a
 * second or two to load its modules): stage threads call it at boot, embedPartition on entry.
 */
export function prewarmOutput(store: EmbeddingWriter): void {
  if (threadConfigOf(store)) writerThread();
}

/** The sink for one partition's output: the writer thread when the store allows, else inline. */
export function openOutputSink(store: EmbeddingWriter, job: OutputJob, options: SinkOptions = {}): OutputSink {
  const config = options.threaded === false ? undefined : threadConfigOf(store);
  if (!config) return new InlineSink(store, job, options);
  return new ThreadSink(writerThread(), config, job, options);
}

/** Ends the writer thread, if one was started (end of a worker, tests). */
export async function closeWriterThread(): Promise<void> {
  const thread = shared;
  shared = undefined;
  await thread?.close();
}
