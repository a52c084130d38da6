/**
 * What a first real deployment would hit (issue 18): stuck GPU jobs, stopping a run, large
 * backfills, late data, lookup callers, and the smaller review items, asserted on the
 * synthesized template. Lambda bundling is skipped (test/cdk-helpers.ts).
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { CURRENTLY_RECOMMENDED_FLAGS } from 'aws-cdk-lib/cx-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseDeploymentConfig } from '../cdk/config.ts';
import { PinnerFormerStack } from '../cdk/pinnerformer-stack.ts';
import { plannedRunOf, sliceTasksOf } from '../lambdas/plan.ts';
import { PlannedRunSchema, SliceTaskSchema } from '../src/contract/messages.ts';
import type { RunManifest } from '../src/pipeline/types.ts';
import { FEATURE_FLAGS, synthStack } from './cdk-helpers.ts';

type Resource = { Properties: Record<string, unknown> };
type States = Record<string, Record<string, unknown>>;

function definitionOf(template: Template): { States: States } {
  const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as Resource[];
  const parts = (machine!.Properties.DefinitionString as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
  return JSON.parse(parts.map((part) => (typeof part === 'string' ? part : 'X')).join(''));
}

const resources = (template: Template, type: string) => Object.values(template.findResources(type)) as Resource[];

describe('the default stack, deployed into a fresh account', () => {
  let template: Template;
  let states: States;
  beforeAll(() => {
    template = synthStack().template;
    states = definitionOf(template).States;
  });

  it('cancels children stuck RUNNABLE: capacity after runnableTimeoutMinutes, misconfiguration after 10 minutes', () => {
    const queues = resources(template, 'AWS::Batch::JobQueue');
    expect(queues).toHaveLength(2);
    for (const queue of queues) {
      expect(queue.Properties.JobStateTimeLimitActions).toEqual([
        {
          Action: 'CANCEL',
          MaxTimeSeconds: 3600,
          Reason: 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
          State: 'RUNNABLE',
        },
        {
          Action: 'CANCEL',
          MaxTimeSeconds: 600,
          Reason: 'MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE',
          State: 'RUNNABLE',
        },
        {
          Action: 'CANCEL',
          MaxTimeSeconds: 600,
          Reason: 'MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT',
          State: 'RUNNABLE',
        },
      ]);
    }
  });

  it('bounds each Batch step with a state timeout: attempts x (RUNNABLE limit + job timeout) + 30 minutes', () => {
    // 3 attempts x (60 + 120 minutes) + 30 minutes
    for (const name of ['EmbedPartitions', 'EmbedPartitionsOnDemand'])
      expect(states[name]!.TimeoutSeconds).toBe(570 * 60);
  });

  it('routes Batch "job queue blocked" events of both queues to the alarm topic with the reason', () => {
    const [rule] = resources(template, 'AWS::Events::Rule').filter((r) =>
      JSON.stringify(r.Properties.EventPattern).includes('Batch Job Queue Blocked'),
    );
    expect(rule).toBeDefined();
    const pattern = rule!.Properties.EventPattern as { source: string[]; detail: { jobQueue: unknown[] } };
    expect(pattern.source).toEqual(['aws.batch']);
    expect(pattern.detail.jobQueue).toHaveLength(2);
    const [target] = rule!.Properties.Targets as {
      Arn: { Ref: string };
      InputTransformer: { InputTemplate: string };
    }[];
    expect(target!.Arn.Ref).toMatch(/^Alerts/);
    expect(target!.InputTransformer.InputTemplate).toContain('<detail-statusReason>');
  });

  it('reads the slice list from S3 in a Distributed Map of standard child executions', () => {
    const map = states.PartitionSlices!;
    expect(map.ItemReader).toEqual({
      Resource: expect.stringMatching(/:states:::s3:getObject$/),
      ReaderConfig: { InputType: 'JSON' },
      Parameters: { Bucket: 'X', 'Key.$': '$.slicesKey' },
    });
    expect(map.ItemProcessor).toMatchObject({ ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } });
    expect(map.ResultPath).toBeNull();
  });

  it('retries a day whose events have not arrived, every 30 minutes for 6 hours, before failing', () => {
    expect(states.PlanRun!.Retry).toContainEqual({
      ErrorEquals: ['EventsMissingError'],
      IntervalSeconds: 1800,
      MaxAttempts: 12,
      BackoffRate: 1,
    });
  });

  it('notifies a short summary of a failure (error and request), never the whole state', () => {
    const message = String((states.NotifyFailure!.Parameters as Record<string, unknown>)['Message.$']);
    expect(message).toContain('$.error.Error');
    expect(message).toContain('$.error.Cause');
    expect(message).toContain('$$.Execution.Input');
    expect(message).not.toMatch(/States\.JsonToString\(\$\)/);
  });

  it('starts instances from a launch template: IMDSv2 only with hop limit 1, an encrypted root volume sized for the image', () => {
    const [template_] = resources(template, 'AWS::EC2::LaunchTemplate');
    const data = template_!.Properties.LaunchTemplateData as Record<string, unknown>;
    expect(data.MetadataOptions).toEqual({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
    expect(data.BlockDeviceMappings).toEqual([
      { DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeSize: 100, VolumeType: 'gp3' } },
    ]);
    for (const environment of resources(template, 'AWS::Batch::ComputeEnvironment')) {
      expect((environment.Properties.ComputeResources as { LaunchTemplate: unknown }).LaunchTemplate).toMatchObject({
        LaunchTemplateId: { Ref: expect.stringMatching(/LaunchTemplate/) },
      });
    }
  });

  it('spreads the new VPC over three AZs', () => {
    const subnets = resources(template, 'AWS::EC2::Subnet');
    expect(subnets).toHaveLength(6);
    const azs = new Set(subnets.map((s) => JSON.stringify(s.Properties.AvailabilityZone)));
    expect(azs.size).toBe(3);
  });

  it('expires the delete markers left on versioned prefixes', () => {
    const bucket = resources(template, 'AWS::S3::Bucket').find((b) => JSON.stringify(b.Properties).includes('work/'));
    const rules = (bucket!.Properties.LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
    expect(rules).toContainEqual({ Id: 'expired-delete-markers', ExpiredObjectDeleteMarker: true, Status: 'Enabled' });
  });

  it('logs the state machine under /aws/vendedlogs/states/', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/vendedlogs/states/PinnerFormerTest-DailyRun',
    });
  });

  it('reserves concurrency for the lookup function, so a lookup storm cannot starve the daily run', () => {
    const lookup = resources(template, 'AWS::Lambda::Function').find(
      (fn) =>
        (fn.Properties.Environment as { Variables: Record<string, string> }).Variables.POWERTOOLS_SERVICE_NAME ===
        'lookup',
    );
    expect(lookup!.Properties.ReservedConcurrentExecutions).toBe(20);
    // the lookup reads the table only: no bucket, and no Parquet
    const variables = (lookup!.Properties.Environment as { Variables: Record<string, string> }).Variables;
    expect(variables.OBJECT_STORE_URI).toBeUndefined();
    expect(variables.TABLE_NAME).toBeDefined();
  });

  it('deploys the schedule disabled until the first model and backfill; -c scheduleEnabled=true turns it on', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', { State: 'DISABLED' });
    synthStack({ scheduleEnabled: true }).template.hasResourceProperties('AWS::Scheduler::Schedule', {
      State: 'ENABLED',
    });
  });
});

describe('configured variants', () => {
  it('bounds RUNNABLE and the data wait as configured, and can skip the retry', () => {
    const { template } = synthStack({ runnableTimeoutMinutes: 90, dataWaitHours: 0, rootVolumeGiB: 200 });
    const [queue] = resources(template, 'AWS::Batch::JobQueue');
    expect((queue!.Properties.JobStateTimeLimitActions as { MaxTimeSeconds: number }[])[0]!.MaxTimeSeconds).toBe(5400);
    const states = definitionOf(template).States;
    expect(JSON.stringify(states.PlanRun!.Retry)).not.toContain('EventsMissingError');
    expect(states.EmbedPartitions!.TimeoutSeconds).toBe((3 * (90 + 120) + 30) * 60);
    expect(JSON.stringify(resources(template, 'AWS::EC2::LaunchTemplate')[0]!.Properties)).toContain(
      '"VolumeSize":200',
    );
  });

  it('starts the run of day D when events/dt=D/_SUCCESS lands, with the schedule off', () => {
    const { template } = synthStack({ trigger: 'completion-marker' });
    template.hasResourceProperties('AWS::S3::Bucket', {
      NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
    });
    const [rule] = resources(template, 'AWS::Events::Rule').filter((r) =>
      JSON.stringify(r.Properties.EventPattern).includes('aws.s3'),
    );
    expect(rule!.Properties.EventPattern).toMatchObject({
      'detail-type': ['Object Created'],
      detail: { object: { key: [{ wildcard: 'events/dt=*/_SUCCESS' }] } },
    });
    const [target] = rule!.Properties.Targets as {
      Arn: { Ref: string };
      InputTransformer: { InputTemplate: string };
      DeadLetterConfig: unknown;
    }[];
    expect(target!.Arn.Ref).toMatch(/DailyRunStateMachine/);
    expect(target!.InputTransformer.InputTemplate).toBe('{"markerKey":<detail-object-key>}');
    expect(target!.DeadLetterConfig).toBeDefined();
    template.hasResourceProperties('AWS::Scheduler::Schedule', { State: 'DISABLED' });
  });

  it('uses the AZs it is given', () => {
    const { template } = synthStack({ availabilityZones: ['us-west-1a', 'us-west-1c'] });
    const azs = resources(template, 'AWS::EC2::Subnet').map((s) => s.Properties.AvailabilityZone);
    expect(new Set(azs)).toEqual(new Set(['us-west-1a', 'us-west-1c']));
  });

  it("grants a caller both actions a Function URL with AWS_IAM needs, or API Gateway's execute-api:Invoke", () => {
    for (const [auth, expected] of [
      ['function-url-iam', ['lambda:InvokeFunction', 'lambda:InvokeFunctionUrl']],
      ['api-gateway-iam', ['execute-api:Invoke']],
    ] as const) {
      const app = new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } });
      const stack = new PinnerFormerStack(app, 'GrantTest', { config: parseDeploymentConfig({ lookupAuth: auth }) });
      const caller = new iam.Role(stack, 'Caller', { assumedBy: new iam.AccountRootPrincipal() });
      stack.lookup.grantInvoke(caller);
      const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy', {
        Properties: { Roles: [{ Ref: stack.getLogicalId(caller.node.defaultChild as iam.CfnRole) }] },
      });
      const actions = Object.values(policies).flatMap((p) =>
        ((p as Resource).Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }).Statement.flatMap(
          (s) => s.Action,
        ),
      );
      expect(actions.sort(), auth).toEqual([...expected]);
    }
  });
});

describe('CDK feature flags', () => {
  it('sets every flag aws-cdk-lib recommends in cdk.json, to its recommended value unless decided otherwise', () => {
    // Decided: the default security group stays as EC2 makes it (restricting it adds a custom-resource Lambda; no workload uses it)
    const decided: Record<string, unknown> = { '@aws-cdk/aws-ec2:restrictDefaultSecurityGroup': false };
    for (const [flag, recommended] of Object.entries(CURRENTLY_RECOMMENDED_FLAGS)) {
      expect(FEATURE_FLAGS[flag], flag).toEqual(flag in decided ? decided[flag] : recommended);
    }
  });
});

describe('a backfill of 10 000+ slices', () => {
  it('keeps the plan answer a few hundred bytes and hands the Distributed Map a valid slice list', () => {
    // Prepare: a year-long backfill cut into 10 001 slices
    const manifest = {
      version: 'm@2026-03-01',
      date: '2026-03-01',
      modelVersion: 'm',
      partitions: 512,
      slices: Array.from({ length: 10_001 }, (_, index) => ({ index, files: [] })),
      days: [],
      eventBytes: 0,
      backfill: true,
      refreshAgeDays: 7,
      lookbackDays: 365,
      maxLength: 256,
      createdAt: '2026-03-02T03:00:00.000Z',
    } satisfies RunManifest;
    // Act
    const answer = plannedRunOf(manifest, 2, 'runs/m/dt=2026-03-01/slices.json');
    const list = sliceTasksOf(manifest);
    // Assess: the state carries no per-slice data; the array follows the manifest
    expect(JSON.stringify(answer).length).toBeLessThan(400);
    expect(PlannedRunSchema.parse(answer)).toMatchObject({ sliceCount: 10_001, arraySize: 256, partitionsText: '512' });
    expect(list).toHaveLength(10_001);
    for (const item of [list[0], list[5000], list[10_000]]) expect(SliceTaskSchema.parse(item)).toEqual(item);
    expect(list[10_000]).toEqual({ date: '2026-03-01', modelVersion: 'm', slice: 10_000 });
  });
});
