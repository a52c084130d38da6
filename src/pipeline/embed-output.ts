/**
 * The output side of one embed-stage partition: table writes of the new embeddings and the
 * embedding snapshot with the gate's statistics. It runs in the embed worker's writer thread
 * (./embed-writer-thread.ts) so that none of it waits for or stalls inference; with a store that
 * cannot be opened from another thread it runs inline (./embed-writer.ts).
 *
 * Inputs arrive in this order: the previous embedding snapshot (or none), the partition's users
 * with the selected ones, vector chunks as inference yields them, finish. (The sequence snapshot
 * is encoded by the inference thread: posting its columns here cost more than encoding them.) Table writes
 * go out in chunks of `writeChunk` embeddings, at most two chunks in flight.
 */
import { type EmbeddingStore, type VersionId, type WriteStats, ZERO_WRITE_STATS } from '../embeddings/types.ts';
import { ModelError } from '../util/errors.ts';
import { decodeFlatEmbeddings, encodeFlatEmbeddings, type FlatEmbeddings } from './snapshots.ts';
import type { EmbeddingStats } from './types.ts';

export interface OutputJob {
  readonly partition: number;
  readonly version: VersionId;
  readonly dims: number;
  /** Embeddings per writeEmbeddings call; default 2048. */
  readonly writeChunk?: number;
}

export interface OutputResult {
  readonly writeStats: WriteStats;
  readonly stats: EmbeddingStats;
  readonly embeddingBytes: Uint8Array;
  /** Busy seconds of the output side building and encoding the embedding snapshot. */
  readonly seconds: { readonly embeddingSnapshot: number };
}

function addStats(a: WriteStats, b: WriteStats): WriteStats {
  return {
    items: a.items + b.items,
    requests: a.requests + b.requests,
    retries: a.retries + b.retries,
    throttles: a.throttles + b.throttles,
    bytes: a.bytes + b.bytes,
    writeUnits: a.writeUnits + b.writeUnits,
    consumedWriteUnits: a.consumedWriteUnits + b.consumedWriteUnits,
    backoffMs: a.backoffMs + b.backoffMs,
  };
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

export class PartitionOutput {
  private previous: Promise<FlatEmbeddings | undefined> = Promise.resolve(undefined);
  private users: { userIds: readonly string[]; selected: Int32Array; freshOf: Int32Array } | undefined;
  private dates: Promise<string[]> | undefined;
  private fresh: Float32Array = new Float32Array(0);
  private received = 0;
  private pending: { userId: string; embedding: Float32Array }[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private writeStats: WriteStats = ZERO_WRITE_STATS;
  /** Records written so far, in arrival order (chunks complete out of order; this is the contiguous prefix). */
  private writtenUpTo = 0;
  private readonly doneRanges: [number, number][] = [];
  private readonly waiters: { upTo: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private started = 0;
  private failure: unknown;

  public constructor(
    private readonly store: EmbeddingStore,
    private readonly job: OutputJob,
  ) {}

  /** The first error of a table write, if any: the partition has failed. */
  public get failed(): unknown {
    return this.failure;
  }

  /** The previous embedding snapshot's bytes (decoded here), or undefined on a first run. */
  public setPrevious(bytes: Uint8Array | undefined, file: string): void {
    this.previous = bytes === undefined ? Promise.resolve(undefined) : decodeFlatEmbeddings(bytes, file, this.job.dims);
    this.previous.catch(() => {}); // surfaced by finish()
  }

  /** Every user of the new snapshot (sorted by id) and which of them are embedded (positions, in embedding order). */
  public setUsers(userIds: readonly string[], selected: Int32Array): void {
    const freshOf = new Int32Array(userIds.length).fill(-1);
    selected.forEach((u, k) => {
      freshOf[u] = k;
    });
    this.users = { userIds, selected, freshOf };
    this.fresh = new Float32Array(selected.length * this.job.dims);
    // Each user's newest embedding date: D when embedded now, else the previous snapshot's.
    this.dates = this.previous.then((previous) =>
      userIds.map((userId, u) => {
        if (freshOf[u]! >= 0) return this.job.version.date;
        const row = previous?.index.get(userId);
        if (row === undefined) {
          throw new ModelError(
            `partition ${this.job.partition}: user ${userId} has neither a new nor an earlier embedding`,
            { userId },
          );
        }
        return previous!.dates[row]!;
      }),
    );
    this.dates.catch(() => {}); // surfaced by finish()
  }

  /**
   * Embeddings of selected users (`indices` = their positions in embedding order, rows of
   * `vectors`). Resolves once they are written to the table; rejects when a write failed.
   */
  public addVectors(indices: ArrayLike<number>, vectors: Float32Array): Promise<void> {
    const { dims } = this.job;
    const users = this.users;
    if (!users) throw new Error('PartitionOutput: vectors before users');
    if (this.failure !== undefined) return Promise.reject(this.failure);
    for (let row = 0; row < indices.length; row++) {
      const k = indices[row]!;
      const target = this.fresh.subarray(k * dims, (k + 1) * dims);
      target.set(vectors.subarray(row * dims, (row + 1) * dims));
      this.pending.push({ userId: users.userIds[users.selected[k]!]!, embedding: target });
    }
    this.received += indices.length;
    const upTo = this.received;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ upTo, resolve, reject }));
    this.pump(false);
    return done;
  }

  /** Starts full chunks (all that is left when finishing) while fewer than two writes are in flight. */
  private pump(finishing: boolean): void {
    const chunk = this.job.writeChunk ?? 2048;
    while (
      this.failure === undefined &&
      this.inflight.size < 2 &&
      (this.pending.length >= chunk || (finishing && this.pending.length > 0))
    ) {
      const records = this.pending.splice(0, chunk);
      const from = this.started;
      this.started += records.length;
      const write: Promise<void> = this.store.writeEmbeddings(this.job.version, records).then(
        (stats) => {
          this.inflight.delete(write);
          this.writeStats = addStats(this.writeStats, stats);
          this.markWritten(from, from + records.length);
          this.pump(finishing);
        },
        (error: unknown) => {
          this.inflight.delete(write);
          this.fail(error);
        },
      );
      this.inflight.add(write);
    }
    this.settleWaiters();
  }

  private markWritten(from: number, to: number): void {
    this.doneRanges.push([from, to]);
    this.doneRanges.sort((a, b) => a[0] - b[0]);
    while (this.doneRanges.length > 0 && this.doneRanges[0]![0] === this.writtenUpTo) {
      this.writtenUpTo = this.doneRanges.shift()![1];
    }
  }

  private settleWaiters(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (this.failure !== undefined) w.reject(this.failure);
      else if (w.upTo <= this.writtenUpTo) w.resolve();
      else continue;
      this.waiters.splice(i, 1);
    }
  }

  private fail(error: unknown): void {
    this.failure ??= error;
    this.pending = [];
    this.settleWaiters();
  }

  /** Resolves when every embedding received so far is written; rejects on the first failed write. */
  public async drain(): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    this.pump(true);
    const upTo = this.received;
    if (this.writtenUpTo < upTo) {
      await new Promise<void>((resolve, reject) => {
        this.waiters.push({ upTo, resolve, reject });
        this.settleWaiters();
      });
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Both snapshots and the statistics over every user; call after drain(). */
  public async finish(): Promise<OutputResult> {
    await this.drain();
    const users = this.users;
    if (!users || !this.dates) throw new Error('PartitionOutput: finish before users');
    if (this.received !== users.selected.length) {
      throw new Error(`PartitionOutput: ${this.received} embeddings for ${users.selected.length} selected users`);
    }
    const [previous, dates] = await Promise.all([this.previous, this.dates]);
    const t0 = performance.now();
    const { dims } = this.job;
    const { userIds } = users;
    const vectors = new Float32Array(userIds.length * dims);
    const stats = {
      users: 0,
      nonFinite: 0,
      minNorm: Number.POSITIVE_INFINITY,
      maxNorm: 0,
      driftUsers: 0,
      driftCosineSum: 0,
    };
    const sum = new Float64Array(dims);
    for (let u = 0; u < userIds.length; u++) {
      const k = users.freshOf[u]!;
      const prevRow = previous?.index.get(userIds[u]!);
      const carried =
        prevRow === undefined ? undefined : previous!.vectors.subarray(prevRow * dims, (prevRow + 1) * dims);
      const vector = k >= 0 ? this.fresh.subarray(k * dims, (k + 1) * dims) : undefined;
      const embedding = (vector ?? carried)!; // dates[] above proved one of them exists
      vectors.set(embedding, u * dims);
      stats.users++;
      let finite = true;
      for (let d = 0; d < dims; d++) {
        if (!Number.isFinite(embedding[d]!)) finite = false;
        else sum[d]! += embedding[d]!;
      }
      if (!finite) {
        stats.nonFinite++;
        continue;
      }
      const n = norm(embedding);
      stats.minNorm = Math.min(stats.minNorm, n);
      stats.maxNorm = Math.max(stats.maxNorm, n);
      if (vector && carried) {
        stats.driftUsers++;
        stats.driftCosineSum += cosine(vector, carried);
      }
    }
    const embeddingBytes = encodeFlatEmbeddings(userIds, dates, vectors, dims);
    return {
      writeStats: this.writeStats,
      stats: {
        ...stats,
        minNorm: stats.users === 0 ? 1 : stats.minNorm,
        maxNorm: stats.users === 0 ? 1 : stats.maxNorm,
        sum: Array.from(sum),
      },
      embeddingBytes,
      seconds: { embeddingSnapshot: (performance.now() - t0) / 1000 },
    };
  }
}
