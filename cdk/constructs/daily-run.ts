/**
 * The daily run: an EventBridge schedule starts a Step Functions state machine that runs
 *   plan Lambda -> Map of partition Lambdas (one per event slice) -> Batch array job (one child
 *   per partitionsPerJob partitions, awaited with .sync) -> publish Lambda.
 * Every step retries what is transient and catches everything else into one failure path that
 * notifies SNS and fails the execution; publish (the only step that moves the pointer) never runs
 * after a failure, so a failed run leaves the pointer where it was.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as batch from 'aws-cdk-lib/aws-batch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
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
import { LOCK_PK, TABLE_KEYS } from '../../src/embeddings/table-schema.ts';
import { ACCESS, grantAccess } from '../permissions.ts';
import { StageFunction } from './stage-function.ts';

export interface DailyRunProps {
  readonly bucket: s3.IBucket;
  readonly table: dynamodb.ITableV2;
  readonly jobQueue: batch.IJobQueue;
  readonly jobDefinition: batch.IJobDefinition;
  readonly alerts: sns.ITopic;
  readonly deadLetterQueue: sqs.IQueue;
  readonly scheduleExpression: string;
  readonly scheduleEnabled: boolean;
  readonly partitions: number;
  /** Partitions per Batch array child: the array has ceil(partitions / partitionsPerJob) children. */
  readonly partitionsPerJob: number;
  readonly mapMaxConcurrency: number;
  readonly logRetentionDays: logs.RetentionDays;
  /** Environment shared by the stage functions (stores, refresh age, dtype, retention). */
  readonly environment: Readonly<Record<string, string>>;
}

/** Errors worth another attempt: the stage's own TransientError and Lambda's service hiccups. */
/** Longest run: the state machine's timeout and the run lock's lease. */
export const RUN_TIMEOUT = Duration.hours(20);

/** The owner attribute of a run-lock item (DynamoEmbeddingStore.acquireRunLock / releaseRunLock). */
export const LOCK_OWNER_ATTRIBUTE = 'owner';

const TRANSIENT_LAMBDA_ERRORS = [
  'TransientError',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

export class DailyRun extends Construct {
  public readonly planFunction: StageFunction;
  public readonly partitionFunction: StageFunction;
  public readonly publishFunction: StageFunction;
  public readonly stateMachine: sfn.StateMachine;
  public readonly schedule: scheduler.Schedule;

  public constructor(scope: Construct, id: string, props: DailyRunProps) {
    super(scope, id);
    const common = {
      logRetentionDays: props.logRetentionDays,
      deadLetterQueue: props.deadLetterQueue,
    };
    const tableName = props.table.tableName;
    this.planFunction = new StageFunction(this, 'Plan', {
      ...common,
      entryName: 'plan',
      serviceName: 'plan',
      description: 'PinnerFormer daily run: plan the run (slices of the day, manifest, run lock)',
      environment: {
        ...props.environment,
        TABLE_NAME: tableName,
        RUN_LOCK_LEASE_MS: String(RUN_TIMEOUT.toMilliseconds()),
      },
      memoryMb: 1024,
      timeout: Duration.minutes(5),
    });
    this.partitionFunction = new StageFunction(this, 'Partition', {
      ...common,
      entryName: 'partition',
      serviceName: 'partition',
      description: 'PinnerFormer daily run: route one slice of events into partition work files',
      // No TABLE_NAME: this stage never touches the table.
      environment: { ...props.environment },
      memoryMb: 3008,
      timeout: Duration.minutes(15),
    });
    this.publishFunction = new StageFunction(this, 'Publish', {
      ...common,
      entryName: 'publish',
      serviceName: 'publish',
      description: 'PinnerFormer daily run: validate the run and move the pointer',
      environment: { ...props.environment, TABLE_NAME: tableName },
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
        destination: new logs.LogGroup(this, 'StateMachineLogs', {
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
        deadLetterQueue: props.deadLetterQueue,
        retryAttempts: 3,
        maxEventAge: Duration.hours(2),
      }),
    });
  }

  private definition(props: DailyRunProps): sfn.IChainable {
    const failed = new sfn.Fail(this, 'RunFailed', {
      error: 'DailyRunFailed',
      cause: 'A stage failed; the pointer was not moved (see the notification and the execution history)',
    });
    const notifyRetry: sfn.RetryProps = {
      errors: [sfn.Errors.ALL],
      interval: Duration.seconds(5),
      maxAttempts: 3,
      backoffRate: 2,
    };
    const notifyFailure = new tasks.SnsPublish(this, 'NotifyFailure', {
      topic: props.alerts,
      subject: 'PinnerFormer daily run failed',
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          'PinnerFormer daily run {} failed; the pointer is unchanged. State: {}',
          sfn.JsonPath.executionName,
          sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$')),
        ),
      ),
      resultPath: sfn.JsonPath.DISCARD,
    })
      .addRetry(notifyRetry)
      .next(failed);
    // Releases the run lock only if this execution holds it (a run refused for a held lock must
    // not free the other run's lock); when the state lacks the version, the catch goes on to notify.
    const releaseLock = (id: string) =>
      new tasks.DynamoDeleteItem(this, id, {
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
    const releaseOnFailure = releaseLock('ReleaseLockOnFailure');
    releaseOnFailure.addCatch(notifyFailure, { errors: [sfn.Errors.ALL], resultPath: '$.releaseError' });
    releaseOnFailure.next(notifyFailure);
    const catchAll = { errors: [sfn.Errors.ALL], resultPath: '$.error' };
    const retryTransient = (task: sfn.TaskStateBase): void => {
      task.addRetry({
        errors: TRANSIENT_LAMBDA_ERRORS,
        interval: Duration.seconds(5),
        maxAttempts: 4,
        backoffRate: 2,
        jitterStrategy: sfn.JitterType.FULL,
      });
      task.addCatch(releaseOnFailure, catchAll);
    };

    const plan = new tasks.LambdaInvoke(this, 'PlanRun', {
      lambdaFunction: this.planFunction.fn,
      payload: sfn.TaskInput.fromObject({
        request: sfn.JsonPath.objectAt('$'),
        execution: sfn.JsonPath.executionName,
      }),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
    });
    retryTransient(plan);

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
    const partitionSlices = new sfn.Map(this, 'PartitionSlices', {
      itemsPath: '$.slices',
      maxConcurrency: props.mapMaxConcurrency,
      itemSelector: {
        date: sfn.JsonPath.stringAt('$.date'),
        modelVersion: sfn.JsonPath.stringAt('$.modelVersion'),
        slice: sfn.JsonPath.numberAt('$$.Map.Item.Value'),
      },
      resultPath: sfn.JsonPath.DISCARD,
    });
    partitionSlices.itemProcessor(partitionSlice);
    partitionSlices.addCatch(releaseOnFailure, catchAll);

    const embed = new tasks.BatchSubmitJob(this, 'EmbedPartitions', {
      jobName: 'pinnerformer-embed',
      jobQueueArn: props.jobQueue.jobQueueArn,
      jobDefinitionArn: props.jobDefinition.jobDefinitionArn,
      arraySize: Math.ceil(props.partitions / props.partitionsPerJob),
      containerOverrides: {
        environment: {
          RUN_DATE: sfn.JsonPath.stringAt('$.date'),
          MODEL_VERSION: sfn.JsonPath.stringAt('$.modelVersion'),
        },
      },
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      resultPath: sfn.JsonPath.DISCARD,
    });
    // Batch already retries each child (Spot reclaims, host failures); here only API throttling.
    embed.addRetry({
      errors: ['Batch.AWSBatchException', 'Batch.ServerException', 'Batch.TooManyRequestsException'],
      interval: Duration.seconds(30),
      maxAttempts: 3,
      backoffRate: 2,
    });
    embed.addCatch(releaseOnFailure, catchAll);

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
    retryTransient(publish);

    const refused = releaseLock('ReleaseLockRefused');
    refused.addCatch(notifyFailure, { errors: [sfn.Errors.ALL], resultPath: '$.releaseError' });
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
      .addRetry(notifyRetry)
      .next(new sfn.Fail(this, 'RunRefused', { error: 'PublishRefused', cause: 'The publish gate refused the run' }));
    refused.next(notifyRefused);
    // Published: a lock that cannot be released now simply expires with its lease.
    const done = new sfn.Succeed(this, 'Done');
    const released = releaseLock('ReleaseLock');
    released.addCatch(done, { errors: [sfn.Errors.ALL], resultPath: '$.releaseError' });
    released.next(done);

    const published = new sfn.Choice(this, 'Published?')
      .when(sfn.Condition.booleanEquals('$.publish.result.published', true), released)
      .otherwise(refused);

    return plan.next(partitionSlices).next(embed).next(publish).next(published);
  }
}
