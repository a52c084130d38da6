import { Worker } from 'node:worker_threads';
import { overlapOfTask, partitionsPerThread } from './overlap.ts';
import type { StageReply, StageTask, StageThreadConfig } from './stage-thread.ts';
import { reviveError } from './thread-errors.ts';

type Task = Exclude<StageTask, { kind: 'close' }>;
type TaskBody = Task extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never;

/**
 * The stage thread for the next task, or -1 when none has room: the least busy one below its limit
 * (one slice at a time; up to `partitions` embed tasks, and only once every embed task it holds
 * has started inference).
 */
export function chooseStageThread(
  workers: readonly { readonly active: number; readonly loading: number }[],
  embed: boolean,
  partitions: number,
): number {
  const limit = embed ? Math.max(1, partitions) : 1;
  let slot = -1;
  workers.forEach((w, i) => {
    const room = w.active < limit && (!embed || w.loading === 0);
    if (room && (slot < 0 || w.active < workers[slot]!.active)) slot = i;
  });
  return slot;
}

/**
 * A fixed pool of stage threads (worker threads); tasks queue and run on the least busy thread with
 * room (one slice at a time; embed tasks as many as the task's overlap allows, partitionsPerThread
 * in ./overlap.ts). A thread that dies (uncaught error, exit) fails its tasks with an Error and is
 * replaced, so a run never hangs on a lost task.
 */
export class StageThreadPool {
  private readonly workers: { worker: Worker; active: number; loading: number }[] = [];
  private readonly queue: { body: TaskBody; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  private readonly inflight = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void; slot: number; loading: boolean }
  >();
  private nextId = 1;
  private closing = false;

  /** Where workers' progress lines go; a caller reusing the pool across runs may swap it. */
  public log: ((message: string) => void) | undefined;

  public constructor(
    size: number,
    private readonly config: StageThreadConfig,
    log?: (message: string) => void,
  ) {
    this.log = log;
    for (let i = 0; i < size; i++) this.workers.push({ worker: this.spawn(i), active: 0, loading: 0 });
  }

  private spawn(slot: number): Worker {
    const worker = new Worker(new URL('./stage-thread.mjs', import.meta.url), {
      workerData: this.config,
      // The AWS SDK warns about Node 20 once per thread; the parent's warning (if any) is enough.
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    worker.on('message', (reply: StageReply) => {
      if ('log' in reply) {
        this.log?.(reply.log);
        return;
      }
      const pending = this.inflight.get(reply.id);
      if (!pending) return;
      if ('phase' in reply) {
        this.loaded(pending);
        this.pump();
        return;
      }
      this.loaded(pending);
      this.inflight.delete(reply.id);
      this.workers[pending.slot]!.active--;
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
      const reason = failure ?? new Error(`stage thread ${slot} exited with code ${code}`);
      for (const [id, pending] of this.inflight) {
        if (pending.slot === slot) {
          this.inflight.delete(id);
          pending.reject(reason);
        }
      }
      this.log?.(`stage thread ${slot} died (${reason.message}); starting a new one`);
      this.workers[slot] = { worker: this.spawn(slot), active: 0, loading: 0 };
      this.pump();
    });
    return worker;
  }

  /** The task no longer counts as loading on its worker (it started inference, or ended). */
  private loaded(pending: { slot: number; loading: boolean }): void {
    if (!pending.loading) return;
    pending.loading = false;
    this.workers[pending.slot]!.loading--;
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
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      const embed = next.body.kind === 'embed';
      // A thread takes a second partition only once every one it holds has started inference, so
      // that its partitions do not all read at the same time and leave inference idle.
      const perThread = next.body.kind === 'embed' ? partitionsPerThread(overlapOfTask(next.body.input)) : 1;
      const slot = chooseStageThread(this.workers, embed, perThread);
      if (slot < 0) return; // tasks start in queue order: the head waits for room
      this.queue.shift();
      const id = this.nextId++;
      this.workers[slot]!.active++;
      if (embed) this.workers[slot]!.loading++;
      this.inflight.set(id, { resolve: next.resolve, reject: next.reject, slot, loading: embed });
      this.workers[slot]!.worker.postMessage({ ...next.body, id });
    }
  }

  /** Lets each worker release its sessions and connection, then ends the threads. */
  public async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.workers.map(async ({ worker }) => {
        const id = this.nextId++;
        const done = new Promise<void>((resolve) => {
          const onMessage = (reply: StageReply): void => {
            if (!('log' in reply) && reply.id === id) resolve();
          };
          worker.on('message', onMessage);
          worker.once('exit', () => resolve());
        });
        worker.postMessage({ kind: 'close', id } satisfies StageTask);
        await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
        await worker.terminate();
      }),
    );
  }
}
