/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy` (cdk.json runs this with tsx). The deployment
 * config comes from cdk.json's "pinnerformer" context, overridable with `-c key=value`
 * (cdk/config.ts). cdk-nag's AwsSolutions checks run on every synth: an unsuppressed error fails it.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readDeploymentConfig } from '../cdk/config.ts';
import { PinnerFormerStack } from '../cdk/pinnerformer-stack.ts';

const app = new App();
const config = readDeploymentConfig((key) => app.node.tryGetContext(key));
new PinnerFormerStack(app, config.stackName, {
  config,
  description: 'PinnerFormer daily user embeddings: S3, DynamoDB, Step Functions, Batch GPU, lookup API',
  // Environment-agnostic unless a VPC lookup needs the account and region.
  env: config.vpcId ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION } : undefined,
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
