/**
 * The daily run: an EventBridge schedule (or the day's completion marker in S3) starts a Step
 * Functions state machine that runs
 *   plan Lambda (retried while the day's events have not arrived) -> Distributed Map of partition
 *   Lambdas over the slice list in S3 -> Batch array job sized by the plan (Spot queue, then once
 *   on the on-demand queue if that fails), awaited with .sync -> publish Lambda.
 * Every step retries what is transient and catches everything else into one failure path that
 * notifies SNS with a short summary and fails the execution; publish (the only step that moves
 * the pointer) never runs after a failure, so a failed run leaves the pointer where it was.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as batch from 'aws-cdk-lib/aws-batch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { LOCK_OWNER_ATTRIBUTE, METRIC_SERVICES, RUN_TIMEOUT_MS } from '../../src/contract/run-contract.ts';
import { RUN_ENV_NAMES } from '../../src/contract/stage-env.ts';
import { LOCK_PK, TABLE_KEYS } from '../../src/embeddings/table-schema.ts';
import { EventsMissingError } from '../../src/util/errors.ts';
import { ACCESS, grantAccess } from '../permissions.ts';
import { EmbedJobTask } from './embed-job-task.ts';
import { SliceListReader } from './slice-list-reader.ts';
import { StageFunction } from './stage-function.ts';

export interface DailyRunProps {
  readonly bucket: s3.IBucket;
  readonly table: dynamodb.ITableV2;
  /** Queue the array job goes to first (Spot). */
  readonly jobQueue: batch.IJobQueue;
  /** Queue of the one fallback attempt; the same as jobQueue means no fallback. */
  readonly onDemandJobQueue: batch.IJobQueue;
  readonly jobDefinition: batch.IJobDefinition;
  /** State-level timeout of each Batch step: past it Step Functions terminates the array job. */
  readonly embedTimeout: Duration;
  readonly alerts: sns.ITopic;
  /** Where starts that the scheduler or the marker rule could not deliver land. */
  readonly startDeadLetterQueue: sqs.IQueue;
  readonly scheduleExpression: string;
  readonly scheduleEnabled: boolean;
  /** Start a run when `events/dt=D/<this name>` lands in the bucket. @default - no marker trigger */
  readonly completionMarkerName?: string;
  /** How long the plan step keeps retrying a day whose events have not arrived (0 = no retry). */
  readonly dataWait: Duration;
  readonly dataRetryInterval: Duration;
  readonly mapMaxConcurrency: number;
  readonly logRetentionDays: logs.RetentionDays;
  /** Each stage function's environment (src/contract/stage-env.ts), only what it uses. */
  readonly environment: Readonly<Record<'plan' | 'partition' | 'publish', Readonly<Record<string, string>>>>;
}

/** Longest run: the state machine's timeout and the run lock's lease. */
export const RUN_TIMEOUT = Duration.millis(RUN_TIMEOUT_MS);

/** Errors worth another attempt: the stage's own TransientError and Lambda's service hiccups. */
const TRANSIENT_LAMBDA_ERRORS = [
  'TransientError',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

/** Retries of the SNS notifications. */
const NOTIFY_RETRY: sfn.RetryProps = {
  errors: [sfn.Errors.ALL],
  interval: Duration.seconds(5),
  maxAttempts: 3,
  backoffRate: 2,
};

const CATCH_ALL = { errors: [sfn.Errors.ALL], resultPath: '$.error' };

export class DailyRun extends Construct {
  public readonly planFunction: StageFunction;
  public readonly partitionFunction: StageFunction;
  public readonly publishFunction: StageFunction;
  public readonly stateMachine: sfn.StateMachine;
  public readonly schedule: scheduler.Schedule;
  /** The rule that starts a run on the day's completion marker, when configured. */
  public readonly markerRule?: events.Rule;

  public constructor(scope: Construct, id: string, props: DailyRunProps) {
    super(scope, id);
    const common = { logRetentionDays: props.logRetentionDays };
    this.planFunction = new StageFunction(this, 'Plan', {
      ...common,
      entryName: 'plan',
      serviceName: METRIC_SERVICES.plan,
      description: 'PinnerFormer daily run: plan the run (slices of the day, manifest, run lock)',
      environment: props.environment.plan,
      memoryMb: 1024,
      timeout: Duration.minutes(5),
    });
    this.partitionFunction = new StageFunction(this, 'Partition', {
      ...common,
      entryName: 'partition',
      serviceName: METRIC_SERVICES.partition,
      description: 'PinnerFormer daily run: route one slice of events into partition work files',
      environment: props.environment.partition,
      memoryMb: 3008,
      timeout: Duration.minutes(15),
    });
    this.publishFunction = new StageFunction(this, 'Publish', {
      ...common,
      entryName: 'publish',
      serviceName: METRIC_SERVICES.publish,
      description: 'PinnerFormer daily run: validate the run and move the pointer',
      environment: props.environment.publish,
      memoryMb: 2048,
      timeout: Duration.minutes(15),
    });
    grantAccess(this.planFunction.role, ACCESS.plan, props.bucket, props.table);
    grantAccess(this.partitionFunction.role, ACCESS.partition, props.bucket, props.table);
    grantAccess(this.publishFunction.role, ACCESS.publish, props.bucket, props.table);

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(this.definition(props)),
      timeout: RUN_TIMEOUT,
      tracingEnabled: true,
      logs: {
        // Under /aws/vendedlogs/ the log delivery's resource policy stays small (AWS docs).
        destination: new logs.LogGroup(this, 'StateMachineLogs', {
          logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-DailyRun`,
          retention: props.logRetentionDays,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: true,
      },
    });

    // The DeleteItem tasks' built-in grant covers the whole table; the state machine only ever
    // deletes its run lock, so every other partition key is denied (fine-grained access on pk).
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        actions: ['dynamodb:DeleteItem'],
        resources: [props.table.tableArn],
        conditions: { 'ForAnyValue:StringNotEquals': { 'dynamodb:LeadingKeys': [LOCK_PK] } },
      }),
    );

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'Starts the PinnerFormer daily run; the run date is the UTC day before the scheduled time',
      schedule: scheduler.ScheduleExpression.expression(props.scheduleExpression),
      enabled: props.scheduleEnabled,
      target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject({ scheduledTime: scheduler.ContextAttribute.scheduledTime }),
        deadLetterQueue: props.startDeadLetterQueue,
        retryAttempts: 3,
        maxEventAge: Duration.hours(2),
      }),
    });
    if (props.completionMarkerName) this.markerRule = this.markerTrigger(props, props.completionMarkerName);
  }

  /** `events/dt=D/<marker>` created in the bucket starts the run of day D (RunRequest.markerKey). */
  private markerTrigger(props: DailyRunProps, marker: string): events.Rule {
    return new events.Rule(this, 'CompletionMarker', {
      description: `Starts the PinnerFormer run of day D when events/dt=D/${marker} lands`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [props.bucket.bucketName] },
          object: { key: events.Match.wildcard(`events/dt=*/${marker}`) },
        },
      },
      targets: [
        new eventTargets.SfnStateMachine(this.stateMachine, {
          input: events.RuleTargetInput.fromObject({ markerKey: events.EventField.fromPath('$.detail.object.key') }),
          deadLetterQueue: props.startDeadLetterQueue,
          retryAttempts: 3,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });
  }

  private definition(props: DailyRunProps): sfn.IChainable {
    const notifyFailure = this.notifyFailure(props);
    const releaseOnFailure = this.releaseLock('ReleaseLockOnFailure', props);
    releaseOnFailure.addCatch(notifyFailure, { errors: [sfn.Errors.ALL], resultPath: '$.releaseError' });
    releaseOnFailure.next(notifyFailure);
    const plan = this.planTask(props, releaseOnFailure);
    const partitionSlices = this.partitionMap(props, releaseOnFailure);
    const { embed, embedded } = this.embedTasks(props, releaseOnFailure);
    const publish = this.publishTasks(props, releaseOnFailure, notifyFailure);
    if (embedded !== embed) embed.next(publish);
    embedded.next(publish);
    return plan.next(partitionSlices).next(embed);
  }

  /** The failure notice (a short summary, never the whole state) and the failed end. */
  private notifyFailure(props: DailyRunProps): sfn.IChainable {
    const failed = new sfn.Fail(this, 'RunFailed', {
      error: 'DailyRunFailed',
      cause: 'A stage failed; the pointer was not moved (see the notification and the execution history)',
    });
    const notifyFailure = new tasks.SnsPublish(this, 'NotifyFailure', {
      topic: props.alerts,
      subject: 'PinnerFormer daily run failed',
      // A short summary, never the whole state (SNS takes 256 KB; a run's state can be larger).
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          'PinnerFormer daily run {} failed; the pointer is unchanged. Request: {}. Error: {}: {}. Details: `pinnerformer aws status` or the execution history.',
          sfn.JsonPath.executionName,
          sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$$.Execution.Input')),
          sfn.JsonPath.stringAt('$.error.Error'),
          sfn.JsonPath.stringAt('$.error.Cause'),
        ),
      ),
      resultPath: sfn.JsonPath.DISCARD,
    })
      .addRetry(NOTIFY_RETRY)
      .next(failed);
    return notifyFailure;
  }

  // Releases the run lock only if this execution holds it (a run refused for a held lock must
  // not free the other run's lock); when the state lacks the version, the catch goes on to notify.
  private releaseLock(id: string, props: DailyRunProps): sfn.TaskStateBase {
    return new tasks.DynamoDeleteItem(this, id, {
      table: props.table,
      key: {
        [TABLE_KEYS.partitionKey]: tasks.DynamoAttributeValue.fromString(LOCK_PK),
        [TABLE_KEYS.sortKey]: tasks.DynamoAttributeValue.fromString(
          sfn.JsonPath.format('{}@{}', sfn.JsonPath.stringAt('$.modelVersion'), sfn.JsonPath.stringAt('$.date')),
        ),
      },
      conditionExpression: '#owner = :owner',
      expressionAttributeNames: { '#owner': LOCK_OWNER_ATTRIBUTE },
      expressionAttributeValues: { ':owner': tasks.DynamoAttributeValue.fromString(sfn.JsonPath.executionName) },
      resultPath: sfn.JsonPath.DISCARD,
    }).addRetry({
      errors: [
        'DynamoDB.ProvisionedThroughputExceededException',
        'DynamoDB.ThrottlingException',
        'DynamoDB.InternalServerErrorException',
      ],
      interval: Duration.seconds(2),
      maxAttempts: 4,
      backoffRate: 2,
    });
  }

  /** Lambda errors worth retrying; anything else (and retries spent) releases the lock and notifies. */
  private retryTransient(task: sfn.TaskStateBase, onFailure: sfn.IChainable): void {
    task.addRetry({
      errors: TRANSIENT_LAMBDA_ERRORS,
      interval: Duration.seconds(5),
      maxAttempts: 4,
      backoffRate: 2,
      jitterStrategy: sfn.JitterType.FULL,
    });
    task.addCatch(onFailure, CATCH_ALL);
  }

  private planTask(props: DailyRunProps, onFailure: sfn.IChainable): tasks.LambdaInvoke {
    const plan = new tasks.LambdaInvoke(this, 'PlanRun', {
      lambdaFunction: this.planFunction.fn,
      payload: sfn.TaskInput.fromObject({
        request: sfn.JsonPath.objectAt('$'),
        execution: sfn.JsonPath.executionName,
      }),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
    });
    // The day's events may land late: retry the plan (same execution, same lock) until dataWait.
    const dataAttempts = Math.floor(props.dataWait.toSeconds() / props.dataRetryInterval.toSeconds());
    if (dataAttempts > 0) {
      plan.addRetry({
        errors: [EventsMissingError.name],
        interval: props.dataRetryInterval,
        maxAttempts: dataAttempts,
        backoffRate: 1,
      });
    }
    this.retryTransient(plan, onFailure);
    return plan;
  }

  private partitionMap(props: DailyRunProps, onFailure: sfn.IChainable): sfn.DistributedMap {
    const partitionSlice = new tasks.LambdaInvoke(this, 'PartitionSlice', {
      lambdaFunction: this.partitionFunction.fn,
      payload: sfn.TaskInput.fromJsonPathAt('$'),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
    });
    partitionSlice.addRetry({
      errors: TRANSIENT_LAMBDA_ERRORS,
      interval: Duration.seconds(5),
      maxAttempts: 4,
      backoffRate: 2,
      jitterStrategy: sfn.JitterType.FULL,
    });
    // A Distributed Map: each slice runs in its own child execution, so a backfill of 10 000+
    // slices stays far below the parent's 25 000-event history limit. Items are complete
    // SliceTasks; each child answers {} so the collected results stay small.
    const partitionSlices = new sfn.DistributedMap(this, 'PartitionSlices', {
      itemReader: new SliceListReader(props.bucket, sfn.JsonPath.stringAt('$.slicesKey')),
      maxConcurrency: props.mapMaxConcurrency,
      mapExecutionType: sfn.StateMachineType.STANDARD,
      resultPath: sfn.JsonPath.DISCARD,
    });
    partitionSlices.itemProcessor(
      partitionSlice.next(new sfn.Pass(this, 'SliceDone', { result: sfn.Result.fromObject({}) })),
    );
    partitionSlices.addCatch(onFailure, CATCH_ALL);
    return partitionSlices;
  }

  /** The embed array job on the first queue, and the state after it (the on-demand fallback when there is one). */
  private embedTasks(
    props: DailyRunProps,
    onFailure: sfn.IChainable,
  ): { embed: sfn.TaskStateBase; embedded: sfn.INextable } {
    // The array follows the plan: its size and PARTITIONS come from the run manifest.
    const embedOn = (id: string, jobQueue: batch.IJobQueue) =>
      new EmbedJobTask(this, id, {
        jobName: 'pinnerformer-embed',
        jobQueue,
        jobDefinition: props.jobDefinition,
        arraySize: sfn.JsonPath.numberAt('$.arraySize'),
        containerOverrides: {
          environment: {
            [RUN_ENV_NAMES.date]: sfn.JsonPath.stringAt('$.date'),
            [RUN_ENV_NAMES.modelVersion]: sfn.JsonPath.stringAt('$.modelVersion'),
            [RUN_ENV_NAMES.partitions]: sfn.JsonPath.stringAt('$.partitionsText'),
          },
        },
        integrationPattern: sfn.IntegrationPattern.RUN_JOB,
        stateTimeout: props.embedTimeout,
        resultPath: sfn.JsonPath.DISCARD,
      })
        // Batch already retries each child (Spot reclaims, host failures); here only API throttling.
        .addRetry({
          errors: ['Batch.AWSBatchException', 'Batch.ServerException', 'Batch.TooManyRequestsException'],
          interval: Duration.seconds(30),
          maxAttempts: 3,
          backoffRate: 2,
        });
    const embed = embedOn('EmbedPartitions', props.jobQueue);
    let embedded: sfn.INextable = embed;
    if (props.onDemandJobQueue !== props.jobQueue) {
      // Explicit Spot -> on-demand fallback: the Spot attempt failed (children cancelled after
      // runnableTimeout without capacity, reclaims beyond the attempts, ...): run it once on demand.
      const onDemand = embedOn('EmbedPartitionsOnDemand', props.onDemandJobQueue);
      onDemand.addCatch(onFailure, CATCH_ALL);
      embed.addCatch(onDemand, { errors: [sfn.Errors.ALL], resultPath: '$.spotError' });
      embedded = onDemand;
    } else {
      embed.addCatch(onFailure, CATCH_ALL);
    }
    return { embed, embedded };
  }

  /** Publish, then release the lock and succeed, or (refused by the gate) release, notify and fail. */
  private publishTasks(
    props: DailyRunProps,
    onFailure: sfn.IChainable,
    notifyFailure: sfn.IChainable,
  ): tasks.LambdaInvoke {
    const publish = new tasks.LambdaInvoke(this, 'PublishRun', {
      lambdaFunction: this.publishFunction.fn,
      payload: sfn.TaskInput.fromObject({
        date: sfn.JsonPath.stringAt('$.date'),
        modelVersion: sfn.JsonPath.stringAt('$.modelVersion'),
      }),
      resultSelector: { 'result.$': '$.Payload' },
      resultPath: '$.publish',
      retryOnServiceExceptions: false,
    });
    this.retryTransient(publish, onFailure);

    const refused = this.releaseLock('ReleaseLockRefused', props);
    // The summary reads $.error: a failed release is this path's error.
    refused.addCatch(notifyFailure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    const notifyRefused = new tasks.SnsPublish(this, 'NotifyRefused', {
      topic: props.alerts,
      subject: 'PinnerFormer daily run refused by the publish gate',
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          'PinnerFormer run {} was not published; the pointer is unchanged. Reasons: {}',
          sfn.JsonPath.executionName,
          sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.publish.result.reasons')),
        ),
      ),
      resultPath: sfn.JsonPath.DISCARD,
    })
      .addRetry(NOTIFY_RETRY)
      .next(new sfn.Fail(this, 'RunRefused', { error: 'PublishRefused', cause: 'The publish gate refused the run' }));
    refused.next(notifyRefused);
    // Published: a lock that cannot be released now simply expires with its lease.
    const done = new sfn.Succeed(this, 'Done');
    const released = this.releaseLock('ReleaseLock', props);
    released.addCatch(done, { errors: [sfn.Errors.ALL], resultPath: '$.releaseError' });
    released.next(done);

    const published = new sfn.Choice(this, 'Published?')
      .when(sfn.Condition.booleanEquals('$.publish.result.published', true), released)
      .otherwise(refused);
    publish.next(published);
    return publish;
  }
}
