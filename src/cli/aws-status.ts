/**
 * `pinnerformer aws status [--date D] [--watch S]`: the day's execution, the state it is in, each
 * Batch array child with its state (and, while RUNNABLE, the reason Batch gives), and a progress line.
 */
import type { BatchClient } from '@aws-sdk/client-batch';
import type { SFNClient } from '@aws-sdk/client-sfn';
import {
  type ArrayJobState,
  JOB_STATES,
  type RunExecution,
  type RunHistory,
  readArrayJob,
  readRunHistory,
  requireRunExecution,
} from './aws-run-state.ts';

export interface RunStatus {
  readonly execution: RunExecution;
  readonly history: RunHistory;
  /** The execution's Batch array jobs, oldest first. */
  readonly jobs: readonly ArrayJobState[];
}

export async function readRunStatus(
  clients: { readonly sfn: SFNClient; readonly batch: BatchClient },
  stateMachineArn: string,
  date?: string,
): Promise<RunStatus> {
  const execution = await requireRunExecution(clients.sfn, stateMachineArn, date);
  const history = await readRunHistory(clients.sfn, execution.executionArn);
  const jobs: ArrayJobState[] = [];
  for (const jobId of history.batchJobIds) {
    const job = await readArrayJob(clients.batch, jobId);
    if (job) jobs.push(job);
  }
  return { execution, history, jobs };
}

/** "progress: 5/8 children succeeded, 2 running, 1 runnable" for the newest array job. */
export function progressLine(status: RunStatus): string {
  const { execution, history } = status;
  const job = status.jobs.at(-1);
  const where = `${execution.status}${history.currentState ? ` in ${history.currentState}` : ''}`;
  if (!job) return `progress: ${execution.date} ${where}; no Batch job submitted yet`;
  const counts = new Map<string, number>();
  for (const child of job.children) counts.set(child.status, (counts.get(child.status) ?? 0) + 1);
  const total = job.size ?? job.children.length;
  const others = JOB_STATES.filter((s) => s !== 'SUCCEEDED' && counts.get(s))
    .map((s) => `${counts.get(s)} ${s.toLowerCase()}`)
    .join(', ');
  return `progress: ${execution.date} ${where}; ${counts.get('SUCCEEDED') ?? 0}/${total} children succeeded${others ? `, ${others}` : ''}`;
}

/** The full report, one line per fact, children indented under their array job. */
export function statusLines(status: RunStatus): string[] {
  const { execution, history } = status;
  const lines = [
    `execution ${execution.name}: ${execution.status}, started ${execution.startDate?.toISOString() ?? '?'}${execution.stopDate ? `, stopped ${execution.stopDate.toISOString()}` : ''}`,
    `  ${execution.executionArn}`,
    history.planned
      ? `run ${history.planned.version}${history.planned.partitions ? `, ${history.planned.partitions} partitions` : ''}`
      : `run ${execution.date}: not planned yet`,
  ];
  if (history.currentState) lines.push(`state: ${history.currentState}`);
  for (const job of status.jobs) {
    lines.push(
      `batch job ${job.jobName ?? ''} ${job.jobId}: ${job.status}${job.size === undefined ? '' : `, ${job.size} children`}${job.statusReason ? ` (${job.statusReason})` : ''}`,
    );
    for (const child of job.children) {
      const reason = child.status === 'RUNNABLE' ? (child.statusReason ?? job.statusReason) : undefined;
      const failed = child.status === 'FAILED' && child.statusReason ? child.statusReason : undefined;
      lines.push(`  child ${child.index}: ${child.status}${reason || failed ? ` - ${reason ?? failed}` : ''}`);
    }
  }
  lines.push(progressLine(status));
  return lines;
}

const TERMINAL_EXECUTION = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);

/** Prints the report; with `watchMs`, then a progress line every watchMs until the execution ends. */
export async function printRunStatus(
  clients: { readonly sfn: SFNClient; readonly batch: BatchClient },
  stateMachineArn: string,
  date: string | undefined,
  log: (line: string) => void,
  watchMs?: number,
): Promise<RunStatus> {
  let status = await readRunStatus(clients, stateMachineArn, date);
  for (const line of statusLines(status)) log(line);
  while (watchMs !== undefined && !TERMINAL_EXECUTION.has(status.execution.status)) {
    await new Promise((resolve) => setTimeout(resolve, watchMs));
    status = await readRunStatus(clients, stateMachineArn, status.execution.date);
    log(`${new Date().toISOString()} ${progressLine(status)}`);
  }
  return status;
}
