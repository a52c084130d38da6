/**
 * The output side of one embed-stage partition: table writes of the new embeddings and the
 * embedding snapshot with the gate's statistics. It runs in the embed worker's writer thread
 * (./embed-writer-thread.ts) so that none of it waits for or stalls inference; with a store that
 * cannot be opened from another thread it runs inline (./embed-writer.ts).
 *
 * Inputs arrive in this order: the previous embedding state (its files oldest first, or none),
 * the partition's users with the selected ones, vector chunks as inference yields them, finish. (The sequence snapshot
 * is encoded by the inference thread: posting its columns here cost more than encoding them.) Table writes
 * go out in chunks of `writeChunk` embeddings, at most two chunks in flight.
 */
import { type EmbeddingWriter, type VersionId, type WriteStats, ZERO_WRITE_STATS } from '../embeddings/types.ts';
import { ModelError } from '../util/errors.ts';
import { decodeFlatEmbeddings, encodeFlatEmbeddings, type FlatEmbeddings } from './snapshots.ts';
import type { EmbeddingStats } from './types.ts';
import { WritePacer } from './write-pacer.ts';
import { cosine, WriteDecider, type WritePolicy } from './write-policy.ts';

export interface OutputJob {
  readonly partition: number;
  readonly version: VersionId;
  readonly dims: number;
  /** Embeddings per writeEmbeddings call; default 2048. */
  readonly writeChunk?: number;
  /** Skip writes of users whose stored embedding is close enough (./write-policy.ts); absent: write all. */
  readonly policy?: WritePolicy;
  /** This partition's share of the table's write units per second (./write-pacer.ts); absent: unpaced. */
  readonly writeUnitsPerSecond?: number;
  /**
   * 'delta': the embedding file holds only the users embedded now (a delta day, ./state-chain.ts);
   * default 'full': every user of the partition. The statistics cover every user either way.
   */
  readonly snapshot?: 'full' | 'delta';
}

/** Embedded users whose write the policy skipped: snapshot positions and the stored item's date. */
export interface KeptStored {
  readonly users: Int32Array;
  readonly dates: string[];
}

export interface OutputResult {
  readonly writeStats: WriteStats;
  readonly stats: EmbeddingStats;
  readonly embeddingBytes: Uint8Array;
  /** Embedded users left serving their stored item (the write policy). */
  readonly kept: KeptStored;
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

/** `newer`'s rows over `older`'s (a later chain file wins per user); reuses `older`'s index. */
export function overlayEmbeddings(older: FlatEmbeddings, newer: FlatEmbeddings): FlatEmbeddings {
  const rows = older.dates.length;
  const vectors = new Float32Array(older.vectors.length + newer.vectors.length);
  vectors.set(older.vectors);
  vectors.set(newer.vectors, older.vectors.length);
  const index = older.index;
  for (const [userId, row] of newer.index) index.set(userId, rows + row);
  return { index, dates: [...older.dates, ...newer.dates], vectors, dims: older.dims };
}

export class PartitionOutput {
  private previous: Promise<FlatEmbeddings | undefined> = Promise.resolve(undefined);
  private users: { userIds: readonly string[]; selected: Int32Array; freshOf: Int32Array } | undefined;
  private dates: Promise<string[]> | undefined;
  private fresh: Float32Array = new Float32Array(0);
  private received = 0;
  /** Selected users handled so far: queued for writing, or kept (skipped) by the policy. */
  private handled = 0;
  /** Per selected user (embedding order): 1 when the policy kept the stored item. */
  private keptFlags: Uint8Array = new Uint8Array(0);
  private readonly decider: WriteDecider | undefined;
  /** Policy decisions wait for the previous snapshot; this chain keeps them in arrival order. */
  private decided: Promise<void> = Promise.resolve();
  private pending: { userId: string; embedding: Float32Array }[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private writeStats: WriteStats = ZERO_WRITE_STATS;
  /** Records written so far, in arrival order (chunks complete out of order; this is the contiguous prefix). */
  private writtenUpTo = 0;
  private readonly doneRanges: [number, number][] = [];
  private readonly waiters: { upTo: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private started = 0;
  /** Set by drain(): from then on a partial chunk is written too, whichever call pumps. */
  private finishing = false;
  private failure: unknown;

  public constructor(
    private readonly store: EmbeddingWriter,
    private readonly job: OutputJob,
  ) {
    this.decider = job.policy === undefined ? undefined : new WriteDecider(job.policy);
    this.pacer = job.writeUnitsPerSecond === undefined ? undefined : new WritePacer(job.writeUnitsPerSecond);
  }

  private readonly pacer: WritePacer | undefined;

  /** Write units per item so far (the store's accounting; 1 until the first write returns). */
  private unitsPerItem(): number {
    return this.writeStats.items > 0 ? this.writeStats.writeUnits / this.writeStats.items : 1;
  }

  /** The first error of a table write, if any: the partition has failed. */
  public get failed(): unknown {
    return this.failure;
  }

  /**
   * A file of the previous embedding state (decoded here): called once per file of the state's
   * chain, oldest first, a later file's rows winning per user (./state-chain.ts); undefined bytes
   * (a first run) add nothing.
   */
  public setPrevious(bytes: Uint8Array | undefined, file: string): void {
    if (bytes === undefined) return;
    const before = this.previous;
    const decoded = decodeFlatEmbeddings(bytes, file, this.job.dims);
    this.previous = Promise.all([before, decoded]).then(([older, newer]) =>
      older === undefined ? newer : overlayEmbeddings(older, newer),
    );
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
    this.keptFlags = new Uint8Array(selected.length);
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
    const ks = Int32Array.from(indices);
    for (let row = 0; row < ks.length; row++) {
      const k = ks[row]!;
      this.fresh.set(vectors.subarray(row * dims, (row + 1) * dims), k * dims);
    }
    this.handled += ks.length;
    if (!this.decider) return this.enqueue(ks);
    // wrapped so that the chain resolves when queued, not when written
    const queued = this.decided.then(async () => ({ written: this.enqueue(this.toWrite(ks, await this.previous)) }));
    this.decided = queued.then(
      () => {},
      () => {},
    );
    return queued.then((q) => q.written);
  }

  /** The selected users among `ks` the policy does not keep; marks the kept ones. */
  private toWrite(ks: Int32Array, previous: FlatEmbeddings | undefined): Int32Array {
    const { dims } = this.job;
    const users = this.users!;
    const out: number[] = [];
    for (const k of ks) {
      const row = previous?.index.get(users.userIds[users.selected[k]!]!);
      const keep =
        row !== undefined &&
        this.decider!.keepsStored(
          previous!.dates[row],
          previous!.vectors.subarray(row * dims, (row + 1) * dims),
          this.fresh.subarray(k * dims, (k + 1) * dims),
        );
      if (keep) this.keptFlags[k] = 1;
      else out.push(k);
    }
    return Int32Array.from(out);
  }

  private enqueue(ks: Int32Array): Promise<void> {
    const { dims } = this.job;
    const users = this.users!;
    if (this.failure !== undefined) return Promise.reject(this.failure);
    for (const k of ks) {
      this.pending.push({
        userId: users.userIds[users.selected[k]!]!,
        embedding: this.fresh.subarray(k * dims, (k + 1) * dims),
      });
    }
    this.received += ks.length;
    const upTo = this.received;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ upTo, resolve, reject }));
    this.pump();
    return done;
  }

  /**
   * Starts full chunks (all that is left once draining) while fewer than two writes are in flight.
   * Whether the partial last chunk goes out is the instance's state, not the caller's: a write
   * that completes after drain() began must start it (drain() found two writes in flight and
   * started nothing; reading the flag from the call that started the completed write left the
   * tail unwritten and drain() waiting forever, seen as a hang with partitions of over 2 chunks).
   */
  private pump(): void {
    const chunk = this.job.writeChunk ?? 2048;
    while (
      this.failure === undefined &&
      this.inflight.size < 2 &&
      (this.pending.length >= chunk || (this.finishing && this.pending.length > 0))
    ) {
      const records = this.pending.splice(0, chunk);
      const from = this.started;
      this.started += records.length;
      const paced = this.pacer?.take(Math.ceil(records.length * this.unitsPerItem())) ?? Promise.resolve();
      const write: Promise<void> = paced
        .then(() => this.store.writeEmbeddings(this.job.version, records))
        .then(
          (stats) => {
            this.inflight.delete(write);
            this.writeStats = addStats(this.writeStats, stats);
            this.markWritten(from, from + records.length);
            this.pump();
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

  /**
   * Resolves when every embedding received so far is written (with the users the policy kept
   * instead); rejects on the first failed write.
   */
  public async drain(): Promise<KeptStored> {
    await this.decided;
    if (this.failure !== undefined) throw this.failure;
    this.finishing = true;
    this.pump();
    const upTo = this.received;
    if (this.writtenUpTo < upTo) {
      await new Promise<void>((resolve, reject) => {
        this.waiters.push({ upTo, resolve, reject });
        this.settleWaiters();
      });
    }
    if (this.failure !== undefined) throw this.failure;
    return this.kept(await this.previous);
  }

  private kept(previous: FlatEmbeddings | undefined): KeptStored {
    const users = this.users!;
    const positions: number[] = [];
    const dates: string[] = [];
    this.keptFlags.forEach((flag, k) => {
      if (flag === 0) return;
      const u = users.selected[k]!;
      positions.push(u);
      dates.push(previous!.dates[previous!.index.get(users.userIds[u]!)!]!);
    });
    return { users: Int32Array.from(positions), dates };
  }

  /** The embedding delta: the rows of the users embedded now (their served vector), in user order. */
  private encodeEmbedded(dates: readonly string[], served: (u: number) => Float32Array): Uint8Array {
    const { dims } = this.job;
    const users = this.users!;
    const ids: string[] = [];
    const rowDates: string[] = [];
    const rows = new Float32Array(users.selected.length * dims);
    for (let u = 0; u < users.userIds.length; u++) {
      if (users.freshOf[u]! < 0) continue;
      rows.set(served(u), ids.length * dims);
      ids.push(users.userIds[u]!);
      rowDates.push(dates[u]!);
    }
    return encodeFlatEmbeddings(ids, rowDates, rows, dims);
  }

  /** The embedding file (full or delta) and the statistics over every user; call after drain(). */
  public async finish(): Promise<OutputResult> {
    const kept = await this.drain();
    const users = this.users;
    if (!users || !this.dates) throw new Error('PartitionOutput: finish before users');
    if (this.handled !== users.selected.length) {
      throw new Error(`PartitionOutput: ${this.handled} embeddings for ${users.selected.length} selected users`);
    }
    const [previous, dates] = await Promise.all([this.previous, this.dates]);
    kept.users.forEach((u, i) => {
      dates[u] = kept.dates[i]!; // the snapshot holds what readers get: the stored item
    });
    const t0 = performance.now();
    const { dims } = this.job;
    const { userIds } = users;
    const delta = this.job.snapshot === 'delta';
    // a full snapshot copies every user's served vector into one array; a delta day encodes only
    // the users embedded now and reads the others' vectors in place for the statistics
    const vectors = delta ? undefined : new Float32Array(userIds.length * dims);
    const servedOf = (u: number): Float32Array => {
      const k = users.freshOf[u]!;
      if (k >= 0 && this.keptFlags[k] === 0) return this.fresh.subarray(k * dims, (k + 1) * dims);
      const row = previous?.index.get(userIds[u]!);
      if (row !== undefined) return previous!.vectors.subarray(row * dims, (row + 1) * dims);
      return this.fresh.subarray(k * dims, (k + 1) * dims); // dates[] above proved one of them exists
    };
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
      const served = vector !== undefined && this.keptFlags[k] === 0 ? vector : carried;
      const embedding = (served ?? vector)!; // dates[] above proved one of them exists
      vectors?.set(embedding, u * dims);
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
    const embeddingBytes =
      vectors === undefined
        ? this.encodeEmbedded(dates, servedOf)
        : encodeFlatEmbeddings(userIds, dates, vectors, dims);
    return {
      writeStats: this.writeStats,
      stats: {
        ...stats,
        minNorm: stats.users === 0 ? 1 : stats.minNorm,
        maxNorm: stats.users === 0 ? 1 : stats.maxNorm,
        sum: Array.from(sum),
      },
      embeddingBytes,
      kept,
      seconds: { embeddingSnapshot: (performance.now() - t0) / 1000 },
    };
  }
}
