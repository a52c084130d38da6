/**
 * A partition's state (every user's sequence, last_embedded, embedding and its date) as a chain
 * of files: a full snapshot (the base) and the deltas of the published days after it, oldest
 * first; a later file wins per user. A partition that compacts writes a full snapshot of every
 * user (its new base); on other days it writes a delta holding only the users it changed (new
 * events, or embedded now), so its writes follow active users, not all users (docs/scale.md, "Cost
 * that follows active users"). Compaction is staggered over the partitions (isCompactionDay), so
 * one run's chain holds each partition's own base: the files of a run record which partitions
 * compacted in them (StateFile.full).
 *
 * The chain a run reads is fixed by the plan from the previous published run's manifest
 * (RunManifest.previousState), so refused, failed or withdrawn days never enter it; every file of
 * it must exist, and a missing one stops the run (StateChainError) instead of being skipped,
 * which would silently roll its users back.
 */
import { COMPACT_DELTA_SHARE, COMPACT_EVERY_DAYS } from '../contract/run-contract.ts';
import { DAY_MS, dayStartMs } from '../events/schema.ts';
import { NotFoundError, PinnerFormerError } from '../util/errors.ts';
import { layout } from './layout.ts';
import {
  decodeEmbeddingSnapshot,
  decodeSequenceSnapshot,
  decodeSequenceTable,
  type EmbeddingSnapshotRow,
  type SequenceRange,
  type SequenceTable,
  type UserSequence,
} from './snapshots.ts';
import type { PipelineEnv, RunManifest, StateChain, StateFile } from './types.ts';

/** The run contract's defaults (src/contract/run-contract.ts), one place for CLI, plan and stack. */
export const COMPACTION_DEFAULTS = {
  /** A full snapshot at least every this many days per partition (and on the first day of a chain). */
  everyDays: COMPACT_EVERY_DAYS.default,
  /** Compact sooner when a partition's deltas hold more than this share of its base's bytes. */
  deltaShare: COMPACT_DELTA_SHARE.default,
} as const;

/** The state a run needs cannot be read as recorded (a file of its chain is missing). */
export class StateChainError extends PinnerFormerError {
  public constructor(message: string, details?: Record<string, unknown>) {
    super('STATE', message, details);
  }
}

type ChainRun = Pick<
  RunManifest,
  | 'date'
  | 'attempt'
  | 'partitions'
  | 'snapshot'
  | 'fullPartitions'
  | 'previousState'
  | 'previousSnapshotDate'
  | 'previousSnapshotAttempt'
>;

/** The state is objects only: readers without a table (tests, `recommend`) pass just the store. */
type StateEnv = Pick<PipelineEnv, 'objects'>;

const fileOf = (date: string, attempt: string | undefined): StateFile =>
  attempt === undefined ? { date } : { date, attempt };

/** The previous state a run reads: its manifest's chain or, in a manifest written before deltas, the previous full snapshot. */
export function previousChainOf(run: ChainRun): StateChain | undefined {
  if (run.previousState !== undefined) return run.previousState;
  if (run.previousSnapshotDate === undefined) return undefined;
  return { base: fileOf(run.previousSnapshotDate, run.previousSnapshotAttempt), deltas: [] };
}

/** Whether a run writes partition `p`'s state as a full snapshot (it compacts) or as a delta. */
export function snapshotKindOf(
  run: Pick<RunManifest, 'snapshot' | 'fullPartitions'>,
  partition: number,
): 'full' | 'delta' {
  if (run.snapshot !== 'delta') return 'full';
  return run.fullPartitions?.includes(partition) === true ? 'full' : 'delta';
}

/** Whether file `i` of a chain's files ([base, ...deltas]) is a full snapshot of partition `p`. */
function isFullIn(file: StateFile, i: number, partition: number): boolean {
  if (file.full === undefined) return i === 0; // a base without a list: every partition's full snapshot
  return file.full.includes(partition);
}

/** Index in [base, ...deltas] of partition `p`'s own base: the newest file that is its full snapshot. */
function partitionStart(files: readonly StateFile[], partition: number): number {
  for (let i = files.length - 1; i >= 0; i--) if (isFullIn(files[i]!, i, partition)) return i;
  throw new StateChainError(
    `the state chain from ${files[0]?.date} holds no full snapshot of partition ${partition}: the manifest is inconsistent`,
    { partition },
  );
}

/**
 * The chain of the state a run publishes: itself as the base when every partition wrote a full
 * snapshot, else one more file on the previous chain (the partitions that compacted in it listed
 * in `full`), without the oldest files no partition reads any more (compaction is staggered over
 * the partitions, so each partition has its own base inside the chain).
 */
export function stateChainOf(run: ChainRun): StateChain {
  const self = fileOf(run.date, run.attempt);
  if (run.snapshot !== 'delta') return { base: self, deltas: [] };
  const previous = previousChainOf(run);
  if (previous === undefined) {
    throw new StateChainError(`run ${run.date} wrote a delta but names no previous state`, { date: run.date });
  }
  const full = run.fullPartitions ?? [];
  const files = [previous.base, ...previous.deltas, full.length > 0 ? { ...self, full: [...full] } : self];
  let start = files.length - 1;
  for (let p = 0; p < run.partitions && start > 0; p++) start = Math.min(start, partitionStart(files, p));
  return { base: files[start]!, deltas: files.slice(start + 1) };
}

export interface StateKeys {
  readonly sequences: string;
  readonly embeddings: string;
}

function keysOf(mv: string, file: StateFile, kind: 'full' | 'delta', partition: number): StateKeys {
  return kind === 'full'
    ? {
        sequences: layout.sequences(mv, file.date, partition, file.attempt),
        embeddings: layout.embeddings(mv, file.date, partition, file.attempt),
      }
    : {
        sequences: layout.sequenceDelta(mv, file.date, partition, file.attempt),
        embeddings: layout.embeddingDelta(mv, file.date, partition, file.attempt),
      };
}

/** The two files a run writes for a partition: full snapshots or deltas, as its manifest says. */
export function writtenKeys(
  run: Pick<RunManifest, 'modelVersion' | 'date' | 'attempt' | 'snapshot' | 'fullPartitions'>,
  partition: number,
): StateKeys {
  return keysOf(run.modelVersion, fileOf(run.date, run.attempt), snapshotKindOf(run, partition), partition);
}

/** A partition's chain files, oldest first: its own base (the newest full snapshot of it), then each delta after it. */
export function chainKeys(modelVersion: string, chain: StateChain, partition: number): StateKeys[] {
  const files = [chain.base, ...chain.deltas];
  const start = partitionStart(files, partition);
  return files.slice(start).map((file, i) => keysOf(modelVersion, file, i === 0 ? 'full' : 'delta', partition));
}

const dirOf = (key: string): string => key.slice(0, key.lastIndexOf('/') + 1);

/**
 * Bytes of each partition's chain files, oldest first (its base, then its deltas): [partition][file].
 * StateChainError naming the first missing file.
 */
export async function chainBytes(
  env: StateEnv,
  modelVersion: string,
  chain: StateChain,
  partitions: number,
): Promise<number[][]> {
  const perPartition = Array.from({ length: partitions }, (_, p) => chainKeys(modelVersion, chain, p));
  const sizes = new Map<string, number>();
  const dirs = new Set(perPartition.flat().flatMap((k) => [dirOf(k.sequences), dirOf(k.embeddings)]));
  for (const dir of dirs) for (const o of await env.objects.list(dir)) sizes.set(o.key, o.size);
  return perPartition.map((files) =>
    files.map((keys) => {
      let bytes = 0;
      for (const key of [keys.sequences, keys.embeddings]) {
        const size = sizes.get(key);
        if (size === undefined) throw missingFile(key, chain);
        bytes += size;
      }
      return bytes;
    }),
  );
}

function missingFile(key: string, chain: StateChain): StateChainError {
  const files = [chain.base, ...chain.deltas].map((f) => f.date).join(', ');
  return new StateChainError(
    `state file ${key} is missing: the published state (base and deltas of ${files}) cannot be rebuilt without it. ` +
      'Restore the object, or run with --replay-from a day before the chain (docs/versioning.md, "State: deltas and compaction")',
    { key },
  );
}

export interface SnapshotPlan {
  readonly snapshot: 'full' | 'delta';
  /** On a delta run, the partitions that compact (write a full snapshot) anyway, ascending. */
  readonly fullPartitions: readonly number[];
  /** Why, for the plan's log. */
  readonly reason: string;
}

/** The day's place in the compaction cycle: whole days since 1970-01-01. */
const dayIndexOf = (date: string): number => Math.round(dayStartMs(date) / DAY_MS);

/**
 * Whether partition `p` compacts on `date`: on its staggered day, (day index + p) mod everyDays = 0,
 * so that about 1/everyDays of the partitions compact on any day instead of all of them on one.
 */
export function isCompactionDay(date: string, partition: number, everyDays: number): boolean {
  return (dayIndexOf(date) + partition) % everyDays === 0;
}

/**
 * Whether a run writes full snapshots (compacts) or deltas on top of `previous`, per partition:
 * every partition full on a first run, a backfill (every user changes) or with `everyDays` 1;
 * else a partition compacts on its staggered day (isCompactionDay), when its own base is
 * `everyDays` old or its chain would reach `everyDays` files (a day it missed), or when its deltas
 * outgrow `deltaShare` of its base; the others write a delta. Checks that every file of the chain
 * exists (the run reads them all either way).
 */
export async function planSnapshot(
  env: StateEnv,
  run: { modelVersion: string; date: string; partitions: number; backfill: boolean },
  previous: StateChain | undefined,
  settings: { everyDays: number; deltaShare: number },
): Promise<SnapshotPlan> {
  const allFull = (reason: string): SnapshotPlan => ({ snapshot: 'full', fullPartitions: [], reason });
  if (previous === undefined) return allFull('no previous state');
  const bytes = await chainBytes(env, run.modelVersion, previous, run.partitions);
  if (run.backfill) return allFull('backfill');
  if (settings.everyDays <= 1) return allFull('compaction daily');
  const files = [previous.base, ...previous.deltas];
  const full: number[] = [];
  const why = { scheduled: 0, age: 0, share: 0 };
  for (let p = 0; p < run.partitions; p++) {
    const own = bytes[p]!;
    const base = files[partitionStart(files, p)]!;
    const days = Math.round((dayStartMs(run.date) - dayStartMs(base.date)) / DAY_MS);
    const deltaBytes = own.slice(1).reduce((a, b) => a + b, 0);
    if (isCompactionDay(run.date, p, settings.everyDays)) why.scheduled++;
    else if (own.length + 1 > settings.everyDays || days >= settings.everyDays) why.age++;
    else if (deltaBytes > settings.deltaShare * own[0]!) why.share++;
    else continue;
    full.push(p);
  }
  const reason =
    `compaction of ${full.length} of ${run.partitions} partitions (${why.scheduled} on their staggered day, ` +
    `${why.age} by age, ${why.share} by deltas > ${settings.deltaShare} × base); chain from ${previous.base.date} + ${previous.deltas.length}`;
  if (full.length === run.partitions) return allFull(reason);
  return { snapshot: 'delta', fullPartitions: full, reason };
}

async function getStateFile(env: StateEnv, key: string, chain: StateChain): Promise<Uint8Array> {
  try {
    return await env.objects.get(key);
  } catch (error) {
    if (error instanceof NotFoundError) throw missingFile(key, chain);
    throw error;
  }
}

/** A user's newest stored sequence: rows of one chain file's table. */
export interface StoredSequence {
  readonly table: SequenceTable;
  readonly range: SequenceRange;
}

/** What the embed stage reads of the previous state for one partition. */
export interface PreviousState {
  /** Every user's newest sequence rows (later chain files win). */
  readonly users: Map<string, StoredSequence>;
  /** The embedding files, oldest first, for the output side to overlay (PartitionOutput.setPrevious). */
  readonly embeddingFiles: readonly { readonly key: string; readonly bytes: Uint8Array }[];
}

/** The previous state of a run's partition, or undefined on a first run. */
export async function readPreviousState(
  env: StateEnv,
  run: ChainRun & Pick<RunManifest, 'modelVersion'>,
  partition: number,
): Promise<PreviousState | undefined> {
  const chain = previousChainOf(run);
  if (chain === undefined) return undefined;
  const users = new Map<string, StoredSequence>();
  const embeddingFiles: { key: string; bytes: Uint8Array }[] = [];
  for (const keys of chainKeys(run.modelVersion, chain, partition)) {
    embeddingFiles.push({ key: keys.embeddings, bytes: await getStateFile(env, keys.embeddings, chain) });
    const table = await decodeSequenceTable(await getStateFile(env, keys.sequences, chain), keys.sequences);
    for (const range of table.users) users.set(range.userId, { table, range });
  }
  return { users, embeddingFiles };
}

/** A partition's whole state as of a run: what its readers get (tests, `recommend`, the demo). */
export interface PartitionState {
  /** Sorted by user id. */
  readonly sequences: UserSequence[];
  readonly embeddings: Map<string, EmbeddingSnapshotRow>;
}

export async function readPartitionState(
  env: StateEnv,
  run: ChainRun & Pick<RunManifest, 'modelVersion'>,
  partition: number,
): Promise<PartitionState> {
  const chain = stateChainOf(run);
  const sequences = new Map<string, UserSequence>();
  const embeddings = new Map<string, EmbeddingSnapshotRow>();
  for (const keys of chainKeys(run.modelVersion, chain, partition)) {
    for (const user of await decodeSequenceSnapshot(await getStateFile(env, keys.sequences, chain), keys.sequences)) {
      sequences.set(user.userId, user);
    }
    const rows = await decodeEmbeddingSnapshot(await getStateFile(env, keys.embeddings, chain), keys.embeddings);
    for (const [userId, row] of rows) embeddings.set(userId, row);
  }
  const sorted = [...sequences.values()].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  return { sequences: sorted, embeddings };
}

/** One user's sequence as of a run: from the newest chain file that holds the user, or undefined. */
export async function readUserSequence(
  env: StateEnv,
  run: ChainRun & Pick<RunManifest, 'modelVersion'>,
  partition: number,
  userId: string,
): Promise<UserSequence | undefined> {
  const chain = stateChainOf(run);
  for (const keys of chainKeys(run.modelVersion, chain, partition).reverse()) {
    const users = await decodeSequenceSnapshot(await getStateFile(env, keys.sequences, chain), keys.sequences);
    const user = users.find((u) => u.userId === userId);
    if (user !== undefined) return user;
  }
  return undefined;
}
