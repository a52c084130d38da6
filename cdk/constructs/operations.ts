/**
 * Operations: a CloudWatch dashboard of the daily run and the lookup API, the alarms the runbook
 * (docs/deploy.md) explains, and Batch "job queue blocked" events routed to the alarm topic.
 */
import { Duration } from 'aws-cdk-lib';
import type * as batch from 'aws-cdk-lib/aws-batch';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, RUN_METRICS } from '../../src/contract/run-contract.ts';

export interface OperationsProps {
  readonly alerts: sns.ITopic;
  readonly stateMachine: sfn.IStateMachine;
  readonly partitionFunction: lambda.IFunction;
  readonly lookupFunction: lambda.IFunction;
  readonly table: dynamodb.ITableV2;
  /** The embed queues whose blocked jobs (stuck RUNNABLE, with Batch's reason) notify the topic. */
  readonly jobQueues: readonly batch.IJobQueue[];
  readonly startDeadLetterQueue: sqs.IQueue;
  readonly lookupP99AlarmMs: number;
  readonly partitionFailureAlarmPercent: number;
}

const runMetric = (spec: { name: string; service: string }, period: Duration): cloudwatch.Metric =>
  new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: spec.name,
    dimensionsMap: { service: spec.service },
    statistic: 'Sum',
    period,
  });

const FIVE_MINUTES = Duration.minutes(5);
const HOUR = Duration.hours(1);

/** The math expressions an alarm and a dashboard graph share. */
interface SharedExpressions {
  readonly partitionFailureRate: cloudwatch.MathExpression;
  readonly lookupErrors: cloudwatch.MathExpression;
  readonly throttles: cloudwatch.MathExpression;
}

export class Operations extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly alarms: Record<string, cloudwatch.Alarm> = {};
  public readonly queueBlockedRule: events.Rule;
  private readonly notify: actions.SnsAction;

  public constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    this.notify = new actions.SnsAction(props.alerts);
    const shared: SharedExpressions = {
      partitionFailureRate: this.runAlarms(props),
      lookupErrors: this.lookupAlarms(props),
      throttles: this.tableAndDeliveryAlarms(props),
    };
    this.queueBlockedRule = this.queueBlocked(props);
    this.dashboard = this.createDashboard(props, shared);
  }

  /** An alarm that notifies the topic, kept in `alarms` under its name. */
  private alarm(name: string, alarmProps: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const created = new cloudwatch.Alarm(this, name, alarmProps);
    created.addAlarmAction(this.notify);
    this.alarms[name] = created;
    return created;
  }

  /** Failed runs, the partition failure rate and a missing publish; returns the failure-rate expression. */
  private runAlarms(props: OperationsProps): cloudwatch.MathExpression {
    const runsFailed = new cloudwatch.MathExpression({
      label: 'failed, timed-out or aborted runs',
      expression: 'failed + timedOut + aborted',
      usingMetrics: {
        failed: props.stateMachine.metricFailed({ period: FIVE_MINUTES, statistic: 'Sum' }),
        timedOut: props.stateMachine.metricTimedOut({ period: FIVE_MINUTES, statistic: 'Sum' }),
        aborted: props.stateMachine.metricAborted({ period: FIVE_MINUTES, statistic: 'Sum' }),
      },
      period: FIVE_MINUTES,
    });
    this.alarm('RunFailedAlarm', {
      alarmDescription: 'A daily run failed, timed out or was aborted; the pointer was not moved.',
      metric: runsFailed,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const partitionFailureRate = new cloudwatch.MathExpression({
      label: 'partition failure rate (%)',
      expression: 'IF(ok + failed > 0, 100 * failed / (ok + failed), 0)',
      usingMetrics: {
        ok: runMetric(RUN_METRICS.partitionSucceeded, HOUR),
        failed: runMetric(RUN_METRICS.partitionFailed, HOUR),
      },
      period: HOUR,
    });
    this.alarm('PartitionFailureRateAlarm', {
      alarmDescription: "Embed partitions (each of a Batch child's partitions counts) fail above the configured rate.",
      metric: partitionFailureRate,
      threshold: props.partitionFailureAlarmPercent,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // 26 one-hour periods with no RunPublished datapoint: missing data breaches on purpose.
    this.alarm('NoPublishAlarm', {
      alarmDescription: 'No run was published in the last 26 hours: readers are on a stale version.',
      metric: runMetric(RUN_METRICS.published, HOUR),
      threshold: 1,
      evaluationPeriods: 26,
      datapointsToAlarm: 26,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    return partitionFailureRate;
  }

  /** Lookup errors (function errors and 500 answers) and p99 latency; returns the errors expression. */
  private lookupAlarms(props: OperationsProps): cloudwatch.MathExpression {
    const lookupErrors = new cloudwatch.MathExpression({
      label: 'lookup errors (function errors + 500 answers)',
      expression: 'FILL(crashes, 0) + FILL(answered500, 0)',
      usingMetrics: {
        crashes: props.lookupFunction.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
        answered500: runMetric(RUN_METRICS.lookupServerErrors, FIVE_MINUTES),
      },
      period: FIVE_MINUTES,
    });
    this.alarm('LookupErrorsAlarm', {
      alarmDescription: 'The lookup function failed or answered 500 (DynamoDB errors) in two 5-minute periods.',
      metric: lookupErrors,
      threshold: 1,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarm('LookupLatencyAlarm', {
      alarmDescription: `Lookup p99 latency above ${props.lookupP99AlarmMs} ms.`,
      metric: props.lookupFunction.metricDuration({ period: FIVE_MINUTES, statistic: 'p99' }),
      threshold: props.lookupP99AlarmMs,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    return lookupErrors;
  }

  /** DynamoDB throttles and undelivered starts; returns the throttles expression. */
  private tableAndDeliveryAlarms(props: OperationsProps): cloudwatch.MathExpression {
    const throttles = new cloudwatch.MathExpression({
      label: 'DynamoDB throttle events',
      expression: 'reads + writes',
      usingMetrics: {
        reads: props.table.metric('ReadThrottleEvents', { period: FIVE_MINUTES, statistic: 'Sum' }),
        writes: props.table.metric('WriteThrottleEvents', { period: FIVE_MINUTES, statistic: 'Sum' }),
      },
      period: FIVE_MINUTES,
    });
    this.alarm('TableThrottleAlarm', {
      alarmDescription: 'DynamoDB throttles reads or writes (the embed write ramp or lookups exceed capacity).',
      metric: throttles,
      threshold: 1,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.alarm('DeadLetterAlarm', {
      alarmDescription: 'A scheduled or marker-triggered start could not be delivered (see the dead-letter queue).',
      metric: props.startDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: FIVE_MINUTES,
        statistic: 'Maximum',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    return throttles;
  }

  private queueBlocked(props: OperationsProps): events.Rule {
    // Batch emits this when a job at the head of a queue is stuck RUNNABLE (no capacity, no
    // instance type fits, maxvCpus too small); the queue cancels it after its time limit.
    return new events.Rule(this, 'JobQueueBlocked', {
      description: 'PinnerFormer: a Batch job of the embed stage is stuck RUNNABLE (reason in statusReason)',
      eventPattern: {
        source: ['aws.batch'],
        detailType: ['Batch Job Queue Blocked'],
        detail: { jobQueue: props.jobQueues.map((queue) => queue.jobQueueArn) },
      },
      targets: [
        new eventTargets.SnsTopic(props.alerts, {
          message: events.RuleTargetInput.fromText(
            `PinnerFormer embed job ${events.EventField.fromPath('$.detail.jobName')} (${events.EventField.fromPath('$.detail.jobId')}) is stuck RUNNABLE in ${events.EventField.fromPath('$.detail.jobQueue')}: ${events.EventField.fromPath('$.detail.statusReason')}. It is cancelled after the queue's time limit; see docs/deploy.md, "Stuck jobs".`,
          ),
        }),
      ],
    });
  }

  private createDashboard(props: OperationsProps, shared: SharedExpressions): cloudwatch.Dashboard {
    const { partitionFailureRate, lookupErrors, throttles } = shared;
    return new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(7),
      widgets: [
        [
          new cloudwatch.AlarmStatusWidget({
            title: 'Alarms',
            alarms: Object.values(this.alarms),
            width: 24,
            height: 3,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Daily runs',
            left: [
              props.stateMachine.metricSucceeded({ period: HOUR, statistic: 'Sum' }),
              props.stateMachine.metricFailed({ period: HOUR, statistic: 'Sum' }),
              runMetric(RUN_METRICS.published, HOUR),
              runMetric(RUN_METRICS.refused, HOUR),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Run duration (ms)',
            left: [props.stateMachine.metric('ExecutionTime', { period: HOUR, statistic: 'Maximum' })],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Partitions (embed children)',
            left: [runMetric(RUN_METRICS.partitionSucceeded, HOUR), runMetric(RUN_METRICS.partitionFailed, HOUR)],
            right: [partitionFailureRate],
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Users embedded / invalid events',
            left: [runMetric(RUN_METRICS.embeddedUsers, HOUR)],
            right: [runMetric(RUN_METRICS.invalidEvents, HOUR)],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Lookup latency (ms) and errors',
            left: [
              props.lookupFunction.metricDuration({ period: FIVE_MINUTES, statistic: 'p50' }),
              props.lookupFunction.metricDuration({ period: FIVE_MINUTES, statistic: 'p99' }),
            ],
            right: [lookupErrors],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'DynamoDB writes and throttles',
            left: [props.table.metricConsumedWriteCapacityUnits({ period: FIVE_MINUTES, statistic: 'Sum' })],
            right: [throttles],
            width: 8,
          }),
        ],
      ],
    });
  }
}
