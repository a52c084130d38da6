/**
 * `pinnerformer aws ...`: operate a deployed stack (docs/deploy.md).
 *   aws run --date D [--backfill]          one run of the daily state machine
 *   aws run --from D1 --to D2 [--backfill]  one run per day, in order, each awaited
 *   aws deploy-model DIR [--date D]        upload + record a model; a new model starts its backfill
 *   aws rollback --to MV@D                 move the pointer back to an earlier published version
 *   aws status | cancel | unlock | doctor    operate a run (src/cli/aws-operate.ts)
 * Stack outputs (bucket, table, state machine) come from CloudFormation, or from flags.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Command } from 'commander';
import { type RunRequest, RunRequestSchema } from '../contract/messages.ts';
import { isValidDate, parseWith, RUN_DATE_RULE } from '../contract/run-contract.ts';
import { DEFAULT_STACK_NAME, STACK_OUTPUTS, type StackOutputs } from '../contract/stack-outputs.ts';
import { storeClient } from '../embeddings/store-config.ts';
import { parseVersionId } from '../embeddings/table-schema.ts';
import { DynamoVersionReader } from '../embeddings/version-reader.ts';
import { DynamoVersionRegistry } from '../embeddings/version-registry.ts';
import { deployModel } from '../pipeline/model.ts';
import { openObjectStore } from '../storage/open-object-store.ts';
import { NotFoundError, PinnerFormerError, ValidationError } from '../util/errors.ts';

/** Longest date range one command starts (a year of backfill, with slack). */
export const MAX_RANGE_DAYS = 400;

export interface RunFlags {
  readonly date?: string;
  readonly from?: string;
  readonly to?: string;
  readonly backfill?: boolean;
  readonly modelVersion?: string;
  readonly wait?: boolean;
}

export interface RunPlan {
  readonly requests: readonly RunRequest[];
  /** Ranges always wait: day D+1 builds on day D's snapshot. */
  readonly wait: boolean;
}

function assertDate(flag: string, value: string): void {
  if (!isValidDate(value)) throw new ValidationError(`--${flag} must be ${RUN_DATE_RULE}, got "${value}"`);
}

function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let ms = Date.parse(`${from}T00:00:00Z`); ms <= Date.parse(`${to}T00:00:00Z`); ms += 86_400_000) {
    days.push(new Date(ms).toISOString().slice(0, 10));
  }
  return days;
}

/** Validates the run flags into the execution inputs to start. */
export function planRuns(flags: RunFlags): RunPlan {
  const hasRange = flags.from !== undefined || flags.to !== undefined;
  if (flags.date !== undefined && hasRange) throw new ValidationError('give either --date or --from/--to, not both');
  if (flags.date === undefined && !hasRange) throw new ValidationError('give --date D, or --from D1 --to D2');
  let dates: string[];
  if (flags.date !== undefined) {
    assertDate('date', flags.date);
    dates = [flags.date];
  } else {
    if (flags.from === undefined || flags.to === undefined) throw new ValidationError('--from and --to go together');
    assertDate('from', flags.from);
    assertDate('to', flags.to);
    if (flags.from > flags.to) throw new ValidationError(`--from ${flags.from} is after --to ${flags.to}`);
    dates = daysBetween(flags.from, flags.to);
    if (dates.length > MAX_RANGE_DAYS) {
      throw new ValidationError(`the range spans ${dates.length} days; at most ${MAX_RANGE_DAYS} per command`);
    }
  }
  const requests = dates.map((date) => {
    const request = {
      date,
      ...(flags.backfill ? { backfill: true } : {}),
      ...(flags.modelVersion === undefined ? {} : { modelVersion: flags.modelVersion }),
    };
    return parseWith(RunRequestSchema, request, 'run');
  });
  return { requests, wait: dates.length > 1 || flags.wait === true };
}

/** Execution names: unique, readable, within Step Functions' 80-character [A-Za-z0-9-_] rule. */
export function executionName(request: RunRequest, nowMs: number): string {
  return `pf-${request.date}${request.backfill ? '-backfill' : ''}-${nowMs.toString(36)}`;
}

export interface StackFlags {
  readonly stack: string;
  readonly region?: string;
  readonly bucket?: string;
  readonly table?: string;
  readonly stateMachineArn?: string;
}

export type OutputReader = (stackName: string, region?: string) => Promise<StackOutputs>;

/** Reads the stack outputs the CLI needs from CloudFormation. */
export const describeStackOutputs: OutputReader = async (stackName, region) => {
  const client = new CloudFormationClient(region ? { region } : {});
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = Stacks?.[0]?.Outputs ?? [];
    const found: StackOutputs = {};
    for (const [key, name] of Object.entries(STACK_OUTPUTS) as [keyof StackOutputs, string][]) {
      const value = outputs.find((output) => output.OutputKey === name)?.OutputValue;
      if (value) found[key] = value;
    }
    return found;
  } catch (error) {
    throw new NotFoundError(
      `cannot read the outputs of stack ${stackName}: ${(error as Error).message}. Deploy it (docs/deploy.md) or pass --bucket/--table/--state-machine-arn`,
      { stackName },
      { cause: error },
    );
  } finally {
    client.destroy();
  }
};

/** Outputs from flags first; CloudFormation only when a needed one is missing. */
export async function resolveStack(
  flags: StackFlags,
  needs: readonly (keyof StackOutputs)[],
  read: OutputReader = describeStackOutputs,
): Promise<Required<Pick<StackOutputs, (typeof needs)[number]>>> {
  const given: StackOutputs = {
    ...(flags.bucket ? { bucketName: flags.bucket } : {}),
    ...(flags.table ? { tableName: flags.table } : {}),
    ...(flags.stateMachineArn ? { stateMachineArn: flags.stateMachineArn } : {}),
  };
  if (
    flags.stateMachineArn &&
    !/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w-]+$/.test(flags.stateMachineArn)
  ) {
    throw new ValidationError(`--state-machine-arn is not a state machine ARN: ${flags.stateMachineArn}`);
  }
  const missing = needs.filter((key) => !given[key]);
  const outputs = missing.length === 0 ? given : { ...(await read(flags.stack, flags.region)), ...given };
  for (const key of needs) {
    if (!outputs[key]) throw new NotFoundError(`stack ${flags.stack} has no ${STACK_OUTPUTS[key]} output`);
  }
  return outputs as Required<StackOutputs>;
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);

async function waitForExecution(sfn: SFNClient, executionArn: string, pollMs: number): Promise<string> {
  for (;;) {
    const { status } = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (status && TERMINAL.has(status)) return status;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Starts the runs in order; with `wait`, each must succeed before the next starts. */
export async function startRuns(
  sfn: SFNClient,
  stateMachineArn: string,
  plan: RunPlan,
  log: (line: string) => void,
  pollMs = 15_000,
): Promise<void> {
  for (const request of plan.requests) {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn,
        name: executionName(request, Date.now()),
        input: JSON.stringify(request),
      }),
    );
    log(`started ${request.date}${request.backfill ? ' (backfill)' : ''}: ${executionArn}`);
    if (!plan.wait || !executionArn) continue;
    const status = await waitForExecution(sfn, executionArn, pollMs);
    log(`${request.date}: ${status}`);
    if (status !== 'SUCCEEDED') {
      throw new PinnerFormerError(
        'RUN_FAILED',
        `the run for ${request.date} ended ${status}; later days were not started`,
        {
          executionArn,
        },
      );
    }
  }
}

function yesterdayUtc(): string {
  return new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
}

const stderr = (line: string) => process.stderr.write(`${line}\n`);

/** The flags every `aws` command shares: the stack to read outputs from, the region, the state machine. */
export function stackOptions(command: Command): Command {
  return command
    .option('--stack <name>', 'CloudFormation stack to read outputs from', DEFAULT_STACK_NAME)
    .option('--region <region>', 'AWS region (default: the SDK default chain)')
    .option('--state-machine-arn <arn>', 'daily-run state machine (default: the stack output)');
}

/** Adds the `aws` group with run, deploy-model and rollback; answers the group for the operator commands. */
export function registerAws(program: Command): Command {
  const aws = program.command('aws').description('Operate the deployed AWS stack (docs/deploy.md)');
  registerRun(aws);
  registerDeployModel(aws);
  registerRollback(aws);
  return aws;
}

/** `aws run`: start the run of a date, or of each date of a range. */
function registerRun(aws: Command): void {
  stackOptions(
    aws
      .command('run')
      .description('Start the daily run for one date, or for each date of a range in order')
      .option('--date <date>', 'run date, YYYY-MM-DD')
      .option('--from <date>', 'first date of a range (runs are awaited one by one)')
      .option('--to <date>', 'last date of a range')
      .option('--backfill', 're-embed every user with a sequence, not only the active/stale ones')
      .option('--model-version <mv>', 'model to run (default: the model of the current pointer)')
      .option('--wait', 'wait for a single run to finish'),
  ).action(async (flags) => {
    const plan = planRuns(flags);
    const { stateMachineArn } = await resolveStack(flags, ['stateMachineArn']);
    const sfn = new SFNClient(flags.region ? { region: flags.region } : {});
    try {
      await startRuns(sfn, stateMachineArn, plan, stderr);
    } finally {
      sfn.destroy();
    }
  });
}

/** `aws deploy-model`: upload and record a model, then start its backfill. */
function registerDeployModel(aws: Command): void {
  stackOptions(
    aws
      .command('deploy-model')
      .argument('<dir>', 'model directory (docs/model-interface.md)')
      .description('Upload and record a model; when it is not the live model, start its backfill run')
      .option('--bucket <name>', 'data bucket (default: the stack output)')
      .option('--table <name>', 'embedding table (default: the stack output)')
      .option('--date <date>', 'date of the backfill run (default: yesterday, UTC)')
      .option('--no-backfill', 'only upload and record; start no run'),
  ).action(async (dir: string, flags) => {
    const date = flags.date ?? yesterdayUtc();
    if (!isValidDate(date)) throw new ValidationError(`--date must be ${RUN_DATE_RULE}, got "${flags.date}"`);
    const needs = flags.backfill
      ? (['bucketName', 'tableName', 'stateMachineArn'] as const)
      : (['bucketName', 'tableName'] as const);
    const outputs = await resolveStack(flags, needs);
    const dynamo = storeClient({ region: flags.region });
    const versions = new DynamoVersionReader({ tableName: outputs.tableName, client: dynamo });
    const objects = openObjectStore(`s3://${outputs.bucketName}`, {
      conditionalPuts: 'native',
      ...(flags.region ? { s3: { region: flags.region } } : {}),
    });
    try {
      const { modelVersion } = await deployModel({ objects, log: stderr }, dir);
      stderr(`model ${modelVersion} is recorded under s3://${outputs.bucketName}/models/${modelVersion}/`);
      const pointer = await versions.getPointer();
      if (pointer?.modelVersion === modelVersion) {
        stderr(`model ${modelVersion} is already live (pointer ${pointer.version}); no backfill needed`);
        return;
      }
      if (!flags.backfill) {
        stderr(`not started: run \`pinnerformer aws run --date ${date} --model-version ${modelVersion} --backfill\``);
        return;
      }
      // A new model has no embeddings: its first run embeds every user (docs/versioning.md).
      const plan = planRuns({ date, modelVersion, backfill: true });
      const sfn = new SFNClient(flags.region ? { region: flags.region } : {});
      try {
        await startRuns(sfn, (outputs as { stateMachineArn: string }).stateMachineArn, plan, stderr);
      } finally {
        sfn.destroy();
      }
    } finally {
      dynamo.destroy();
    }
  });
}

/** `aws rollback`: move the pointer back to a retained version. */
function registerRollback(aws: Command): void {
  stackOptions(
    aws
      .command('rollback')
      .description('Move the pointer back to an earlier published, retained version (docs/versioning.md)')
      .requiredOption('--to <version>', 'version id, modelVersion@YYYY-MM-DD')
      .option('--table <name>', 'embedding table (default: the stack output)'),
  ).action(async (flags) => {
    try {
      parseVersionId(flags.to);
    } catch (error) {
      throw new ValidationError(`--to must be modelVersion@YYYY-MM-DD, got "${flags.to}"`, undefined, { cause: error });
    }
    const { tableName } = await resolveStack(flags, ['tableName']);
    const dynamo = storeClient({ region: flags.region });
    try {
      const versions = new DynamoVersionRegistry({ tableName, client: dynamo });
      const before = await versions.getPointer();
      const pointer = await versions.rollback(flags.to, before?.seq);
      stderr(`pointer: ${before?.version ?? '(none)'} -> ${pointer.version}`);
    } finally {
      dynamo.destroy();
    }
  });
}
