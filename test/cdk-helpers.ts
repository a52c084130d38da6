/**
 * Synthesizes the stack for the CDK tests: Lambda bundling is skipped (the tests assert the
 * template, not the bundles; `make synth` bundles for real), cdk-nag runs as on every synth.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type PolicyValidationPluginReport } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type DeploymentConfigInput, parseDeploymentConfig } from '../cdk/config.ts';
import { REPO_ROOT } from '../cdk/constructs/stage-function.ts';
import { PinnerFormerStack } from '../cdk/pinnerformer-stack.ts';

export interface Synthesized {
  readonly stack: PinnerFormerStack;
  readonly template: Template;
}

const cache = new Map<string, Synthesized>();

/** Synthesizes once per config and test file; `fresh` for a test that changes the stack. */
export function synthStack(config: DeploymentConfigInput = {}, fresh = false): Synthesized {
  const key = JSON.stringify(config);
  const cached = cache.get(key);
  if (cached && !fresh) return cached;
  const synthesized = synthFresh(config);
  if (!fresh) cache.set(key, synthesized);
  return synthesized;
}

/** The feature flags cdk.json sets, so the tests synthesize what `cdk deploy` would. */
export const FEATURE_FLAGS: Readonly<Record<string, unknown>> = Object.fromEntries(
  Object.entries(
    (JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context,
  ).filter(([key]) => key.startsWith('@aws-cdk') || key.startsWith('aws-cdk:')),
);

function synthFresh(config: DeploymentConfigInput): Synthesized {
  const parsed = parseDeploymentConfig(config);
  // Without cached lookup context a VPC lookup answers dummy ids (vpc-12345), which CloudFormation
  // validation (a recommended flag) rightly refuses in a real synth; here they stand in for a VPC.
  const lookupDummies = parsed.vpcId ? { '@aws-cdk/core:validateAgainstDefaultRules': false } : {};
  const app = new App({ context: { ...FEATURE_FLAGS, ...lookupDummies, 'aws:cdk:bundling-stacks': [] } });
  // A VPC lookup needs a concrete environment; without cached context CDK uses a dummy VPC.
  const env = parsed.vpcId ? { account: '123456789012', region: 'eu-west-1' } : undefined;
  const stack = new PinnerFormerStack(app, 'PinnerFormerTest', { config: parsed, env });
  return { stack, template: Template.fromStack(stack) };
}

/** Runs cdk-nag's AwsSolutions pack over a synthesized stack (acknowledged findings excluded). */
export function nagReport(stack: PinnerFormerStack): PolicyValidationPluginReport {
  return new AwsSolutionsChecks(stack, { verbose: false }).validateScope(stack);
}
