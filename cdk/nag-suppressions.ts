/**
 * cdk-nag AwsSolutions acknowledgements. Each names the exact finding it accepts, on the construct
 * it applies to, and why; everything else must pass (test/cdk-nag.test.ts fails on any other
 * finding, and every `npx cdk synth` runs the pack). Wildcards on S3 object ARNs come from the
 * prefix-scoped grants of cdk/permissions.ts and are generated from the same table.
 */
import { Fn, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { ACCESS, type AccessSpec } from './permissions.ts';
import type { PinnerFormerStack } from './pinnerformer-stack.ts';

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

export function addNagSuppressions(stack: PinnerFormerStack): void {
  const { bucket } = stack.data;
  const { dailyRun, batch, lookup } = stack;

  for (const [fn, spec, name] of [
    [dailyRun.planFunction, ACCESS.plan, 'the plan function'],
    [dailyRun.partitionFunction, ACCESS.partition, 'the partition function'],
    [dailyRun.publishFunction, ACCESS.publish, 'the publish function'],
    [lookup.function, ACCESS.lookup, 'the lookup function'],
  ] as const) {
    acknowledge(fn.role, [
      ...prefixAcknowledgements(bucket, spec, name),
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

  acknowledge(batch.jobRole, prefixAcknowledgements(bucket, ACCESS.embed, 'the embed job'));
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
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(bucket.node.defaultChild as s3.CfnBucket)}.Arn>/runs/*/slices.json]`,
      reason:
        "The Distributed Map reads each run's slice list, runs/<model>/dt=<day>/slices.json, and no other object.",
    },
    ...['', '/*'].map((suffix) => ({
      id: `AwsSolutions-IAM5[Resource::arn:${partition}:states:${region}:${account}:execution:${machineName}${suffix}:*]`,
      reason:
        "The Distributed Map starts, describes and stops this state machine's child executions, whose names are made at run time.",
    })),
  ]);
  acknowledge(stack.deadLetters, [
    {
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the schedule and marker-rule targets (cdk-nag recognizes only SQS redrive); it alarms when not empty.',
    },
  ]);

  if (lookup.restApi) {
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
}
