/**
 * The PinnerFormer stack, wired from small constructs:
 *   data (bucket + table) -> batch (VPC, GPU compute, queue, job) -> daily run (functions, state
 *   machine, schedule) -> lookup API -> operations (dashboard, alarms, SNS).
 * Its outputs are what `pinnerformer aws ...` reads (src/cli/aws.ts).
 */
import { CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { lanePace, RUN_TIMEOUT_MS } from '../src/contract/run-contract.ts';
import { STACK_OUTPUTS } from '../src/contract/stack-outputs.ts';
import { stageEnvironment } from '../src/contract/stage-env.ts';
import type { DeploymentConfig } from './config.ts';
import { DailyRun } from './constructs/daily-run.ts';
import { DataStore } from './constructs/data-store.ts';
import { EmbedBatch } from './constructs/embed-batch.ts';
import { LookupApi } from './constructs/lookup-api.ts';
import { Operations } from './constructs/operations.ts';
import { maxConcurrentLanes } from './instance-sizes.ts';
import { addNagSuppressions } from './nag-suppressions.ts';

export { STACK_OUTPUTS } from '../src/contract/stack-outputs.ts';

/** AZs of a new VPC when the config names none: the region's first three. */
const DEFAULT_AZ_COUNT = 3;

export interface PinnerFormerStackProps extends StackProps {
  readonly config: DeploymentConfig;
}

export class PinnerFormerStack extends Stack {
  public readonly data: DataStore;
  public readonly batch: EmbedBatch;
  public readonly dailyRun: DailyRun;
  public readonly lookup: LookupApi;
  public readonly operations: Operations;
  public readonly alerts: sns.Topic;
  public readonly deadLetters: sqs.Queue;
  private readonly azs: readonly string[] | undefined;

  public constructor(scope: Construct, id: string, props: PinnerFormerStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.azs = config.availabilityZones;
    this.data = this.dataStore(config);
    this.alerts = this.alertsTopic(config);
    // Starts that the scheduler or the marker rule could not deliver land here. The stage Lambdas have no
    // DLQ: Step Functions invokes them synchronously, so a Lambda DLQ could never fire.
    this.deadLetters = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.batch = this.embedBatch(config);
    this.dailyRun = this.dailyRunOf(config);
    this.lookup = new LookupApi(this, 'Lookup', {
      table: this.data.table,
      auth: config.lookupAuth,
      reservedConcurrency: config.lookupReservedConcurrency > 0 ? config.lookupReservedConcurrency : undefined,
      provisionedConcurrency: config.lookupProvisionedConcurrency,
      logRetentionDays: config.logRetentionDays as logs.RetentionDays,
      environment: stageEnvironment({ tableName: this.data.table.tableName, embeddingDtype: config.embeddingDtype }),
    });
    this.operations = new Operations(this, 'Operations', {
      alerts: this.alerts,
      stateMachine: this.dailyRun.stateMachine,
      partitionFunction: this.dailyRun.partitionFunction.fn,
      lookupFunction: this.lookup.function.fn,
      table: this.data.table,
      jobQueues: this.batch.jobQueues,
      startDeadLetterQueue: this.deadLetters,
      lookupP99AlarmMs: config.lookupP99AlarmMs,
      partitionFailureAlarmPercent: config.partitionFailureAlarmPercent,
    });
    this.addOutputs(config);
    addNagSuppressions({
      stack: this,
      data: this.data,
      dailyRun: this.dailyRun,
      batch: this.batch,
      lookup: this.lookup,
      deadLetters: this.deadLetters,
    });
  }

  /** The bucket and table, with a bucket for the data bucket's access logs. */
  private dataStore(config: DeploymentConfig): DataStore {
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    return new DataStore(this, 'Data', {
      workRetentionDays: config.workRetentionDays,
      snapshotRetentionDays: config.snapshotRetentionDays,
      accessLogsBucket: accessLogs,
      eventBridgeEnabled: config.trigger === 'completion-marker',
      warmWriteUnitsPerSecond: config.tableWarmWriteUnitsPerSecond,
    });
  }

  /** The SNS topic of alarms and failed runs; CloudWatch of this account may publish to it. */
  private alertsTopic(config: DeploymentConfig): sns.Topic {
    const alerts = new sns.Topic(this, 'Alerts', { displayName: 'PinnerFormer alerts', enforceSSL: true });
    alerts.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [alerts.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    if (config.alarmEmail) alerts.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
    return alerts;
  }

  /** What every stage that reads or writes the run's data is told: the bucket, the table and how embeddings are kept. */
  private storeEnvironment(config: DeploymentConfig) {
    return {
      objectStoreUri: `s3://${this.data.bucket.bucketName}`,
      tableName: this.data.table.tableName,
      embeddingDtype: config.embeddingDtype,
      embeddingRetentionDays: config.embeddingRetentionDays,
    };
  }

  private embedBatch(config: DeploymentConfig): EmbedBatch {
    return new EmbedBatch(this, 'Batch', {
      bucket: this.data.bucket,
      table: this.data.table,
      vpcId: config.vpcId,
      imageUri: config.imageUri,
      instanceTypes: config.instanceTypes,
      maxVcpus: config.maxVcpus,
      spot: config.spot,
      jobAttempts: config.jobAttempts,
      jobTimeout: Duration.minutes(config.jobTimeoutMinutes),
      runnableTimeout: Duration.minutes(config.runnableTimeoutMinutes),
      rootVolumeGiB: config.rootVolumeGiB,
      partitionsPerJob: config.partitionsPerJob,
      logRetentionDays: config.logRetentionDays as logs.RetentionDays,
      // PARTITIONS, RUN_DATE and MODEL_VERSION come per run from the plan (container overrides).
      environment: stageEnvironment({
        ...this.storeEnvironment(config),
        partitionsPerJob: config.partitionsPerJob,
        writeUnitsPerSecondPerLane: lanePace(
          config.runWriteUnitsPerSecond,
          maxConcurrentLanes(config.maxVcpus, config.partitionsPerJob),
        ),
      }),
    });
  }

  private dailyRunOf(config: DeploymentConfig): DailyRun {
    const stores = this.storeEnvironment(config);
    return new DailyRun(this, 'DailyRun', {
      bucket: this.data.bucket,
      table: this.data.table,
      jobQueue: this.batch.jobQueue,
      onDemandJobQueue: this.batch.onDemandJobQueue,
      jobDefinition: this.batch.jobDefinition,
      embedTimeout: this.batch.stateTimeout(config.jobAttempts),
      alerts: this.alerts,
      startDeadLetterQueue: this.deadLetters,
      scheduleExpression: config.scheduleExpression,
      scheduleEnabled: config.scheduleEnabled,
      completionMarkerName: config.trigger === 'completion-marker' ? config.completionMarkerName : undefined,
      dataWait: Duration.hours(config.dataWaitHours),
      dataRetryInterval: Duration.minutes(config.dataRetryMinutes),
      mapMaxConcurrency: config.mapMaxConcurrency,
      logRetentionDays: config.logRetentionDays as logs.RetentionDays,
      environment: {
        plan: stageEnvironment({
          ...stores,
          partitions: config.partitions,
          partitionsPerJob: config.partitionsPerJob,
          refreshAgeDays: config.refreshAgeDays,
          runLockLeaseMs: RUN_TIMEOUT_MS,
          requireSuccessMarker: config.requireSuccessMarker,
          // The plan decides the write policy and hands it to the Batch children in the run manifest.
          ...(config.writeSkipCosine === false ? {} : { writeSkipCosine: config.writeSkipCosine }),
          // Compaction, likewise: the plan decides each partition's snapshot kind into the manifest.
          compactEveryDays: config.compactEveryDays,
          compactDeltaShare: config.compactDeltaShare,
        }),
        // No table: the partition stage never touches it.
        partition: stageEnvironment({ objectStoreUri: stores.objectStoreUri }),
        publish: stageEnvironment(stores),
      },
    });
  }

  /** The outputs `pinnerformer aws ...` reads (src/contract/stack-outputs.ts). */
  private addOutputs(config: DeploymentConfig): void {
    const output = (key: keyof typeof STACK_OUTPUTS, value: string, description: string) =>
      new CfnOutput(this, STACK_OUTPUTS[key], { value, description });
    output('bucketName', this.data.bucket.bucketName, 'Object store bucket (events/, models/, runs/, snapshots)');
    output('tableName', this.data.table.tableName, 'Embedding table (embeddings, versions, pointer)');
    output('stateMachineArn', this.dailyRun.stateMachine.stateMachineArn, 'Daily run state machine');
    output('lookupUrl', this.lookup.url, 'Lookup endpoint (IAM / SigV4 auth)');
    output('alertsTopicArn', this.alerts.topicArn, 'SNS topic of alarms and failed runs');
    output('dashboardName', this.operations.dashboard.dashboardName, 'CloudWatch dashboard');
    output('jobQueueArn', this.batch.jobQueue.jobQueueArn, 'Batch job queue of the embed stage (Spot first)');
    output('onDemandJobQueueArn', this.batch.onDemandJobQueue.jobQueueArn, 'On-demand Batch queue (fallback)');
    output('scheduleName', this.dailyRun.schedule.scheduleName, 'EventBridge Scheduler schedule of the daily run');
    output(
      'runWriteUnitsPerSecond',
      String(config.runWriteUnitsPerSecond),
      "Table write units per second the run's Batch lanes are paced to together",
    );
  }

  /** The configured AZs, else the region's first three (an agnostic stack would get two). */
  public override get availabilityZones(): string[] {
    if (this.azs) return [...this.azs];
    return Array.from({ length: DEFAULT_AZ_COUNT }, (_, i) => Fn.select(i, Fn.getAzs()));
  }
}
