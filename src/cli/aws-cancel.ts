/**
 * `pinnerformer aws cancel --date D`: stops the day's running execution, terminates its Batch jobs
 * (the array job and every child not yet finished), and releases the run lock the execution holds.
 * The pointer is never written: readers keep the last published version.
 */
import { type BatchClient, TerminateJobCommand } from '@aws-sdk/client-batch';
import { type SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { RunLock } from '../embeddings/types.ts';
import { ConflictError } from '../util/errors.ts';
import { FINAL_JOB_STATES, readArrayJob, readRunHistory, requireRunExecution } from './aws-run-state.ts';

/** The run-lock side of the table: what cancel and unlock touch, and nothing else. */
export interface RunLocks {
  getRunLock(version: string): Promise<RunLock | undefined>;
  releaseRunLock(version: string, owner: string): Promise<boolean>;
  /** The live version; its model is the run's when the input names none. */
  getPointer(): Promise<{ readonly modelVersion: string } | undefined>;
}

export interface CancelResult {
  readonly executionArn: string;
  readonly stopped: boolean;
  readonly terminatedJobs: readonly string[];
  /** The lock's version id; absent when no model is known (no lock can have been taken). */
  readonly lockVersion?: string;
  readonly lockReleased: boolean;
}

/** TerminateJob calls in flight at once (Batch's API rate is per account). */
const TERMINATE_CONCURRENCY = 8;

async function terminateAll(batch: BatchClient, jobIds: readonly string[], reason: string): Promise<void> {
  const queue = [...jobIds];
  const worker = async (): Promise<void> => {
    for (let jobId = queue.shift(); jobId !== undefined; jobId = queue.shift()) {
      await batch.send(new TerminateJobCommand({ jobId, reason }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(TERMINATE_CONCURRENCY, queue.length) }, worker));
}

export async function cancelRun(
  clients: { readonly sfn: SFNClient; readonly batch: BatchClient; readonly locks: RunLocks },
  stateMachineArn: string,
  date: string,
  log: (line: string) => void,
): Promise<CancelResult> {
  const execution = await requireRunExecution(clients.sfn, stateMachineArn, date);
  if (execution.status !== 'RUNNING') {
    throw new ConflictError(
      `the newest execution for ${date} (${execution.name}) is ${execution.status}, not running: nothing to cancel. A lock left behind is cleared with \`pinnerformer aws unlock --date ${date}\``,
      { executionArn: execution.executionArn, status: execution.status },
    );
  }
  const reason = `pinnerformer aws cancel of ${execution.name}`;
  // Stopped first, so that it submits nothing more while its jobs are terminated.
  await clients.sfn.send(
    new StopExecutionCommand({ executionArn: execution.executionArn, error: 'Cancelled', cause: reason }),
  );
  log(`stopped execution ${execution.name}`);
  const history = await readRunHistory(clients.sfn, execution.executionArn);
  const terminated: string[] = [];
  for (const jobId of history.batchJobIds) {
    const job = await readArrayJob(clients.batch, jobId);
    if (!job) continue;
    const open = job.children.filter((c) => !FINAL_JOB_STATES.has(c.status)).map((c) => c.jobId);
    const targets = [...(FINAL_JOB_STATES.has(job.status) ? [] : [job.jobId]), ...open];
    await terminateAll(clients.batch, targets, reason);
    terminated.push(...targets);
    log(
      `batch job ${jobId}: terminated ${targets.length} job(s) (the array job and ${open.length} unfinished children)`,
    );
  }
  // Before the plan answers (e.g. while it waits for the day's events) it may already hold the
  // lock: its version is then the input's model, or the pointer's, at the run date.
  const modelVersion = execution.modelVersion ?? (await clients.locks.getPointer())?.modelVersion;
  const version = history.planned?.version ?? (modelVersion ? `${modelVersion}@${date}` : undefined);
  let lockReleased = false;
  if (version === undefined) {
    log('no run lock: nothing is published and the input names no model, so the plan took none');
  } else {
    lockReleased = await clients.locks.releaseRunLock(version, execution.name);
    log(
      lockReleased
        ? `released the run lock ${version}`
        : `run lock ${version} was not held by ${execution.name} (already released, or taken by another run): left as is`,
    );
  }
  log('the pointer is unchanged: readers keep the last published version');
  return {
    executionArn: execution.executionArn,
    stopped: true,
    terminatedJobs: terminated,
    ...(version === undefined ? {} : { lockVersion: version }),
    lockReleased,
  };
}
