/**
 * cdk-nag AwsSolutions over the stack: no finding may be left unacknowledged, in the default
 * configuration and in the alternative one (API Gateway, existing VPC, on-demand, image URI).
 * Acknowledgements live in cdk/nag-suppressions.ts, each with its reason.
 */
import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { nagReport, synthStack } from './cdk-helpers.ts';

const findings = (report: ReturnType<typeof nagReport>) =>
  report.violations.map(
    (v) => `${v.ruleName} @ ${v.violatingResources.map((r) => r.constructPath ?? r.resourceLogicalId).join(', ')}`,
  );

describe('cdk-nag AwsSolutions', () => {
  it('reports nothing unacknowledged on the default stack', () => {
    const { stack } = synthStack();
    const report = nagReport(stack);
    expect(findings(report)).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('reports nothing unacknowledged with API Gateway, an existing VPC, on-demand only and an image URI', () => {
    const { stack } = synthStack({
      lookupAuth: 'api-gateway-iam',
      vpcId: 'vpc-0123456789abcdef0',
      spot: false,
      imageUri: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/pinnerformer:1.0.0@sha256:${'0'.repeat(64)}`,
    });
    expect(findings(nagReport(stack))).toEqual([]);
  });

  it('catches a real violation (the check is live, not silenced)', () => {
    // Prepare: a role with a wildcard grant that no acknowledgement covers
    const { stack } = synthStack({}, true);
    const role = new iam.Role(stack, 'TooBroad', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] }));
    // Act
    const report = nagReport(stack);
    // Assess
    expect(findings(report).some((f) => f.startsWith('AwsSolutions-IAM5') && f.includes('TooBroad'))).toBe(true);
  });

  it('gives every acknowledgement a written reason', () => {
    const { stack } = synthStack();
    const acknowledged = new Map<string, string>();
    for (const construct of stack.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          acknowledged.set(`${construct.node.path} ${id}`, reason);
        }
      }
    }
    expect(acknowledged.size).toBeGreaterThan(5);
    for (const [id, reason] of acknowledged) expect(reason.length, id).toBeGreaterThan(30);
  });
});
