/**
 * A partition's state (every user's sequence, last_embedded, embedding and its date) as a chain
 * of files: a full snapshot (the base) and the deltas of the published days after it, oldest
 * first; a later file wins per user. A day that compacts writes a full snapshot of every user
 * (the new base); every other day writes a delta holding only the users it changed (new events,
 * or embedded now), so its writes follow active users, not all users (docs/scale.md, "Cost that
 * follows active users").
 *
 * The chain a run reads is fixed by the plan from the previous published run's manifest
 * (RunManifest.previousState), so refused, failed or withdrawn days never enter it; every file of
 * it must exist, and a missing one stops the run (StateChainError) instead of being skipped,
 * which would silently roll its users back.
 */
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

export const COMPACTION_DEFAULTS = {
  /** A full snapshot at least every this many days (and on the first day of a chain). */
  everyDays: 7,
  /** Compact sooner when the deltas hold more than this share of the base's bytes. */
  deltaShare: 0.5,
} as const;

/** The state a run needs cannot be read as recorded (a file of its chain is missing). */
export class StateChainError extends PinnerFormerError {
  public constructor(message: string, details?: Record<string, unknown>) {
    super('STATE', message, details);
  }
}

type ChainRun = Pick<
  RunManifest,
  'date' | 'attempt' | 'snapshot' | 'previousState' | 'previousSnapshotDate' | 'previousSnapshotAttempt'
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

/** The chain of the state a run publishes: itself as the base when it wrote a full snapshot, else one more delta. */
export function stateChainOf(run: ChainRun): StateChain {
  const self = fileOf(run.date, run.attempt);
  if (run.snapshot !== 'delta') return { base: self, deltas: [] };
  const previous = previousChainOf(run);
  if (previous === undefined) {
    throw new StateChainError(`run ${run.date} wrote a delta but names no previous state`, { date: run.date });
  }
  return { base: previous.base, deltas: [...previous.deltas, self] };
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
  run: Pick<RunManifest, 'modelVersion' | 'date' | 'attempt' | 'snapshot'>,
  partition: number,
): StateKeys {
  return keysOf(run.modelVersion, fileOf(run.date, run.attempt), run.snapshot ?? 'full', partition);
}

/** A chain's files for a partition, oldest first (the base, then each delta). */
export function chainKeys(modelVersion: string, chain: StateChain, partition: number): StateKeys[] {
  return [
    keysOf(modelVersion, chain.base, 'full', partition),
    ...chain.deltas.map((d) => keysOf(modelVersion, d, 'delta', partition)),
  ];
}

const dirOf = (key: string): string => key.slice(0, key.lastIndexOf('/') + 1);

/** Bytes of each chain file over every partition, oldest first; StateChainError naming the first missing file. */
export async function chainBytes(
  env: StateEnv,
  modelVersion: string,
  chain: StateChain,
  partitions: number,
): Promise<number[]> {
  const perFile: StateKeys[][] = Array.from({ length: 1 + chain.deltas.length }, () => []);
  for (let p = 0; p < partitions; p++) {
    chainKeys(modelVersion, chain, p).forEach((keys, i) => {
      perFile[i]!.push(keys);
    });
  }
  const out: number[] = [];
  for (const files of perFile) {
    const sizes = new Map<string, number>();
    for (const dir of new Set(files.flatMap((k) => [dirOf(k.sequences), dirOf(k.embeddings)]))) {
      for (const o of await env.objects.list(dir)) sizes.set(o.key, o.size);
    }
    let bytes = 0;
    for (const key of files.flatMap((k) => [k.sequences, k.embeddings])) {
      const size = sizes.get(key);
      if (size === undefined) throw missingFile(key, chain);
      bytes += size;
    }
    out.push(bytes);
  }
  return out;
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
  /** Why, for the plan's log. */
  readonly reason: string;
}

/**
 * Whether a run writes a full snapshot (compacts) or a delta on top of `previous`: full on a
 * first run, a backfill (every user changes), with `everyDays` 1, once the chain would reach
 * `everyDays` files or days, or when its deltas outgrow `deltaShare` of the base; else a delta.
 * Checks that every file of the chain exists (the run reads them all either way).
 */
export async function planSnapshot(
  env: StateEnv,
  run: { modelVersion: string; date: string; partitions: number; backfill: boolean },
  previous: StateChain | undefined,
  settings: { everyDays: number; deltaShare: number },
): Promise<SnapshotPlan> {
  if (previous === undefined) return { snapshot: 'full', reason: 'no previous state' };
  const bytes = await chainBytes(env, run.modelVersion, previous, run.partitions);
  if (run.backfill) return { snapshot: 'full', reason: 'backfill' };
  const files = previous.deltas.length + 2; // base, its deltas and this day's
  const days = Math.round((dayStartMs(run.date) - dayStartMs(previous.base.date)) / DAY_MS);
  if (files > settings.everyDays || days >= settings.everyDays) {
    return { snapshot: 'full', reason: `compaction: base of ${previous.base.date} is ${days} days old` };
  }
  const deltaBytes = bytes.slice(1).reduce((a, b) => a + b, 0);
  if (deltaBytes > settings.deltaShare * bytes[0]!) {
    return {
      snapshot: 'full',
      reason: `compaction: deltas ${deltaBytes} B > ${settings.deltaShare} × base ${bytes[0]} B`,
    };
  }
  return { snapshot: 'delta', reason: `delta on base ${previous.base.date} + ${previous.deltas.length}` };
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
