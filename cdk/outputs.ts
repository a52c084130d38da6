/**
 * The stack's output names and default stack name: shared by the stack and `pinnerformer aws`
 * (src/cli/aws.ts), kept free of aws-cdk-lib so the CLI loads fast.
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
} as const;

export type StackOutputs = { -readonly [K in keyof typeof STACK_OUTPUTS]?: string };
