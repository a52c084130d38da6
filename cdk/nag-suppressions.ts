/**
 * cdk-nag AwsSolutions acknowledgements. Each names the exact finding it accepts, on the construct
 * it applies to, and why; everything else must pass (test/cdk-nag.test.ts fails on any other
 * finding, and every `npx cdk synth` runs the pack). Wildcards on S3 object ARNs come from the
 * prefix-scoped grants of cdk/permissions.ts and are generated from the same table.
 */
import { Fn, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import type { DailyRun } from './constructs/daily-run.ts';
import type { DataStore } from './constructs/data-store.ts';
import type { EmbedBatch } from './constructs/embed-batch.ts';
import type { LookupApi } from './constructs/lookup-api.ts';
import { ACCESS, type AccessSpec } from './permissions.ts';

export interface Acknowledgement {
  readonly id: string;
  readonly reason: string;
}

function acknowledge(scope: IConstruct, acknowledgements: readonly Acknowledgement[]): void {
  for (const acknowledgement of acknowledgements) Validations.of(scope).acknowledge(acknowledgement);
}

const XRAY_REASON =
  'X-Ray PutTraceSegments/PutTelemetryRecords (and the Step Functions log-delivery actions) support only Resource "*".';

/** One IAM5 finding per object prefix the role may touch: a prefix is the narrowest scope S3 offers for keys named by date and partition. */
function prefixAcknowledgements(bucket: s3.IBucket, spec: AccessSpec, role: string): Acknowledgement[] {
  const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
  const prefixes = new Set([...spec.read, ...spec.write]);
  return [...prefixes].map((prefix) => ({
    id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${prefix}*]`,
    reason: `${role} reads/writes objects under ${prefix} only (keys carry the run date and partition); cdk/permissions.ts`,
  }));
}

/** The constructs whose findings are acknowledged: the stack passes its parts (no import of the stack itself). */
export interface NagTargets {
  readonly stack: Stack;
  readonly data: DataStore;
  readonly dailyRun: DailyRun;
  readonly batch: EmbedBatch;
  readonly lookup: LookupApi;
  readonly deadLetters: sqs.IQueue;
}

export function addNagSuppressions(targets: NagTargets): void {
  acknowledgeFunctions(targets);
  acknowledgeBatch(targets);
  acknowledgeStateMachine(targets);
  acknowledge(targets.deadLetters, [
    {
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the schedule and marker-rule targets (cdk-nag recognizes only SQS redrive); it alarms when not empty.',
    },
  ]);
  acknowledgeLookupApi(targets.lookup);
}

/** Each Lambda's role (its S3 prefixes, X-Ray) and its pinned runtime. */
function acknowledgeFunctions({ data, dailyRun, lookup }: NagTargets): void {
  for (const [fn, spec, name] of [
    [dailyRun.planFunction, ACCESS.plan, 'the plan function'],
    [dailyRun.partitionFunction, ACCESS.partition, 'the partition function'],
    [dailyRun.publishFunction, ACCESS.publish, 'the publish function'],
    [lookup.function, ACCESS.lookup, 'the lookup function'],
  ] as const) {
    acknowledge(fn.role, [
      ...prefixAcknowledgements(data.bucket, spec, name),
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: XRAY_REASON },
    ]);
    acknowledge(fn.fn, [
      {
        id: 'AwsSolutions-L1',
        reason:
          'Node.js 22 is pinned on purpose: the same major as the Batch container and the supported LTS the code is tested on.',
      },
    ]);
  }
}

/** The embed job's prefixes, the execution role's ECR token, the ECS instance role of the compute environments. */
function acknowledgeBatch({ data, batch }: NagTargets): void {
  acknowledge(batch.jobRole, prefixAcknowledgements(data.bucket, ACCESS.embed, 'the embed job'));
  acknowledge(batch.container, [
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'The execution role needs ecr:GetAuthorizationToken, which supports only Resource "*"; image pulls are scoped to the repository.',
    },
  ]);
  for (const environment of batch.computeEnvironments) {
    acknowledge(environment, [
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]',
        reason:
          'The ECS container-instance role Batch requires for its managed EC2 instances (ECS agent registration); it grants no data access.',
      },
    ]);
  }
}

/** The state machine's role: function versions, Batch jobs, the slice list and its own child executions. */
function acknowledgeStateMachine({ stack, data, dailyRun }: NagTargets): void {
  const functionVersions = [dailyRun.planFunction, dailyRun.partitionFunction, dailyRun.publishFunction].map((fn) => ({
    id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(fn.fn.node.defaultChild as never)}.Arn>:*]`,
    reason:
      'lambda:InvokeFunction on the function and its versions/aliases (":*"), as the Step Functions Lambda integration grants.',
  }));
  // cdk-nag prints an intrinsic inside an ARN as its JSON.
  const machineName = JSON.stringify(stack.resolve(Fn.select(6, Fn.split(':', dailyRun.stateMachine.stateMachineArn))));
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const partition = Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition;
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  acknowledge(dailyRun.stateMachine, [
    ...functionVersions,
    { id: 'AwsSolutions-IAM5[Resource::*]', reason: XRAY_REASON },
    {
      id: `AwsSolutions-IAM5[Resource::arn:${partition}:batch:${region}:${account}:job/*]`,
      reason:
        'batch:TerminateJob on the jobs the .sync task started: their ids are known only at run time (AWS docs for submitJob.sync).',
    },
    {
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(data.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/runs/*/slices.json]`,
      reason:
        "The Distributed Map reads each run's slice list, runs/<model>/dt=<day>/slices.json, and no other object.",
    },
    ...['', '/*'].map((suffix) => ({
      id: `AwsSolutions-IAM5[Resource::arn:${partition}:states:${region}:${account}:execution:${machineName}${suffix}:*]`,
      reason:
        "The Distributed Map starts, describes and stops this state machine's child executions, whose names are made at run time.",
    })),
  ]);
}

/** The optional REST API: IAM auth instead of Cognito, no WAF, the account-level logging role. */
function acknowledgeLookupApi(lookup: LookupApi): void {
  if (!lookup.restApi) return;
  acknowledge(lookup.restApi, [
    {
      id: 'AwsSolutions-COG4',
      reason:
        'The lookup API is for AWS principals of downstream services: every method requires IAM (SigV4) auth instead of Cognito.',
    },
    {
      id: 'AwsSolutions-APIG3',
      reason:
        'IAM auth admits only signed requests from granted principals; a WAF web ACL is left to the account owner (cost).',
    },
    {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'The account-level role API Gateway needs to write execution logs; it is AWS-managed and grants logs only.',
    },
  ]);
}
