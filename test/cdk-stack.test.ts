/**
 * The synthesized stack, resource by resource: data, orchestration, Batch, lookup, operations.
 * Lambda bundling is skipped here (test/cdk-helpers.ts); `make synth` bundles for real.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../batch-container/worker.ts';
import {
  COMPACT_DELTA_SHARE,
  COMPACT_EVERY_DAYS,
  EXIT_CODES,
  METRIC_SERVICES,
  RUN_METRICS,
} from '../src/contract/run-contract.ts';
import { STACK_OUTPUTS } from '../src/contract/stack-outputs.ts';
import { LOCK_PK, TABLE_KEYS, TTL_ATTRIBUTE } from '../src/embeddings/table-schema.ts';
import { synthStack } from './cdk-helpers.ts';

type Resource = { Properties: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string };

/** The state machine definition with its CloudFormation tokens replaced by "X". */
function stateMachineDefinition(template: Template): {
  StartAt: string;
  States: Record<string, Record<string, unknown>>;
} {
  const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as Resource[];
  const parts = (machine!.Properties.DefinitionString as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
  return JSON.parse(parts.map((part) => (typeof part === 'string' ? part : 'X')).join(''));
}

/** The embed job's resource requirements by type. */
function jobResources(template: Template): Record<string, string> {
  const [job] = Object.values(template.findResources('AWS::Batch::JobDefinition')) as Resource[];
  const requirements = (
    job!.Properties.ContainerProperties as { ResourceRequirements: { Type: string; Value: string }[] }
  ).ResourceRequirements;
  return Object.fromEntries(requirements.map((r) => [r.Type, r.Value]));
}

describe('the default stack', () => {
  let template: Template;
  beforeAll(() => {
    template = synthStack().template;
  });

  it('keeps data in an encrypted, TLS-only, private, versioned bucket with lifecycle rules', () => {
    // Assess: the data bucket (the one with lifecycle rules for the run layout)
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'work/', ExpirationInDays: 7, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'runs/', ExpirationInDays: 7 }),
          Match.objectLike({ Prefix: 'sequences/', ExpirationInDays: 35 }),
          Match.objectLike({ Prefix: 'embeddings/', ExpirationInDays: 35 }),
        ]),
      },
    });
    const dataBuckets = template.findResources('AWS::S3::Bucket', {
      Properties: { LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'work/' })]) } },
    });
    expect(Object.values(dataBuckets).map((bucket) => (bucket as Resource).DeletionPolicy)).toEqual(['Retain']);
  });

  it('defines the table from the shared schema: on-demand, PITR, TTL, deletion protection, retained', () => {
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: TABLE_KEYS.partitionKey, KeyType: 'HASH' },
          { AttributeName: TABLE_KEYS.sortKey, KeyType: 'RANGE' },
        ],
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
        Replicas: [
          Match.objectLike({
            DeletionProtectionEnabled: true,
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          }),
        ],
      },
    });
  });

  it('pre-warms the table for a first backfill only when asked (a one-time charge)', () => {
    const warmOf = (t: Template) =>
      (Object.values(t.findResources('AWS::DynamoDB::GlobalTable'))[0] as Resource).Properties.WarmThroughput;
    expect(warmOf(template)).toBeUndefined();
    const warmed = synthStack({ tableWarmWriteUnitsPerSecond: 32_000 }).template;
    expect(warmOf(warmed)).toEqual({ WriteUnitsPerSecond: 32_000 });
  });

  it('starts the state machine daily from an EventBridge schedule with the scheduled time as input', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 3 * * ? *)',
      // deployed off until a model is deployed and a backfill has published (docs/deploy.md)
      State: 'DISABLED',
      Target: Match.objectLike({
        Arn: { Ref: Match.stringLikeRegexp('DailyRunStateMachine') },
        Input: JSON.stringify({ scheduledTime: '<aws.scheduler.scheduled-time>' }),
        DeadLetterConfig: Match.objectLike({ Arn: Match.anyValue() }),
        RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 3 }),
      }),
    });
  });

  it('runs plan -> Distributed Map of partition Lambdas -> Batch array job (.sync, Spot then on-demand) -> publish, with a catch on every step', () => {
    // Act
    const definition = stateMachineDefinition(template);
    const states = definition.States;
    // Assess: the chain
    expect(definition.StartAt).toBe('PlanRun');
    expect(states.PlanRun!.Next).toBe('PartitionSlices');
    expect(states.PartitionSlices!.Type).toBe('Map');
    expect(states.PartitionSlices!.ItemProcessor).toMatchObject({ ProcessorConfig: { Mode: 'DISTRIBUTED' } });
    expect(states.PartitionSlices!.ItemsPath).toBeUndefined();
    expect(states.PartitionSlices!.Next).toBe('EmbedPartitions');
    expect(states.EmbedPartitions!.Resource).toMatch(/:states:::batch:submitJob\.sync$/);
    // the array size comes from the plan (the run manifest), not from a deploy-time constant
    expect((states.EmbedPartitions!.Parameters as { ArrayProperties: unknown }).ArrayProperties).toEqual({
      'Size.$': '$.arraySize',
    });
    expect(states.EmbedPartitions!.Next).toBe('PublishRun');
    expect(states.EmbedPartitionsOnDemand!.Next).toBe('PublishRun');
    expect(states.PublishRun!.Next).toBe('Published?');
    // every work step retries something and catches everything into the failure path; the Spot
    // attempt's failures go to the one on-demand attempt first
    for (const name of ['PlanRun', 'PartitionSlices', 'EmbedPartitionsOnDemand', 'PublishRun']) {
      expect(states[name]!.Catch, name).toEqual([
        expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'ReleaseLockOnFailure' }),
      ]);
    }
    expect(states.EmbedPartitions!.Catch).toEqual([
      expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'EmbedPartitionsOnDemand' }),
    ]);
    for (const name of ['EmbedPartitions', 'EmbedPartitionsOnDemand', 'PublishRun'])
      expect(states[name]!.Retry, name).toHaveLength(1);
    // the plan also retries a day whose events have not arrived (see cdk-deploy-readiness)
    expect(states.PlanRun!.Retry).toHaveLength(2);
    const inner = (states.PartitionSlices!.ItemProcessor as { States: Record<string, { Retry: unknown[] }> }).States;
    expect(inner.PartitionSlice!.Retry[0]).toMatchObject({ ErrorEquals: expect.arrayContaining(['TransientError']) });
    // bad input is not retried: ValidationError is in no retry list
    expect(JSON.stringify(definition)).not.toContain('"ValidationError"');
    // failure path: release our lock, notify SNS, fail; publish (the pointer move) is not on it
    expect(states.ReleaseLockOnFailure!.Next).toBe('NotifyFailure');
    expect(states.NotifyFailure!.Resource).toMatch(/:states:::sns:publish$/);
    expect(states.NotifyFailure!.Next).toBe('RunFailed');
    expect(states.RunFailed!.Type).toBe('Fail');
    // a refusal by the gate also notifies and fails
    const choice = states['Published?'] as { Choices: { Next: string }[]; Default: string };
    expect(choice.Choices[0]!.Next).toBe('ReleaseLock');
    expect(choice.Default).toBe('ReleaseLockRefused');
    expect(states.ReleaseLockRefused!.Next).toBe('NotifyRefused');
  });

  it('releases only the run lock this execution holds', () => {
    const release = stateMachineDefinition(template).States.ReleaseLockOnFailure!;
    expect(release.Resource).toMatch(/:states:::dynamodb:deleteItem$/);
    expect(release.Parameters).toMatchObject({
      Key: { pk: { S: LOCK_PK }, sk: { 'S.$': "States.Format('{}@{}', $.modelVersion, $.date)" } },
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeValues: { ':owner': { 'S.$': '$$.Execution.Name' } },
    });
  });

  it("passes the run date, model and the plan's partition count to every Batch child", () => {
    for (const name of ['EmbedPartitions', 'EmbedPartitionsOnDemand']) {
      const embed = stateMachineDefinition(template).States[name]!;
      expect((embed.Parameters as { ContainerOverrides: unknown }).ContainerOverrides).toEqual({
        Environment: [
          { Name: 'RUN_DATE', 'Value.$': '$.date' },
          { Name: 'MODEL_VERSION', 'Value.$': '$.modelVersion' },
          { Name: 'PARTITIONS', 'Value.$': '$.partitionsText' },
        ],
      });
    }
  });

  it('logs and traces the state machine', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
    });
  });

  it('has GPU compute on Spot and on demand, one queue each, scaling to zero, in private subnets', () => {
    const environments = Object.values(template.findResources('AWS::Batch::ComputeEnvironment')) as Resource[];
    expect(environments).toHaveLength(2);
    const resources = environments.map((e) => e.Properties.ComputeResources as Record<string, unknown>);
    expect(resources.map((r) => r.Type).sort()).toEqual(['EC2', 'SPOT']);
    for (const r of resources) {
      expect(r.MinvCpus).toBe(0);
      expect(r.MaxvCpus).toBe(64);
      expect(r.InstanceTypes).toEqual(['g5', 'g6']);
      expect(r.Ec2Configuration).toEqual([{ ImageType: 'ECS_AL2023_NVIDIA' }]);
      expect((r.Subnets as unknown[]).length).toBeGreaterThan(0);
    }
    // Batch moves a job to a queue's next environment only when the first is full, never when
    // Spot has no capacity: the fallback is the state machine's second submit, to its own queue
    template.resourceCountIs('AWS::Batch::JobQueue', 2);
    for (const name of ['SpotGpu', 'OnDemandGpu']) {
      template.hasResourceProperties('AWS::Batch::JobQueue', {
        ComputeEnvironmentOrder: [
          { ComputeEnvironment: { 'Fn::GetAtt': [Match.stringLikeRegexp(name), 'ComputeEnvironmentArn'] }, Order: 1 },
        ],
      });
    }
    // the subnets are the VPC's private ones (with NAT egress), not its public ones
    const subnetRefs = JSON.stringify(resources[0]!.Subnets);
    expect(subnetRefs).toMatch(/workersSubnet/);
    expect(subnetRefs).not.toMatch(/publicSubnet/);
  });

  it('asks for one GPU, retries host failures and Spot reclaims but exits on application errors, with a timeout', () => {
    template.hasResourceProperties('AWS::Batch::JobDefinition', {
      Type: 'container',
      ContainerProperties: Match.objectLike({
        ResourceRequirements: Match.arrayWith([{ Type: 'GPU', Value: '1' }]),
        Environment: Match.arrayWith([
          { Name: 'EXECUTION_PROVIDER', Value: 'cuda' },
          { Name: 'PARTITIONS_PER_JOB', Value: '2' },
        ]),
      }),
      RetryStrategy: {
        Attempts: 3,
        EvaluateOnExit: [
          { Action: 'RETRY', OnStatusReason: 'Host EC2*' },
          { Action: 'RETRY', OnReason: 'CannotPullContainerError:*' },
          { Action: 'RETRY', OnExitCode: String(EXIT_CODES.transient) },
          { Action: 'EXIT', OnExitCode: '*' },
        ],
      },
      Timeout: { AttemptDurationSeconds: 7200 },
    });
    // the worker's transient exit code is the one the job definition retries
    expect(EXIT.transient).toBe(EXIT_CODES.transient);
    // PARTITIONS is per run (a container override from the plan), not fixed in the definition
    const [job] = Object.values(template.findResources('AWS::Batch::JobDefinition')) as Resource[];
    const environment = (job!.Properties.ContainerProperties as { Environment: { Name: string }[] }).Environment;
    expect(environment.map((variable) => variable.Name)).not.toContain('PARTITIONS');
    // two partitions per child by default: 2 × (4 vCPUs, 14 GiB) beside the one GPU
    expect(jobResources(template)).toEqual({ GPU: '1', VCPU: '8', MEMORY: String(28 * 1024) });
  });

  it.each([
    // [partitions, per job, vCPUs, MiB]
    [16, 1, 4, 14 * 1024],
    [10, 4, 16, 56 * 1024],
  ])(
    'with %i partitions, %i per child: children of %i vCPUs and %i MiB, told their share',
    (partitions, perJob, vcpus, mib) => {
      // Act
      const synthesized = synthStack({ partitions, partitionsPerJob: perJob }).template;
      // Assess: the job's resources follow, the plan is told the share (it sizes the array), and so is the worker
      expect(jobResources(synthesized)).toEqual({ GPU: '1', VCPU: String(vcpus), MEMORY: String(mib) });
      synthesized.hasResourceProperties('AWS::Batch::JobDefinition', {
        ContainerProperties: Match.objectLike({
          Environment: Match.arrayWith([{ Name: 'PARTITIONS_PER_JOB', Value: String(perJob) }]),
        }),
      });
      synthesized.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            POWERTOOLS_SERVICE_NAME: 'plan',
            PARTITIONS: String(partitions),
            PARTITIONS_PER_JOB: String(perJob),
          }),
        },
      });
    },
  );

  it.each([
    // [maxVcpus, per job, run write units/s (undefined: the default), lanes at once, pace per lane]
    [64, 2, undefined, 16, 2000], // the defaults: 8 children of 8 vCPUs, 32,000 WRU/s
    [256, 4, 64_000, 64, 1000],
    [100, 4, undefined, 24, 1333], // 6 whole children of 16 vCPUs within 100
  ])(
    'with maxVcpus %i and %i lanes per child (run budget %s), %i lanes at once are paced to %i WRU/s each',
    (maxVcpus, perJob, runWriteUnitsPerSecond, lanes, pace) => {
      const config = {
        partitions: 32,
        partitionsPerJob: perJob,
        maxVcpus,
        ...(runWriteUnitsPerSecond === undefined ? {} : { runWriteUnitsPerSecond }),
      };
      const synthesized = synthStack(config).template;
      synthesized.hasResourceProperties('AWS::Batch::JobDefinition', {
        ContainerProperties: Match.objectLike({
          Environment: Match.arrayWith([{ Name: 'WRITE_UNITS_PER_SECOND_PER_LANE', Value: String(pace) }]),
        }),
      });
      // together the lanes stay within the run's budget, which `aws doctor` reads from the outputs
      expect(pace * lanes).toBeLessThanOrEqual(runWriteUnitsPerSecond ?? 32_000);
      synthesized.hasOutput('RunWriteUnitsPerSecond', { Value: String(runWriteUnitsPerSecond ?? 32_000) });
    },
  );

  it('runs the write policy: the plan gets the threshold and hands it to the Batch children in the manifest', () => {
    const variablesOf = (t: Template, service: string) =>
      (Object.values(t.findResources('AWS::Lambda::Function')) as Resource[])
        .map((fn) => (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables)
        .find((variables) => variables.POWERTOOLS_SERVICE_NAME === service)!;
    // Assess: by default the plan runs the policy at the measured threshold; no other stage is told it
    expect(variablesOf(template, 'plan').WRITE_SKIP_COSINE).toBe('0.95');
    for (const service of ['partition', 'publish', 'lookup']) {
      expect(variablesOf(template, service).WRITE_SKIP_COSINE, service).toBeUndefined();
    }
    const job = Object.values(template.findResources('AWS::Batch::JobDefinition'))[0] as Resource;
    const jobEnv = (job.Properties.ContainerProperties as { Environment: { Name: string }[] }).Environment;
    expect(jobEnv.map((v) => v.Name)).not.toContain('WRITE_SKIP_COSINE');
    // a configured threshold, and `off`
    expect(variablesOf(synthStack({ writeSkipCosine: 0.9 }).template, 'plan').WRITE_SKIP_COSINE).toBe('0.9');
    expect(variablesOf(synthStack({ writeSkipCosine: false }).template, 'plan').WRITE_SKIP_COSINE).toBeUndefined();
  });

  it('runs compaction as configured: the plan gets COMPACT_EVERY_DAYS and COMPACT_DELTA_SHARE, with the contract defaults', () => {
    // Assess: the plan function's environment in the template, and no other stage's
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'plan',
          COMPACT_EVERY_DAYS: String(COMPACT_EVERY_DAYS.default),
          COMPACT_DELTA_SHARE: String(COMPACT_DELTA_SHARE.default),
        }),
      },
    });
    for (const service of ['partition', 'publish', 'lookup']) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: service, COMPACT_EVERY_DAYS: Match.absent() }),
        },
      });
    }
    // configured values reach the plan
    synthStack({ compactEveryDays: 3, compactDeltaShare: 0.25 }).template.hasResourceProperties(
      'AWS::Lambda::Function',
      {
        Environment: {
          Variables: Match.objectLike({
            POWERTOOLS_SERVICE_NAME: 'plan',
            COMPACT_EVERY_DAYS: '3',
            COMPACT_DELTA_SHARE: '0.25',
          }),
        },
      },
    );
  });

  it('bundles every Lambda for Node 22 with tracing, JSON logs and Powertools settings', () => {
    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as Resource[];
    expect(functions).toHaveLength(4);
    for (const fn of functions) {
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Properties.LoggingConfig).toMatchObject({ LogFormat: 'JSON' });
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables.POWERTOOLS_METRICS_NAMESPACE).toBe('PinnerFormer');
      expect(variables.POWERTOOLS_SERVICE_NAME).toEqual(expect.any(String));
    }
    // the alarms' `service` dimensions are the services that emit: each function's and the Batch job's
    const job = Object.values(template.findResources('AWS::Batch::JobDefinition'))[0] as Resource;
    const jobEnv = (job.Properties.ContainerProperties as { Environment: { Name: string; Value: string }[] })
      .Environment;
    const services = new Set(
      [
        ...functions.map((fn) => (fn.Properties.Environment as { Variables: Record<string, string> }).Variables),
        Object.fromEntries(jobEnv.map((v) => [v.Name, v.Value])),
      ].map((variables) => variables.POWERTOOLS_SERVICE_NAME),
    );
    expect(services).toEqual(new Set(Object.values(METRIC_SERVICES)));
    for (const metric of Object.values(RUN_METRICS)) expect(services).toContain(metric.service);
    // every function is invoked synchronously (Step Functions, the Function URL): no DLQ that could never fire
    const withDlq = functions.filter((fn) => fn.Properties.DeadLetterConfig !== undefined);
    expect(withDlq).toHaveLength(0);
  });

  it('serves lookups through a Function URL with AWS_IAM auth on the live alias', () => {
    template.resourceCountIs('AWS::Lambda::Url', 1);
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      Qualifier: 'live',
    });
    template.resourceCountIs('AWS::ApiGateway::RestApi', 0);
  });

  it('has the alarms of the runbook, each notifying the alerts topic, and a dashboard', () => {
    const alarms = template.findResources('AWS::CloudWatch::Alarm');
    const descriptions = Object.values(alarms).map((a) => String((a as Resource).Properties.AlarmDescription));
    for (const expected of [
      /run failed/i,
      /partitions .* fail/i,
      /26 hours/,
      /lookup function failed/i,
      /p99/,
      /throttles/i,
    ]) {
      expect(
        descriptions.some((d) => expected.test(d)),
        String(expected),
      ).toBe(true);
    }
    for (const alarm of Object.values(alarms)) {
      expect((alarm as Resource).Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^Alerts/) }]);
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp('26 hours'),
      Period: 3600,
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      MetricName: 'RunPublished',
      Namespace: 'PinnerFormer',
    });
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('exports the outputs the CLI reads', () => {
    for (const name of Object.values(STACK_OUTPUTS)) template.hasOutput(name, {});
  });
});

describe('configured variants', () => {
  it('uses API Gateway with IAM on every method, and reserved + provisioned concurrency, when configured', () => {
    // Prepare + Act
    const { template } = synthStack({
      lookupAuth: 'api-gateway-iam',
      lookupReservedConcurrency: 50,
      lookupProvisionedConcurrency: 5,
    });
    // Assess
    template.resourceCountIs('AWS::Lambda::Url', 0);
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method')) as Resource[];
    expect(methods.length).toBeGreaterThan(0);
    for (const method of methods) expect(method.Properties.AuthorizationType).toBe('AWS_IAM');
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 50,
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'lookup' }) },
    });
    template.hasResourceProperties('AWS::Lambda::Alias', {
      Name: 'live',
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 5 },
    });
  });

  it('runs on-demand only, with the given instance types, partitions, schedule and image URI', () => {
    const IMAGE_URI = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/pinnerformer:1.2.3@sha256:${'0'.repeat(64)}`;
    const { template } = synthStack({
      spot: false,
      instanceTypes: ['g6.2xlarge'],
      partitions: 8,
      partitionsPerJob: 2,
      scheduleExpression: 'cron(30 1 * * ? *)',
      imageUri: IMAGE_URI,
    });
    const environments = Object.values(template.findResources('AWS::Batch::ComputeEnvironment')) as Resource[];
    expect(environments.map((e) => (e.Properties.ComputeResources as { Type: string }).Type)).toEqual(['EC2']);
    expect((environments[0]!.Properties.ComputeResources as { InstanceTypes: string[] }).InstanceTypes).toEqual([
      'g6.2xlarge',
    ]);
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(30 1 * * ? *)' });
    template.hasResourceProperties('AWS::Batch::JobDefinition', {
      ContainerProperties: Match.objectLike({
        Image: IMAGE_URI,
      }),
    });
    // on-demand only: one queue, no fallback state
    template.resourceCountIs('AWS::Batch::JobQueue', 1);
    expect(stateMachineDefinition(template).States.EmbedPartitionsOnDemand).toBeUndefined();
    expect(stateMachineDefinition(template).States.EmbedPartitions!.Catch).toEqual([
      expect.objectContaining({ Next: 'ReleaseLockOnFailure' }),
    ]);
  });

  it('uses an existing VPC by id instead of creating one', () => {
    const { template } = synthStack({ vpcId: 'vpc-0123456789abcdef0' });
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
  });
});
