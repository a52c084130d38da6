// `pinnerformer aws status | cancel | unlock | doctor`. No Batch, Step Functions, Service Quotas,
// EC2 or Scheduler server runs here, so those clients are one hand-written fake (FakeAws) that
// answers from a small in-memory account and records every call; the run lock and the pointer
// live in a real table (dynalite).
import { ExecutionDoesNotExist } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelRun } from '../src/cli/aws-cancel.ts';
import { doctorLines, GPU_QUOTAS, runDoctor } from '../src/cli/aws-doctor.ts';
import { watchMsOf } from '../src/cli/aws-operate.ts';
import { findRunExecution, readRunHistory } from '../src/cli/aws-run-state.ts';
import { progressLine, readRunStatus, statusLines } from '../src/cli/aws-status.ts';
import { executionArnOf, unlockRun } from '../src/cli/aws-unlock.ts';
import type { DynamoEmbeddingStore } from '../src/embeddings/dynamo-store.ts';
import type { VersionId } from '../src/embeddings/types.ts';
import type { LocalDynamo } from '../src/local/dynalite.ts';
import { ConflictError, NotFoundError } from '../src/util/errors.ts';
import { freshStore, makeRecords, startDynamo } from './embeddings-helpers.ts';

const SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:PinnerFormerDailyRun';
const MV = 'pf-model-1';

interface FakeExecution {
  name: string;
  status: string;
  input: unknown;
  startDate: Date;
  history: object[];
}
interface FakeJob {
  jobId: string;
  jobName: string;
  status: string;
  statusReason?: string;
  size?: number;
  arrayJobId?: string;
  index?: number;
}

/** The AWS side of one account, answering the commands the operator tools send. */
class FakeAws {
  public readonly calls: { command: string; input: Record<string, unknown> }[] = [];
  public executions: FakeExecution[] = [];
  public jobs: FakeJob[] = [];
  public quotas: Record<string, number> = {};
  public queues: object[] = [];
  public environments: object[] = [];
  public offerings: { InstanceType: string; Location: string }[] = [];
  public scheduleState = 'DISABLED';

  /** A client of any of the five services: `send(command)` dispatches on the command's class. */
  public client<T>(): T {
    return { send: (command: object) => this.send(command) } as T;
  }

  private async send(command: object): Promise<unknown> {
    const name = command.constructor.name;
    const input = (command as { input: Record<string, unknown> }).input;
    this.calls.push({ command: name, input });
    const arnOf = (e: FakeExecution) => executionArnOf(SM, e.name);
    const execution = (arn: unknown) => {
      const found = this.executions.find((e) => arnOf(e) === arn);
      if (!found) throw new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${arn}'`, $metadata: {} });
      return found;
    };
    switch (name) {
      case 'ListExecutionsCommand':
        return {
          executions: [...this.executions]
            .sort((a, b) => b.startDate.getTime() - a.startDate.getTime())
            .map((e) => ({ executionArn: arnOf(e), name: e.name, status: e.status, startDate: e.startDate })),
        };
      case 'DescribeExecutionCommand': {
        const e = execution(input.executionArn);
        return { executionArn: arnOf(e), status: e.status, startDate: e.startDate, input: JSON.stringify(e.input) };
      }
      case 'GetExecutionHistoryCommand':
        return { events: execution(input.executionArn).history };
      case 'StopExecutionCommand':
        execution(input.executionArn).status = 'ABORTED';
        return {};
      case 'DescribeJobsCommand':
        return { jobs: this.jobs.filter((j) => (input.jobs as string[]).includes(j.jobId)).map(describeJob) };
      case 'ListJobsCommand': {
        const children = this.jobs.filter((j) => j.arrayJobId === input.arrayJobId && j.status === input.jobStatus);
        return {
          jobSummaryList: children.map((j) => ({
            jobId: j.jobId,
            status: j.status,
            statusReason: j.statusReason,
            arrayProperties: { index: j.index },
          })),
        };
      }
      case 'TerminateJobCommand': {
        const job = this.jobs.find((j) => j.jobId === input.jobId)!;
        job.status = 'FAILED';
        job.statusReason = String(input.reason);
        return {};
      }
      case 'DescribeJobQueuesCommand':
        return { jobQueues: this.queues };
      case 'DescribeComputeEnvironmentsCommand':
        return { computeEnvironments: this.environments };
      case 'GetServiceQuotaCommand':
        return { Quota: { QuotaCode: input.QuotaCode, Value: this.quotas[String(input.QuotaCode)] } };
      case 'DescribeInstanceTypeOfferingsCommand': {
        const patterns = (input.Filters as { Values: string[] }[])[0]!.Values;
        const matches = (type: string) =>
          patterns.some((p) => (p.endsWith('.*') ? type.startsWith(p.slice(0, -1)) : type === p));
        return { InstanceTypeOfferings: this.offerings.filter((o) => matches(o.InstanceType)) };
      }
      case 'GetScheduleCommand':
        return { Name: input.Name, State: this.scheduleState };
      default:
        throw new Error(`FakeAws does not answer ${name}`);
    }
  }

  public commands(name: string): Record<string, unknown>[] {
    return this.calls.filter((c) => c.command === name).map((c) => c.input);
  }
}

function describeJob(job: FakeJob) {
  return {
    jobId: job.jobId,
    jobName: job.jobName,
    status: job.status,
    statusReason: job.statusReason,
    ...(job.size === undefined ? {} : { arrayProperties: { size: job.size } }),
  };
}

/** The history of an execution that planned `date` and submitted Batch job `jobId`, in state `state`. */
function historyOf(date: string, jobId: string | undefined, state = 'EmbedPartitions'): object[] {
  const planned = { date, modelVersion: MV, version: `${MV}@${date}`, partitions: 6, backfill: false };
  return [
    { id: 1, type: 'ExecutionStarted' },
    { id: 2, type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'PlanRun', input: '{}' } },
    { id: 3, type: 'TaskStateExited', stateExitedEventDetails: { name: 'PlanRun', output: JSON.stringify(planned) } },
    { id: 4, type: 'MapStateEntered', stateEnteredEventDetails: { name: 'PartitionSlices' } },
    {
      id: 5,
      type: 'MapStateExited',
      stateExitedEventDetails: { name: 'PartitionSlices', output: JSON.stringify(planned) },
    },
    { id: 6, type: 'TaskStateEntered', stateEnteredEventDetails: { name: state } },
    ...(jobId
      ? [
          {
            id: 7,
            type: 'TaskSubmitted',
            taskSubmittedEventDetails: {
              resourceType: 'batch',
              resource: 'submitJob.sync',
              output: JSON.stringify({
                JobArn: `arn:aws:batch:eu-west-1:123456789012:job/${jobId}`,
                JobId: jobId,
                JobName: 'pinnerformer-embed',
              }),
            },
          },
        ]
      : []),
  ];
}

/** A running execution for `date` whose array job has three children: succeeded, running, runnable. */
function runningDay(aws: FakeAws, date: string, name = `pf-${date}-abc`): FakeExecution {
  const execution: FakeExecution = {
    name,
    status: 'RUNNING',
    input: { date },
    startDate: new Date(`${date}T12:00:00Z`),
    history: historyOf(date, `job-${date}`),
  };
  aws.executions.push(execution);
  const parent = `job-${date}`;
  aws.jobs.push(
    { jobId: parent, jobName: 'pinnerformer-embed', status: 'PENDING', size: 3 },
    { jobId: `${parent}:0`, jobName: 'pinnerformer-embed', status: 'SUCCEEDED', arrayJobId: parent, index: 0 },
    { jobId: `${parent}:1`, jobName: 'pinnerformer-embed', status: 'RUNNING', arrayJobId: parent, index: 1 },
    {
      jobId: `${parent}:2`,
      jobName: 'pinnerformer-embed',
      status: 'RUNNABLE',
      arrayJobId: parent,
      index: 2,
      statusReason: 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested',
    },
  );
  return execution;
}

describe('aws status', () => {
  it("finds the day's execution whatever started it, and shows each child with why RUNNABLE ones wait", async () => {
    // Prepare: a scheduled run of 11-27 (input scheduledTime), a newer manual run of 11-28, an old run of 11-20
    const aws = new FakeAws();
    runningDay(aws, '2026-11-27', 'scheduled-0f3a');
    aws.executions[0]!.input = { scheduledTime: '2026-11-28T03:00:00Z' };
    aws.executions[0]!.startDate = new Date('2026-11-28T03:00:05Z');
    aws.executions.push({
      name: 'pf-2026-11-28-x',
      status: 'SUCCEEDED',
      input: { date: '2026-11-28' },
      startDate: new Date('2026-11-29T03:00:00Z'),
      history: historyOf('2026-11-28', undefined, 'Done'),
    });
    aws.executions.push({
      name: 'pf-2026-11-20-y',
      status: 'SUCCEEDED',
      input: { date: '2026-11-20' },
      startDate: new Date('2026-11-21T03:00:00Z'),
      history: [],
    });
    const clients = { sfn: aws.client<never>(), batch: aws.client<never>() };
    // Act
    const status = await readRunStatus(clients, SM, '2026-11-27');
    const newest = await readRunStatus(clients, SM);
    const lines = statusLines(status);
    // Assess: the scheduled execution is the 11-27 run; the children in index order with their reasons
    expect(status.execution.name).toBe('scheduled-0f3a');
    expect(status.history.planned?.version).toBe(`${MV}@2026-11-27`);
    expect(newest.execution.name).toBe('pf-2026-11-28-x');
    expect(lines).toContain(`run ${MV}@2026-11-27, 6 partitions`);
    expect(lines).toContain('state: EmbedPartitions');
    expect(lines).toContain('  child 0: SUCCEEDED');
    expect(lines).toContain('  child 1: RUNNING');
    expect(lines).toContain(
      '  child 2: RUNNABLE - CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested',
    );
    expect(progressLine(status)).toBe(
      'progress: 2026-11-27 RUNNING in EmbedPartitions; 1/3 children succeeded, 1 runnable, 1 running',
    );
    expect(progressLine(newest)).toBe('progress: 2026-11-28 SUCCEEDED in Done; no Batch job submitted yet');
    // the search stopped at the 11-20 run (started before 11-27) without describing it
    const described = aws.commands('DescribeExecutionCommand').map((i) => i.executionArn);
    expect(described).not.toContain(executionArnOf(SM, 'pf-2026-11-20-y'));
  });

  it('says what it searched when the day has no execution, and reads Batch job ids only from batch tasks', async () => {
    const aws = new FakeAws();
    runningDay(aws, '2026-11-27');
    const sfn = aws.client<never>();
    await expect(findRunExecution(sfn, SM, '2026-11-26')).resolves.toBeUndefined();
    const missing = readRunStatus({ sfn, batch: aws.client<never>() }, SM, '2026-11-29');
    await expect(missing).rejects.toBeInstanceOf(NotFoundError);
    await expect(missing).rejects.toThrow(
      `no execution of ${SM} runs 2026-11-29 (searched the 100 newest executions started on 2026-11-29 or later)`,
    );
    aws.executions[0]!.history.push({
      id: 8,
      type: 'TaskSubmitted',
      taskSubmittedEventDetails: { resourceType: 'lambda', output: JSON.stringify({ JobId: 'not-a-batch-job' }) },
    });
    const history = await readRunHistory(sfn, executionArnOf(SM, 'pf-2026-11-27-abc'));
    expect(history.batchJobIds).toEqual(['job-2026-11-27']);
  });

  it('accepts --watch from 5 to 3600 seconds only', () => {
    expect(watchMsOf(undefined)).toBeUndefined();
    expect(watchMsOf('30')).toBe(30_000);
    for (const bad of ['0', '4', '3601', '1.5', 'soon']) expect(() => watchMsOf(bad), bad).toThrow(/--watch must be/);
  });
});

describe('aws cancel and aws unlock (the run lock and the pointer in a real table)', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynamo();
  });
  afterAll(async () => {
    await dynamo.close();
  });

  async function publishedStore(): Promise<DynamoEmbeddingStore> {
    const { store } = await freshStore(dynamo);
    const live: VersionId = { modelVersion: MV, date: '2026-11-26' };
    await store.writeEmbeddings(live, makeRecords(['u1', 'u2'], 8, 1));
    await store.recordVersion({ ...live, published: false, embeddedUsers: 2 });
    await store.publishVersion(live, undefined);
    return store;
  }

  it('stops the execution, terminates the unfinished Batch jobs, releases its lock, leaves the pointer', async () => {
    // Prepare: a published pointer; the 11-27 run holds its lock and runs
    const store = await publishedStore();
    const pointer = await store.getPointer();
    const aws = new FakeAws();
    runningDay(aws, '2026-11-27');
    await store.acquireRunLock(`${MV}@2026-11-27`, 'pf-2026-11-27-abc', 3_600_000);
    const log: string[] = [];
    // Act
    const result = await cancelRun(
      { sfn: aws.client<never>(), batch: aws.client<never>(), locks: store },
      SM,
      '2026-11-27',
      (line) => log.push(line),
    );
    // Assess: stopped before any termination; the array job and its two unfinished children terminated
    const order = aws.calls.map((c) => c.command);
    expect(order.indexOf('StopExecutionCommand')).toBeLessThan(order.indexOf('TerminateJobCommand'));
    expect(aws.commands('StopExecutionCommand')).toEqual([
      expect.objectContaining({ executionArn: executionArnOf(SM, 'pf-2026-11-27-abc'), error: 'Cancelled' }),
    ]);
    expect(
      aws
        .commands('TerminateJobCommand')
        .map((i) => i.jobId)
        .sort(),
    ).toEqual(['job-2026-11-27', 'job-2026-11-27:1', 'job-2026-11-27:2']);
    expect(result).toMatchObject({ stopped: true, lockVersion: `${MV}@2026-11-27`, lockReleased: true });
    expect(await store.getRunLock(`${MV}@2026-11-27`)).toBeUndefined();
    expect(await store.getPointer()).toEqual(pointer);
    expect(log).toContain(`released the run lock ${MV}@2026-11-27`);
    // a second cancel finds nothing running, and says how to clear a lock
    await expect(
      cancelRun({ sfn: aws.client<never>(), batch: aws.client<never>(), locks: store }, SM, '2026-11-27', () => {}),
    ).rejects.toThrow(/is ABORTED, not running: nothing to cancel.*aws unlock --date 2026-11-27/);
  });

  it('releases the lock of a run stopped before its plan answered (waiting for the day), by the model it runs', async () => {
    // Prepare: two runs still in PlanRun (retrying: no events yet) hold their locks; one names its model
    const store = await publishedStore();
    const aws = new FakeAws();
    const waiting = (name: string, input: object): FakeExecution => ({
      name,
      status: 'RUNNING',
      input,
      startDate: new Date('2026-11-28T03:00:05Z'),
      history: [
        { id: 1, type: 'ExecutionStarted' },
        { id: 2, type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'PlanRun' } },
        { id: 3, type: 'TaskFailed', taskFailedEventDetails: { error: 'EventsMissingError' } },
      ],
    });
    aws.executions.push(waiting('scheduled-1', { scheduledTime: '2026-11-28T03:00:00Z' }));
    aws.executions.push(
      waiting('pf-2026-11-26-new', { date: '2026-11-26', modelVersion: 'pf-model-2', backfill: true }),
    );
    await store.acquireRunLock(`${MV}@2026-11-27`, 'scheduled-1', 3_600_000);
    await store.acquireRunLock('pf-model-2@2026-11-26', 'pf-2026-11-26-new', 3_600_000);
    const clients = { sfn: aws.client<never>(), batch: aws.client<never>(), locks: store };
    // Act
    const scheduled = await cancelRun(clients, SM, '2026-11-27', () => {});
    const named = await cancelRun(clients, SM, '2026-11-26', () => {});
    // Assess: the pointer's model for the scheduled run, the input's model for the other; no Batch job to stop
    expect(scheduled).toMatchObject({ lockVersion: `${MV}@2026-11-27`, lockReleased: true, terminatedJobs: [] });
    expect(named).toMatchObject({ lockVersion: 'pf-model-2@2026-11-26', lockReleased: true });
    expect(await store.getRunLock(`${MV}@2026-11-27`)).toBeUndefined();
    expect(await store.getRunLock('pf-model-2@2026-11-26')).toBeUndefined();
  });

  it("leaves another execution's lock alone", async () => {
    const store = await publishedStore();
    const aws = new FakeAws();
    runningDay(aws, '2026-11-27');
    await store.acquireRunLock(`${MV}@2026-11-27`, 'someone-else', 3_600_000);
    const result = await cancelRun(
      { sfn: aws.client<never>(), batch: aws.client<never>(), locks: store },
      SM,
      '2026-11-27',
      () => {},
    );
    expect(result.lockReleased).toBe(false);
    expect((await store.getRunLock(`${MV}@2026-11-27`))?.owner).toBe('someone-else');
  });

  it('unlock clears a lock whose execution was stopped, refuses while it runs, and reports no lock', async () => {
    const store = await publishedStore();
    const pointer = await store.getPointer();
    const aws = new FakeAws();
    const execution = runningDay(aws, '2026-11-27');
    const version = `${MV}@2026-11-27`;
    await store.acquireRunLock(version, execution.name, 20 * 3_600_000);
    const clients = { sfn: aws.client<never>(), locks: store };
    // still running: refused, lock kept
    await expect(unlockRun(clients, SM, version, () => {})).rejects.toThrow(ConflictError);
    await expect(unlockRun(clients, SM, version, () => {})).rejects.toThrow(
      /still running.*aws cancel --date 2026-11-27/,
    );
    expect(await store.getRunLock(version)).toBeDefined();
    // stopped by hand in the console: the lock is released
    execution.status = 'ABORTED';
    const log: string[] = [];
    await expect(unlockRun(clients, SM, version, (line) => log.push(line))).resolves.toBe('released');
    expect(log[0]).toMatch(/^released run lock pf-model-1@2026-11-27 \(owner pf-2026-11-27-abc: ABORTED/);
    expect(await store.getRunLock(version)).toBeUndefined();
    await expect(unlockRun(clients, SM, version, () => {})).resolves.toBe('no-lock');
    // an owner that is no execution of this state machine (a lock from elsewhere) is released too
    await store.acquireRunLock(version, 'gone-execution', 3_600_000);
    await expect(unlockRun(clients, SM, version, () => {})).resolves.toBe('released');
    expect(await store.getPointer()).toEqual(pointer);
  });
});

describe('aws doctor', () => {
  const QUEUE = 'arn:aws:batch:eu-west-1:123456789012:job-queue/SpotQueue';
  const OD_QUEUE = 'arn:aws:batch:eu-west-1:123456789012:job-queue/OnDemandQueue';

  function account(): FakeAws {
    const aws = new FakeAws();
    aws.queues = [
      {
        jobQueueArn: QUEUE,
        jobQueueName: 'SpotQueue',
        state: 'ENABLED',
        status: 'VALID',
        computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'ce-spot' }],
      },
      {
        jobQueueArn: OD_QUEUE,
        jobQueueName: 'OnDemandQueue',
        state: 'ENABLED',
        status: 'VALID',
        computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'ce-od' }],
      },
    ];
    aws.environments = [
      {
        computeEnvironmentName: 'SpotGpu',
        state: 'ENABLED',
        status: 'VALID',
        computeResources: { type: 'SPOT', maxvCpus: 64, instanceTypes: ['g5', 'g6'] },
      },
      {
        computeEnvironmentName: 'OnDemandGpu',
        state: 'ENABLED',
        status: 'VALID',
        computeResources: { type: 'EC2', maxvCpus: 64, instanceTypes: ['g5', 'g6'] },
      },
    ];
    aws.quotas = { [GPU_QUOTAS.onDemand.code]: 64, [GPU_QUOTAS.spot.code]: 64 };
    aws.offerings = ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'].flatMap((zone) => [
      { InstanceType: 'g5.2xlarge', Location: zone },
      { InstanceType: 'g6.2xlarge', Location: zone },
    ]);
    return aws;
  }

  // the table's warm write throughput, as DescribeTable reports it (absent: an API without it)
  const doctor = (aws: FakeAws, pointer: object | undefined, warm?: { units?: number; budget?: number }) =>
    runDoctor(
      {
        batch: aws.client<never>(),
        quotas: aws.client<never>(),
        ec2: aws.client<never>(),
        scheduler: aws.client<never>(),
        getPointer: async () => pointer as never,
        getWarmWriteUnits: async () => warm?.units,
      },
      {
        jobQueueArns: [QUEUE, OD_QUEUE],
        scheduleName: 'PinnerFormerDaily',
        region: 'eu-west-1',
        ...(warm?.budget === undefined ? {} : { runWriteUnitsPerSecond: warm.budget }),
      },
    );

  it('passes a ready account: queues, quotas at maxVcpus, offered types, a published model, the schedule on', async () => {
    const aws = account();
    aws.scheduleState = 'ENABLED';
    const checks = await doctor(aws, { version: `${MV}@2026-11-26`, modelVersion: MV, date: '2026-11-26', seq: 1 });
    expect(checks.filter((c) => c.level !== 'ok')).toEqual([]);
    const lines = doctorLines(checks);
    expect(lines).toContain('ok      quota       "Running On-Demand G and VT instances" is 64 vCPUs (maxVcpus 64)');
    expect(lines).toContain(
      'ok      instances   g5 is offered in 3 zone(s) of eu-west-1: eu-west-1a, eu-west-1b, eu-west-1c',
    );
    expect(lines.at(-1)).toBe(`doctor: 0 blocker(s), 0 warning(s), ${checks.length} ok`);
  });

  it('blocks a fresh account: zero G and VT quota, a type the region lacks, the schedule on with nothing published', async () => {
    const aws = account();
    aws.quotas = { [GPU_QUOTAS.onDemand.code]: 0, [GPU_QUOTAS.spot.code]: 32 };
    aws.offerings = aws.offerings.filter((o) => o.InstanceType.startsWith('g5'));
    aws.scheduleState = 'ENABLED';
    const checks = await doctor(aws, undefined);
    const blockers = checks.filter((c) => c.level === 'blocker').map((c) => c.message);
    expect(blockers).toEqual([
      `"Running On-Demand G and VT instances" is 0 vCPUs: no GPU instance can start, children stay RUNNABLE; request at least 64 in Service Quotas (ec2, L-DB2E81BA; docs/deploy.md, "Quotas")`,
      'g6 is not offered in eu-west-1: choose instanceTypes the region offers, or another region',
      'PinnerFormerDaily is ENABLED but nothing is published: the next scheduled run fails and alarms. Deploy with -c scheduleEnabled=false until the first backfill publishes',
    ]);
    const warnings = checks.filter((c) => c.level === 'warn').map((c) => c.message);
    expect(warnings).toContain(
      `"All G and VT Spot Instance Requests" is 32 vCPUs, below maxVcpus 64: fewer children run at once; request at least 64 in Service Quotas (ec2, L-3819A6DF; docs/deploy.md, "Quotas")`,
    );
    expect(doctorLines(checks).at(-1)).toMatch(/^doctor: 3 blocker\(s\), 2 warning\(s\)/);
  });

  it("warns when the table cannot take the run's paced writes at once, and passes once it can", async () => {
    const aws = account();
    aws.scheduleState = 'DISABLED';
    // a fresh on-demand table: 4,000 write units/s at once, the lanes paced to 32,000 together
    const fresh = await doctor(aws, undefined, { units: 4000, budget: 32_000 });
    expect(fresh.find((c) => c.subject === 'table')).toEqual({
      level: 'warn',
      subject: 'table',
      message:
        'serves 4000 write units/s at once, below the 32000 the run\'s lanes are paced to together: a large run (the first backfill) is throttled and slowed until the table scales. Pre-warm it with -c tableWarmWriteUnitsPerSecond=32000 (a one-time charge), or lower runWriteUnitsPerSecond (docs/deploy.md, "Cost drivers")',
    });
    const warmed = await doctor(aws, undefined, { units: 32_000, budget: 32_000 });
    expect(warmed.find((c) => c.subject === 'table')).toMatchObject({ level: 'ok' });
    // an older stack without the budget output, or a table that does not report it: no check
    expect((await doctor(aws, undefined, { units: 4000 })).some((c) => c.subject === 'table')).toBe(false);
    expect((await doctor(aws, undefined, { budget: 32_000 })).some((c) => c.subject === 'table')).toBe(false);
  });

  it('blocks an invalid compute environment and names Batch’s reason; a disabled schedule after publishing warns', async () => {
    const aws = account();
    (aws.environments[1] as { status: string; statusReason?: string }).status = 'INVALID';
    (aws.environments[1] as { statusReason?: string }).statusReason =
      'CLIENT_ERROR - not authorized to use the launch template';
    const checks = await doctor(aws, { version: `${MV}@2026-11-26`, modelVersion: MV, date: '2026-11-26', seq: 1 });
    expect(checks.filter((c) => c.level === 'blocker').map((c) => c.message)).toEqual([
      'OnDemandGpu (EC2, maxVcpus 64, g5,g6) is ENABLED/INVALID: CLIENT_ERROR - not authorized to use the launch template',
    ]);
    expect(checks.find((c) => c.subject === 'schedule')).toMatchObject({
      level: 'warn',
      message:
        'PinnerFormerDaily is DISABLED: no scheduled runs until it is enabled (-c scheduleEnabled=true, then deploy); expected with trigger=completion-marker',
    });
  });
});
