import { Worker } from 'node:worker_threads';
import type { WorkerConfig, WorkerReply, WorkerTask } from './stage-worker.ts';
import { reviveError } from './thread-errors.ts';

type Task = Exclude<WorkerTask, { kind: 'close' }>;
type TaskBody = Task extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never;

/**
 * A fixed pool of stage workers (worker threads); tasks queue and run on the next free worker. A
 * worker that dies (uncaught error, exit) fails its task with an Error and is replaced, so a run
 * never hangs on a lost task.
 */
export class WorkerPool {
  private readonly workers: { worker: Worker; busy: boolean }[] = [];
  private readonly queue: { body: TaskBody; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  private readonly inflight = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void; slot: number }
  >();
  private nextId = 1;
  private closing = false;

  /** Where workers' progress lines go; a caller reusing the pool across runs may swap it. */
  public log: ((message: string) => void) | undefined;

  public constructor(
    size: number,
    private readonly config: WorkerConfig,
    log?: (message: string) => void,
  ) {
    this.log = log;
    for (let i = 0; i < size; i++) this.workers.push({ worker: this.spawn(i), busy: false });
  }

  private spawn(slot: number): Worker {
    const worker = new Worker(new URL('./stage-worker.mjs', import.meta.url), {
      workerData: this.config,
      // The AWS SDK warns about Node 20 once per thread; the parent's warning (if any) is enough.
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    worker.on('message', (reply: WorkerReply) => {
      if ('log' in reply) {
        this.log?.(reply.log);
        return;
      }
      const pending = this.inflight.get(reply.id);
      if (!pending) return;
      this.inflight.delete(reply.id);
      this.workers[pending.slot]!.busy = false;
      if (reply.ok) pending.resolve(reply.result);
      else pending.reject(reviveError(reply.error));
      this.pump();
    });
    let failure: Error | undefined;
    worker.on('error', (error) => {
      failure = error;
    });
    worker.on('exit', (code) => {
      if (this.closing) return;
      const reason = failure ?? new Error(`stage worker ${slot} exited with code ${code}`);
      for (const [id, pending] of this.inflight) {
        if (pending.slot === slot) {
          this.inflight.delete(id);
          pending.reject(reason);
        }
      }
      this.log?.(`stage worker ${slot} died (${reason.message}); starting a new one`);
      this.workers[slot] = { worker: this.spawn(slot), busy: false };
      this.pump();
    });
    return worker;
  }

  public get size(): number {
    return this.workers.length;
  }

  public run<R>(body: TaskBody): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ body, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  private pump(): void {
    for (let slot = 0; slot < this.workers.length && this.queue.length > 0; slot++) {
      const w = this.workers[slot]!;
      if (w.busy) continue;
      const next = this.queue.shift()!;
      const id = this.nextId++;
      w.busy = true;
      this.inflight.set(id, { resolve: next.resolve, reject: next.reject, slot });
      w.worker.postMessage({ ...next.body, id });
    }
  }

  /** Lets each worker release its sessions and connection, then ends the threads. */
  public async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.workers.map(async ({ worker }) => {
        const id = this.nextId++;
        const done = new Promise<void>((resolve) => {
          const onMessage = (reply: WorkerReply): void => {
            if (!('log' in reply) && reply.id === id) resolve();
          };
          worker.on('message', onMessage);
          worker.once('exit', () => resolve());
        });
        worker.postMessage({ kind: 'close', id } satisfies WorkerTask);
        await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
        await worker.terminate();
      }),
    );
  }
}
