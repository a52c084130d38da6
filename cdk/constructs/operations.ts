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

export class Operations extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly alarms: Record<string, cloudwatch.Alarm> = {};
  public readonly queueBlockedRule: events.Rule;

  public constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    const notify = new actions.SnsAction(props.alerts);
    const alarm = (name: string, alarmProps: cloudwatch.AlarmProps): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, name, alarmProps);
      created.addAlarmAction(notify);
      this.alarms[name] = created;
      return created;
    };
    const fiveMinutes = Duration.minutes(5);

    const runsFailed = new cloudwatch.MathExpression({
      label: 'failed, timed-out or aborted runs',
      expression: 'failed + timedOut + aborted',
      usingMetrics: {
        failed: props.stateMachine.metricFailed({ period: fiveMinutes, statistic: 'Sum' }),
        timedOut: props.stateMachine.metricTimedOut({ period: fiveMinutes, statistic: 'Sum' }),
        aborted: props.stateMachine.metricAborted({ period: fiveMinutes, statistic: 'Sum' }),
      },
      period: fiveMinutes,
    });
    alarm('RunFailedAlarm', {
      alarmDescription: 'A daily run failed, timed out or was aborted; the pointer was not moved.',
      metric: runsFailed,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const hour = Duration.hours(1);
    const partitionFailureRate = new cloudwatch.MathExpression({
      label: 'partition failure rate (%)',
      expression: 'IF(ok + failed > 0, 100 * failed / (ok + failed), 0)',
      usingMetrics: {
        ok: runMetric(RUN_METRICS.partitionSucceeded, hour),
        failed: runMetric(RUN_METRICS.partitionFailed, hour),
      },
      period: hour,
    });
    alarm('PartitionFailureRateAlarm', {
      alarmDescription: "Embed partitions (each of a Batch child's partitions counts) fail above the configured rate.",
      metric: partitionFailureRate,
      threshold: props.partitionFailureAlarmPercent,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // 26 one-hour periods with no RunPublished datapoint: missing data breaches on purpose.
    alarm('NoPublishAlarm', {
      alarmDescription: 'No run was published in the last 26 hours: readers are on a stale version.',
      metric: runMetric(RUN_METRICS.published, hour),
      threshold: 1,
      evaluationPeriods: 26,
      datapointsToAlarm: 26,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    const lookupErrors = new cloudwatch.MathExpression({
      label: 'lookup errors (function errors + 500 answers)',
      expression: 'FILL(crashes, 0) + FILL(answered500, 0)',
      usingMetrics: {
        crashes: props.lookupFunction.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
        answered500: runMetric(RUN_METRICS.lookupServerErrors, fiveMinutes),
      },
      period: fiveMinutes,
    });
    alarm('LookupErrorsAlarm', {
      alarmDescription: 'The lookup function failed or answered 500 (DynamoDB errors) in two 5-minute periods.',
      metric: lookupErrors,
      threshold: 1,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('LookupLatencyAlarm', {
      alarmDescription: `Lookup p99 latency above ${props.lookupP99AlarmMs} ms.`,
      metric: props.lookupFunction.metricDuration({ period: fiveMinutes, statistic: 'p99' }),
      threshold: props.lookupP99AlarmMs,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const throttles = new cloudwatch.MathExpression({
      label: 'DynamoDB throttle events',
      expression: 'reads + writes',
      usingMetrics: {
        reads: props.table.metric('ReadThrottleEvents', { period: fiveMinutes, statistic: 'Sum' }),
        writes: props.table.metric('WriteThrottleEvents', { period: fiveMinutes, statistic: 'Sum' }),
      },
      period: fiveMinutes,
    });
    alarm('TableThrottleAlarm', {
      alarmDescription: 'DynamoDB throttles reads or writes (the embed write ramp or lookups exceed capacity).',
      metric: throttles,
      threshold: 1,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    alarm('DeadLetterAlarm', {
      alarmDescription: 'A scheduled or marker-triggered start could not be delivered (see the dead-letter queue).',
      metric: props.startDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: fiveMinutes,
        statistic: 'Maximum',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // Batch emits this when a job at the head of a queue is stuck RUNNABLE (no capacity, no
    // instance type fits, maxvCpus too small); the queue cancels it after its time limit.
    this.queueBlockedRule = new events.Rule(this, 'JobQueueBlocked', {
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

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
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
              props.stateMachine.metricSucceeded({ period: hour, statistic: 'Sum' }),
              props.stateMachine.metricFailed({ period: hour, statistic: 'Sum' }),
              runMetric(RUN_METRICS.published, hour),
              runMetric(RUN_METRICS.refused, hour),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Run duration (ms)',
            left: [props.stateMachine.metric('ExecutionTime', { period: hour, statistic: 'Maximum' })],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Partitions (embed children)',
            left: [runMetric(RUN_METRICS.partitionSucceeded, hour), runMetric(RUN_METRICS.partitionFailed, hour)],
            right: [partitionFailureRate],
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Users embedded / invalid events',
            left: [runMetric(RUN_METRICS.embeddedUsers, hour)],
            right: [runMetric(RUN_METRICS.invalidEvents, hour)],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Lookup latency (ms) and errors',
            left: [
              props.lookupFunction.metricDuration({ period: fiveMinutes, statistic: 'p50' }),
              props.lookupFunction.metricDuration({ period: fiveMinutes, statistic: 'p99' }),
            ],
            right: [lookupErrors],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'DynamoDB writes and throttles',
            left: [props.table.metricConsumedWriteCapacityUnits({ period: fiveMinutes, statistic: 'Sum' })],
            right: [throttles],
            width: 8,
          }),
        ],
      ],
    });
  }
}
