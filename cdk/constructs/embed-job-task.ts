/**
 * The state machine's Batch step: submits the run's array job and waits for it (.sync). CDK's
 * BatchSubmitJob grants SubmitJob on every job definition and omits what Step Functions needs to
 * stop the job; this one grants SubmitJob on this job definition and queue only, plus
 * DescribeJobs and TerminateJob (so a stopped or timed-out execution terminates its children)
 * and the managed events rule that .sync uses.
 */
import { type Duration, Stack } from 'aws-cdk-lib';
import type * as batch from 'aws-cdk-lib/aws-batch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';

export interface EmbedJobTaskProps
  extends Omit<tasks.BatchSubmitJobProps, 'jobQueueArn' | 'jobDefinitionArn' | 'timeout' | 'taskTimeout'> {
  readonly jobQueue: batch.IJobQueue;
  readonly jobDefinition: batch.IJobDefinition;
  /**
   * The state's own timeout (TimeoutSeconds): past it Step Functions stops waiting and terminates
   * the job. BatchSubmitJob would turn a taskTimeout into the job's per-attempt timeout instead,
   * which the job definition already sets.
   */
  readonly stateTimeout: Duration;
}

/** The rule Step Functions manages for .sync Batch tasks (AWS docs, "IAM policies for AWS Batch"). */
export const SYNC_EVENTS_RULE = 'StepFunctionsGetEventsForBatchJobsRule';

export class EmbedJobTask extends tasks.BatchSubmitJob {
  declare protected readonly taskPolicies?: iam.PolicyStatement[];
  private readonly stateTimeout: Duration;

  public constructor(scope: Construct, id: string, props: EmbedJobTaskProps) {
    super(scope, id, {
      ...props,
      jobQueueArn: props.jobQueue.jobQueueArn,
      jobDefinitionArn: props.jobDefinition.jobDefinitionArn,
    });
    this.stateTimeout = props.stateTimeout;
    const stack = Stack.of(this);
    this.taskPolicies = [
      // The task submits the definition's revision ARN, which is what IAM checks.
      new iam.PolicyStatement({
        actions: ['batch:SubmitJob'],
        resources: [props.jobQueue.jobQueueArn, props.jobDefinition.jobDefinitionArn],
      }),
      // DescribeJobs supports no resource-level permissions; TerminateJob is scoped to jobs.
      new iam.PolicyStatement({ actions: ['batch:DescribeJobs'], resources: ['*'] }),
      new iam.PolicyStatement({
        actions: ['batch:TerminateJob'],
        resources: [stack.formatArn({ service: 'batch', resource: 'job', resourceName: '*' })],
      }),
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [stack.formatArn({ service: 'events', resource: 'rule', resourceName: SYNC_EVENTS_RULE })],
      }),
    ];
  }

  protected override _renderTask(topLevelQueryLanguage?: sfn.QueryLanguage): unknown {
    const rendered = super._renderTask(topLevelQueryLanguage) as Record<string, unknown>;
    return { ...rendered, TimeoutSeconds: this.stateTimeout.toSeconds() };
  }
}
