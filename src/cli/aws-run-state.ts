/**
 * What `pinnerformer aws status` and `aws cancel` read about one day's run: its Step Functions
 * execution (found by run date, whatever started it), the run the plan step answered, the state it
 * is in, and its Batch array jobs with each child's state.
 */
import {
  type BatchClient,
  DescribeJobsCommand,
  type JobStatus,
  type JobSummary,
  ListJobsCommand,
} from '@aws-sdk/client-batch';
import {
  DescribeExecutionCommand,
  type ExecutionStatus,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { RunRequestSchema, runDateOf } from '../contract/messages.ts';
import { NotFoundError } from '../util/errors.ts';

/** Executions read back from the newest when looking for a day's run. */
export const EXECUTIONS_SEARCHED = 100;

export interface RunExecution {
  readonly executionArn: string;
  /** Execution name: the owner of the run lock. */
  readonly name: string;
  readonly status: ExecutionStatus | string;
  readonly startDate?: Date;
  readonly stopDate?: Date;
  /** Run date of its input (a date, a marker's day, or the day before the schedule fired). */
  readonly date: string;
  /** The model its input names; absent = the pointer's model at plan time. */
  readonly modelVersion?: string;
}

/** The run as the plan step answered it; absent while the plan has not finished. */
export interface PlannedRunInfo {
  readonly date: string;
  readonly modelVersion: string;
  /** Version id `modelVersion@date`: the key of the run lock. */
  readonly version: string;
  readonly partitions?: number;
}

export interface RunHistory {
  readonly planned?: PlannedRunInfo;
  /** The state entered last. */
  readonly currentState?: string;
  /** Batch array jobs the execution submitted, in order (a Spot attempt, then an on-demand one). */
  readonly batchJobIds: readonly string[];
}

function runOfInput(input: string | undefined): { date: string; modelVersion?: string } | undefined {
  try {
    const parsed = RunRequestSchema.safeParse(JSON.parse(input ?? ''));
    if (!parsed.success) return undefined;
    const { modelVersion } = parsed.data;
    return { date: runDateOf(parsed.data), ...(modelVersion ? { modelVersion } : {}) };
  } catch {
    return undefined;
  }
}

/**
 * The newest execution of the state machine for run date `date` (any state), or the newest
 * execution at all without a date. A run for day D starts on D or later, so the search stops at
 * the first execution started before D.
 */
export async function findRunExecution(
  sfn: SFNClient,
  stateMachineArn: string,
  date?: string,
): Promise<RunExecution | undefined> {
  const notBefore = date === undefined ? undefined : Date.parse(`${date}T00:00:00Z`);
  let nextToken: string | undefined;
  let seen = 0;
  do {
    const page = await sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 50, nextToken }));
    for (const item of page.executions ?? []) {
      if (!item.executionArn || !item.name) continue;
      if (notBefore !== undefined && item.startDate && item.startDate.getTime() < notBefore) return undefined;
      if (++seen > EXECUTIONS_SEARCHED) return undefined;
      const described = await sfn.send(new DescribeExecutionCommand({ executionArn: item.executionArn }));
      const run = runOfInput(described.input);
      if (run === undefined || (date !== undefined && run.date !== date)) continue;
      return {
        executionArn: item.executionArn,
        name: item.name,
        status: described.status ?? item.status ?? 'UNKNOWN',
        startDate: described.startDate ?? item.startDate,
        stopDate: described.stopDate ?? item.stopDate,
        ...run,
      };
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return undefined;
}

/** As findRunExecution, but a missing run is a NotFoundError that says what was searched. */
export async function requireRunExecution(
  sfn: SFNClient,
  stateMachineArn: string,
  date?: string,
): Promise<RunExecution> {
  const found = await findRunExecution(sfn, stateMachineArn, date);
  if (found) return found;
  throw new NotFoundError(
    date === undefined
      ? `the state machine has no execution yet (${stateMachineArn}); start one with \`pinnerformer aws run --date D\``
      : `no execution of ${stateMachineArn} runs ${date} (searched the ${EXECUTIONS_SEARCHED} newest executions started on ${date} or later)`,
    { stateMachineArn, date },
  );
}

function plannedFrom(output: string | undefined): PlannedRunInfo | undefined {
  try {
    const value = JSON.parse(output ?? '') as Record<string, unknown>;
    const { date, modelVersion, version, partitions } = value;
    if (typeof date !== 'string' || typeof modelVersion !== 'string') return undefined;
    return {
      date,
      modelVersion,
      version: typeof version === 'string' ? version : `${modelVersion}@${date}`,
      ...(typeof partitions === 'number' ? { partitions } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Reads the execution's history: the plan step's answer, the state it is in, its Batch jobs. */
export async function readRunHistory(sfn: SFNClient, executionArn: string): Promise<RunHistory> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  let planned: PlannedRunInfo | undefined;
  let currentState: string | undefined;
  const batchJobIds: string[] = [];
  for (const event of events) {
    if (event.stateEnteredEventDetails?.name) currentState = event.stateEnteredEventDetails.name;
    // The first state output that names a run is the plan's answer (later states pass it on).
    planned ??= plannedFrom(event.stateExitedEventDetails?.output);
    const submitted = event.taskSubmittedEventDetails;
    if (submitted?.resourceType === 'batch') {
      try {
        const jobId = (JSON.parse(submitted.output ?? '') as { JobId?: unknown }).JobId;
        if (typeof jobId === 'string' && !batchJobIds.includes(jobId)) batchJobIds.push(jobId);
      } catch {
        // an unreadable submit output names no job
      }
    }
  }
  return { ...(planned ? { planned } : {}), ...(currentState ? { currentState } : {}), batchJobIds };
}

export interface ArrayJobState {
  readonly jobId: string;
  readonly jobName?: string;
  readonly status: string;
  readonly statusReason?: string;
  readonly size?: number;
  readonly children: readonly ChildState[];
}

export interface ChildState {
  readonly index: number;
  readonly jobId: string;
  readonly status: string;
  readonly statusReason?: string;
}

/** Batch job states, in the order a job passes them. */
export const JOB_STATES: readonly JobStatus[] = [
  'SUBMITTED',
  'PENDING',
  'RUNNABLE',
  'STARTING',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
];
export const FINAL_JOB_STATES: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED']);

/** The array job and its children (ListJobs names one state per call, so each state is listed). */
export async function readArrayJob(batch: BatchClient, jobId: string): Promise<ArrayJobState | undefined> {
  const { jobs } = await batch.send(new DescribeJobsCommand({ jobs: [jobId] }));
  const parent = jobs?.[0];
  if (!parent) return undefined;
  const summaries: JobSummary[] = [];
  for (const jobStatus of JOB_STATES) {
    let nextToken: string | undefined;
    do {
      const page = await batch.send(new ListJobsCommand({ arrayJobId: jobId, jobStatus, nextToken }));
      summaries.push(...(page.jobSummaryList ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
  }
  const children = summaries
    .map((s) => ({
      index: s.arrayProperties?.index ?? Number(s.jobId?.split(':').at(-1)),
      jobId: s.jobId ?? '',
      status: s.status ?? 'UNKNOWN',
      ...(s.statusReason ? { statusReason: s.statusReason } : {}),
    }))
    .sort((a, b) => a.index - b.index);
  return {
    jobId,
    ...(parent.jobName ? { jobName: parent.jobName } : {}),
    status: parent.status ?? 'UNKNOWN',
    ...(parent.statusReason ? { statusReason: parent.statusReason } : {}),
    ...(parent.arrayProperties?.size === undefined ? {} : { size: parent.arrayProperties.size }),
    children,
  };
}
