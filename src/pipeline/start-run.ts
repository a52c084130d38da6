/**
 * How a run starts, on AWS (lambdas/plan.ts) and on one machine (./local-runner.ts) alike: the
 * run date the request names, the model (the pointer's unless one is given), the forced backfill
 * when that model is not the pointer's (docs/versioning.md), and the run lock of the version
 * ("one run at a time"), taken before anything of the run is written.
 */
import { type RunRequest, runDateOf } from '../contract/messages.ts';
import type { RunLock, RunLocks, RunLockTaker, VersionReader } from '../embeddings/types.ts';
import { NotFoundError } from '../util/errors.ts';

/** The table roles a start uses: the pointer (read) and the run locks. */
export interface RunStartStores {
  readonly versions: Pick<VersionReader, 'getPointer'>;
  /** Takes the lock; `releaseRunLock` only where an abandoned lock may be taken over (local runs). */
  readonly locks: RunLockTaker & Partial<Pick<RunLocks, 'releaseRunLock'>>;
}

export interface StartRunInput {
  /** What to run: a date (or the schedule's time, or a completion marker), optionally a model and a backfill. */
  readonly request: RunRequest;
  /** Who holds the run lock: the Step Functions execution, or the local process (localLockOwner). */
  readonly owner: string;
  /** The lock's lease; the holder renews it by taking the lock again. */
  readonly leaseMs: number;
  /**
   * Whether a holder's lock may be taken over at once (a local run whose process is gone);
   * default: never, a live lease is a ConflictError.
   */
  readonly abandoned?: (holder: RunLock) => boolean;
}

export interface StartedRun {
  readonly date: string;
  readonly modelVersion: string;
  /** Requested, or forced: nothing is published yet, or the model is not the pointer's. */
  readonly backfill: boolean;
  /** The pointer names another model (the backfill is forced by the switch). */
  readonly modelChanged: boolean;
  /** The version whose run lock the owner now holds: `modelVersion@date`. */
  readonly version: string;
}

/**
 * Resolves the request against the pointer and takes the run lock. NotFoundError when no model is
 * given and nothing is published; ConflictError (not retried) when another owner holds the lock.
 * A retry by the same owner takes its own lock again.
 */
export async function startRun(stores: RunStartStores, input: StartRunInput): Promise<StartedRun> {
  const { versions, locks } = stores;
  const date = runDateOf(input.request);
  const pointer = await versions.getPointer();
  const modelVersion = input.request.modelVersion ?? pointer?.modelVersion;
  if (!modelVersion) {
    throw new NotFoundError(
      'no model to run: nothing is published yet. Deploy a model first: `pinnerformer aws deploy-model DIR` (it starts the first backfill)',
    );
  }
  const modelChanged = pointer !== undefined && pointer.modelVersion !== modelVersion;
  const backfill = input.request.backfill === true || modelChanged || pointer === undefined;
  const version = `${modelVersion}@${date}`;
  const holder = input.abandoned && locks.releaseRunLock ? await locks.getRunLock(version) : undefined;
  if (holder && input.abandoned?.(holder)) await locks.releaseRunLock?.(version, holder.owner);
  await locks.acquireRunLock(version, input.owner, input.leaseMs);
  return { date, modelVersion, backfill, modelChanged, version };
}
