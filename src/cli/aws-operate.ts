/**
 * The operator's commands under `pinnerformer aws` (docs/deploy.md, the runbook):
 *   aws status [--date D] [--watch S]         the day's execution, its Batch children, progress
 *   aws cancel --date D                       stop it, terminate its Batch jobs, release its run lock
 *   aws unlock --date D [--model-version MV]  clear a run lock a stopped execution left behind
 *   aws doctor                                quotas, instance offerings, published model, schedule,
 *                                             whether the table takes the paced writes at once
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Command } from 'commander';
import { isValidDate, MODEL_VERSION_PATTERN, RUN_DATE_RULE } from '../contract/run-contract.ts';
import { DynamoEmbeddingStore } from '../embeddings/dynamo-store.ts';
import { storeClient } from '../embeddings/store-config.ts';
import { NotFoundError, ValidationError } from '../util/errors.ts';
import { describeStackOutputs, resolveStack, stackOptions } from './aws.ts';
import { cancelRun } from './aws-cancel.ts';
import { doctorLines, runDoctor } from './aws-doctor.ts';
import { printRunStatus } from './aws-status.ts';
import { unlockRun } from './aws-unlock.ts';

const stderr = (line: string) => process.stderr.write(`${line}\n`);

interface RegionFlag {
  readonly region?: string;
}

const regionOf = (flags: RegionFlag) => (flags.region ? { region: flags.region } : {});

function assertDate(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !isValidDate(value)) {
    throw new ValidationError(`--date must be ${RUN_DATE_RULE}, got "${String(value)}"`);
  }
  return value;
}

/** `--watch S`: seconds between progress lines, 5..3600. */
export function watchMsOf(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 5 || seconds > 3600) {
    throw new ValidationError(`--watch must be a whole number of seconds from 5 to 3600, got "${String(value)}"`);
  }
  return seconds * 1000;
}

/** Opens the table's store for the duration of `use`. */
async function withStore<T>(
  tableName: string,
  flags: RegionFlag,
  use: (store: DynamoEmbeddingStore, dynamo: DynamoDBClient) => Promise<T>,
): Promise<T> {
  const dynamo = storeClient({ region: flags.region });
  try {
    return await use(new DynamoEmbeddingStore({ tableName, client: dynamo }), dynamo);
  } finally {
    dynamo.destroy();
  }
}

export function registerAwsOperations(aws: Command): void {
  registerStatus(aws);
  registerCancel(aws);
  registerUnlock(aws);
  registerDoctor(aws);
}

/** `aws status`: the day's execution, its Batch children and progress. */
function registerStatus(aws: Command): void {
  stackOptions(
    aws
      .command('status')
      .description("The day's execution, each Batch child's state (why RUNNABLE ones wait), and a progress line")
      .option('--date <date>', 'run date, YYYY-MM-DD (default: the newest execution)')
      .option('--watch <seconds>', 'then print a progress line every so many seconds until the execution ends'),
  ).action(async (flags) => {
    const date = assertDate(flags.date);
    const watchMs = watchMsOf(flags.watch);
    const { stateMachineArn } = await resolveStack(flags, ['stateMachineArn']);
    const sfn = new SFNClient(regionOf(flags));
    const batch = new BatchClient(regionOf(flags));
    try {
      await printRunStatus({ sfn, batch }, stateMachineArn, date, stderr, watchMs);
    } finally {
      sfn.destroy();
      batch.destroy();
    }
  });
}

/** `aws cancel`: stop the day's execution, its jobs and its lock. */
function registerCancel(aws: Command): void {
  stackOptions(
    aws
      .command('cancel')
      .description(
        "Stop the day's running execution, terminate its Batch jobs and release its run lock (pointer untouched)",
      )
      .requiredOption('--date <date>', 'run date, YYYY-MM-DD')
      .option('--table <name>', 'embedding table (default: the stack output)'),
  ).action(async (flags) => {
    const date = assertDate(flags.date)!;
    const { stateMachineArn, tableName } = await resolveStack(flags, ['stateMachineArn', 'tableName']);
    const sfn = new SFNClient(regionOf(flags));
    const batch = new BatchClient(regionOf(flags));
    try {
      await withStore(tableName, flags, (locks) => cancelRun({ sfn, batch, locks }, stateMachineArn, date, stderr));
    } finally {
      sfn.destroy();
      batch.destroy();
    }
  });
}

/** `aws unlock`: clear a run lock a stopped execution left. */
function registerUnlock(aws: Command): void {
  stackOptions(
    aws
      .command('unlock')
      .description('Clear the run lock a stopped execution left behind (refused while that execution runs)')
      .requiredOption('--date <date>', 'run date, YYYY-MM-DD')
      .option('--model-version <mv>', "the run's model (default: the model of the current pointer)")
      .option('--table <name>', 'embedding table (default: the stack output)'),
  ).action(async (flags) => {
    const date = assertDate(flags.date)!;
    if (flags.modelVersion !== undefined && !MODEL_VERSION_PATTERN.test(flags.modelVersion)) {
      throw new ValidationError(`--model-version must match ${MODEL_VERSION_PATTERN}, got "${flags.modelVersion}"`);
    }
    const { stateMachineArn, tableName } = await resolveStack(flags, ['stateMachineArn', 'tableName']);
    const sfn = new SFNClient(regionOf(flags));
    try {
      await withStore(tableName, flags, async (store) => {
        const modelVersion = flags.modelVersion ?? (await store.getPointer())?.modelVersion;
        if (!modelVersion) {
          throw new ValidationError('nothing is published, so the run lock has no default model: give --model-version');
        }
        await unlockRun({ sfn, locks: store }, stateMachineArn, `${modelVersion}@${date}`, stderr);
      });
    } finally {
      sfn.destroy();
    }
  });
}

/** `aws doctor`: can this account run the stack? */
function registerDoctor(aws: Command): void {
  stackOptions(
    aws
      .command('doctor')
      .description(
        "Check that this account can run the stack: GPU quotas, instance offerings, a published model, the schedule, the table's write warmth",
      )
      .option('--table <name>', 'embedding table (default: the stack output)'),
  ).action(async (flags) => {
    // Every output at once: the optional ones (on-demand queue, schedule) come from the same read.
    const outputs = {
      ...(await describeStackOutputs(flags.stack, flags.region)),
      ...(flags.table ? { tableName: flags.table } : {}),
    };
    const { tableName, jobQueueArn, onDemandJobQueueArn, scheduleName, runWriteUnitsPerSecond } = outputs;
    if (!tableName || !jobQueueArn) {
      throw new NotFoundError(
        `stack ${flags.stack} has no TableName or JobQueueArn output: deploy it first (docs/deploy.md)`,
      );
    }
    const batch = new BatchClient(regionOf(flags));
    const quotas = new ServiceQuotasClient(regionOf(flags));
    const ec2 = new EC2Client(regionOf(flags));
    const scheduler = new SchedulerClient(regionOf(flags));
    try {
      const region = flags.region ?? (await ec2.config.region());
      const checks = await withStore(tableName, flags, (store, dynamo) =>
        runDoctor(
          {
            batch,
            quotas,
            ec2,
            scheduler,
            getPointer: () => store.getPointer(),
            getWarmWriteUnits: async () =>
              (await dynamo.send(new DescribeTableCommand({ TableName: tableName }))).Table?.WarmThroughput
                ?.WriteUnitsPerSecond,
          },
          {
            jobQueueArns: [...new Set([jobQueueArn, ...(onDemandJobQueueArn ? [onDemandJobQueueArn] : [])])],
            ...(scheduleName ? { scheduleName } : {}),
            ...(runWriteUnitsPerSecond ? { runWriteUnitsPerSecond: Number(runWriteUnitsPerSecond) } : {}),
            region,
          },
        ),
      );
      for (const line of doctorLines(checks)) stderr(line);
      if (checks.some((c) => c.level === 'blocker')) process.exitCode = 1;
    } finally {
      for (const client of [batch, quotas, ec2, scheduler]) client.destroy();
    }
  });
}
