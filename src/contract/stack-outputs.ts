/**
 * The stack's output names and default stack name: the stack writes them, `pinnerformer aws`
 * (src/cli/aws.ts) reads them. Kept free of aws-cdk-lib so the CLI loads fast.
 */
export const DEFAULT_STACK_NAME = 'PinnerFormer';

export const STACK_OUTPUTS = {
  bucketName: 'BucketName',
  tableName: 'TableName',
  stateMachineArn: 'StateMachineArn',
  lookupUrl: 'LookupUrl',
  alertsTopicArn: 'AlertsTopicArn',
  dashboardName: 'DashboardName',
  jobQueueArn: 'JobQueueArn',
  /** The on-demand queue the run falls back to after the Spot attempt (same as jobQueueArn without Spot). */
  onDemandJobQueueArn: 'OnDemandJobQueueArn',
  scheduleName: 'ScheduleName',
  /** The write units per second the run's lanes are paced to together (cdk config runWriteUnitsPerSecond). */
  runWriteUnitsPerSecond: 'RunWriteUnitsPerSecond',
} as const;

export type StackOutputs = { -readonly [K in keyof typeof STACK_OUTPUTS]?: string };
