/**
 * Security of the synthesized template: least privilege per role (asserted on the policies CDK
 * actually emits, not on our intent), encryption at rest and in transit, and no endpoint that
 * answers without IAM auth.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACCESS, TABLE_READ_ACTIONS } from '../cdk/permissions.ts';
import { type SystemPart, tableGrantsOf } from '../src/contract/table-access.ts';
import { LOCK_PK, POINTER_KEY, USER_PK_PREFIX, VERSION_PK } from '../src/embeddings/table-schema.ts';
import { synthStack } from './cdk-helpers.ts';

interface Statement {
  readonly actions: readonly string[];
  readonly resources: readonly string[];
  readonly effect: string;
  readonly condition?: unknown;
}

/** Renders an ARN expression readably: `<DataBucketABC.Arn>/work/*`, `<TableXYZ.Arn>`, `*`. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v['Fn::GetAtt']) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
  if (v.Ref) return `<${String(v.Ref)}>`;
  if (v['Fn::Join']) return (v['Fn::Join'] as [string, unknown[]])[1].map(render).join((v['Fn::Join'] as [string])[0]);
  return JSON.stringify(value);
}

const list = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Every Allow/Deny statement attached to each role (inline policies and AWS::IAM::Policy resources). */
function statementsByRole(template: Template): Map<string, Statement[]> {
  const byRole = new Map<string, Statement[]>();
  const add = (role: string, document: { Statement: Record<string, unknown>[] }) => {
    const statements = byRole.get(role) ?? [];
    for (const s of document.Statement) {
      statements.push({
        actions: list(s.Action as string | string[]),
        resources: list(s.Resource).map(render),
        effect: String(s.Effect),
        ...(s.Condition ? { condition: s.Condition } : {}),
      });
    }
    byRole.set(role, statements);
  };
  for (const [id, role] of Object.entries(template.findResources('AWS::IAM::Role'))) {
    byRole.set(id, byRole.get(id) ?? []);
    for (const policy of list(
      (role as { Properties: { Policies?: { PolicyDocument: never }[] } }).Properties.Policies,
    )) {
      add(id, policy.PolicyDocument);
    }
  }
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    const props = (policy as { Properties: { PolicyDocument: never; Roles: { Ref: string }[] } }).Properties;
    for (const role of props.Roles) add(role.Ref, props.PolicyDocument);
  }
  return byRole;
}

function roleNamed(byRole: Map<string, Statement[]>, pattern: RegExp): Statement[] {
  const matches = [...byRole.keys()].filter((id) => pattern.test(id));
  expect(matches, `exactly one role matches ${pattern}`).toHaveLength(1);
  return byRole.get(matches[0]!)!;
}

const actionsOn = (statements: Statement[], prefix: string) =>
  statements.flatMap((s) =>
    s.actions.filter((a) => a.startsWith(prefix)).map((action) => ({ action, resources: s.resources })),
  );

const WRITE_ACTIONS =
  /^(s3:(Put|Delete|Copy|Restore)|dynamodb:(Put|Update|Delete|BatchWrite|CreateTable|DeleteTable|UpdateTable|Import|Restore))/;

describe('least privilege on the synthesized template', () => {
  let template: Template;
  let byRole: Map<string, Statement[]>;
  let tableArn: string;
  let bucketArn: string;
  beforeAll(() => {
    template = synthStack().template;
    byRole = statementsByRole(template);
    tableArn = `<${Object.keys(template.findResources('AWS::DynamoDB::GlobalTable'))[0]}.Arn>`;
    const bucketId = Object.keys(template.findResources('AWS::S3::Bucket')).find((id) => id.startsWith('DataBucket'))!;
    bucketArn = `<${bucketId}.Arn>`;
  });

  it('grants no wildcard actions and no "*" resource except for actions that only support it', () => {
    const resourceStarAllowed =
      /^(xray:|logs:(CreateLogDelivery|GetLogDelivery|UpdateLogDelivery|DeleteLogDelivery|ListLogDeliveries|PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)$|ecr:GetAuthorizationToken$|batch:DescribeJobs$)/;
    for (const [role, statements] of byRole) {
      for (const s of statements.filter((st) => st.effect === 'Allow')) {
        for (const action of s.actions) expect(action, role).not.toMatch(/(^\*$|:\*$)/);
        if (s.resources.includes('*'))
          for (const action of s.actions) expect(action, `${role} on *`).toMatch(resourceStarAllowed);
      }
    }
  });

  it('lets the lookup role only read the table', () => {
    const statements = roleNamed(byRole, /^LookupRole/);
    const dynamo = actionsOn(statements, 'dynamodb:');
    expect(dynamo.length).toBeGreaterThan(0);
    for (const { action, resources } of dynamo) {
      expect(TABLE_READ_ACTIONS).toContain(action);
      expect(resources).toEqual([tableArn]);
    }
    expect(actionsOn(statements, 's3:')).toEqual([]);
    const other = statements.flatMap((s) => s.actions).filter((a) => !/^(dynamodb|logs|xray):/.test(a));
    expect(other).toEqual([]);
    for (const { resources } of actionsOn(statements, 'logs:')) expect(resources[0]).toMatch(/^<LookupLogs/);
  });

  it('gives the partition function no table access at all, and writes only under work/ and runs/', () => {
    const statements = roleNamed(byRole, /^DailyRunPartitionRole/);
    expect(actionsOn(statements, 'dynamodb:')).toEqual([]);
    const writes = statements.flatMap((s) => s.actions.filter((a) => WRITE_ACTIONS.test(a)).flatMap(() => s.resources));
    expect(writes.sort()).toEqual([`${bucketArn}/runs/*`, `${bucketArn}/work/*`]);
  });

  it('lets the Batch job role write only its table and its S3 prefixes', () => {
    const statements = roleNamed(byRole, /^BatchJobRole/);
    const writeResources = new Set<string>();
    for (const s of statements) {
      if (s.actions.some((a) => WRITE_ACTIONS.test(a))) for (const r of s.resources) writeResources.add(r);
    }
    const allowed = new Set([tableArn, ...ACCESS.embed.write.map((prefix) => `${bucketArn}/${prefix}*`)]);
    expect([...writeResources].sort()).toEqual([...allowed].sort());
    // and nothing but S3 objects of its prefixes, the bucket listing and the table
    const everything = new Set(statements.flatMap((s) => s.resources));
    for (const resource of everything) {
      expect(resource === tableArn || resource === bucketArn || resource.startsWith(`${bucketArn}/`), resource).toBe(
        true,
      );
    }
    // listing is restricted to the prefixes it reads
    const listing = statements.find((s) => s.actions.includes('s3:ListBucket'))!;
    expect(JSON.stringify(listing.condition)).toContain('work/*');
  });

  it('pins every table write to its item kind with dynamodb:LeadingKeys, and lets no role scan', () => {
    const writesOf = (pattern: RegExp) =>
      roleNamed(byRole, pattern)
        .filter((s) => s.actions.some((a) => /^dynamodb:(Put|Update|Delete|BatchWrite)/.test(a)))
        .map((s) => ({ actions: [...s.actions].sort(), condition: s.condition }));
    const leading = (...keys: string[]) => ({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': keys } });
    // the Batch job writes embedding items only: it cannot touch the pointer, versions or locks
    expect(writesOf(/^BatchJobRole/)).toEqual([
      { actions: ['dynamodb:BatchWriteItem'], condition: leading(`${USER_PK_PREFIX}*`) },
    ]);
    // the plan takes the run lock and reads its holder, on lock items only (IAM merges the two)
    expect(writesOf(/^DailyRunPlanRole/)).toEqual([
      { actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], condition: leading(LOCK_PK) },
    ]);
    // publish reads and writes versions and the pointer only (IAM merges the reads and writes)
    expect(writesOf(/^DailyRunPublishRole/)).toEqual([
      {
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        condition: leading(POINTER_KEY.pk, VERSION_PK),
      },
    ]);
    for (const [role, statements] of byRole) {
      for (const s of statements) expect(s.actions, role).not.toContain('dynamodb:Scan');
    }
  });

  it("grants each part exactly its table roles' actions, each on its item kinds (src/contract/table-access.ts)", () => {
    // one "action on keys" line per action of every table statement, as the template has them
    const tableAccess = (statements: Statement[]) =>
      statements
        .filter((s) => s.effect === 'Allow' && s.actions.some((a) => a.startsWith('dynamodb:')))
        .flatMap((s) => {
          expect(s.resources, 'table statements name the table only').toEqual([tableArn]);
          const keys = (s.condition as { 'ForAllValues:StringLike'?: { 'dynamodb:LeadingKeys'?: string[] } })?.[
            'ForAllValues:StringLike'
          ]?.['dynamodb:LeadingKeys'];
          return s.actions.map((a) => `${a} on ${keys ? [...keys].sort().join(',') : 'any item'}`);
        });
    const fromRoles = (part: SystemPart) =>
      tableGrantsOf(part).flatMap((g) =>
        g.actions.map((a) => `${a} on ${g.leadingKeys ? [...g.leadingKeys].sort().join(',') : 'any item'}`),
      );
    const roles: [RegExp, SystemPart][] = [
      [/^DailyRunPlanRole/, 'plan'],
      [/^DailyRunPartitionRole/, 'partition'],
      [/^BatchJobRole/, 'embed'],
      [/^DailyRunPublishRole/, 'publish'],
      [/^LookupRole/, 'lookup'],
    ];
    for (const [pattern, part] of roles) {
      expect(new Set(tableAccess(roleNamed(byRole, pattern))), part).toEqual(new Set(fromRoles(part)));
    }
    // the plan reads the versions (previous state, the write policy's dates): Query on version items
    expect(tableAccess(roleNamed(byRole, /^DailyRunPlanRole/))).toContain(
      `dynamodb:Query on ${[POINTER_KEY.pk, VERSION_PK].sort().join(',')}`,
    );
    // the embed job only writes embedding items: the write policy's dates come in the run manifest
    expect(tableAccess(roleNamed(byRole, /^BatchJobRole/))).toEqual([`dynamodb:BatchWriteItem on ${USER_PK_PREFIX}*`]);
  });

  it('keeps the publish function (the only pointer writer besides rollback) off work/ and events/', () => {
    const statements = roleNamed(byRole, /^DailyRunPublishRole/);
    const s3Resources = actionsOn(statements, 's3:').flatMap((a) => a.resources);
    expect(s3Resources.some((r) => r.includes('/work/') || r.includes('/events/'))).toBe(false);
  });

  it('lets the state machine submit only the embed job definition to its queues, and stop the jobs it started', () => {
    const statements = roleNamed(byRole, /^DailyRunStateMachineRole/);
    const batch = actionsOn(statements, 'batch:');
    const on = (action: string) => batch.filter((a) => a.action === action).flatMap((a) => a.resources);
    // SubmitJob: this job definition's revision and the two queues, nothing else
    expect([...new Set(on('batch:SubmitJob'))].sort()).toEqual([
      expect.stringMatching(/^<BatchEmbedJob[0-9A-F]+>$/),
      expect.stringMatching(/^<BatchQueue[0-9A-F]+\.JobQueueArn>$/),
      expect.stringMatching(/^<BatchSpotQueue[0-9A-F]+\.JobQueueArn>$/),
    ]);
    // .sync needs DescribeJobs (no resource-level permissions) and TerminateJob, so stopping or
    // timing out the execution terminates the array job, and the managed events rule
    expect(new Set(on('batch:DescribeJobs'))).toEqual(new Set(['*']));
    expect(on('batch:TerminateJob').length).toBeGreaterThan(0);
    for (const resource of on('batch:TerminateJob')) expect(resource).toMatch(/:job\/\*$/);
    const rule = actionsOn(statements, 'events:');
    expect(new Set(rule.map((a) => a.action))).toEqual(
      new Set(['events:PutTargets', 'events:PutRule', 'events:DescribeRule']),
    );
    for (const a of rule)
      expect(a.resources).toEqual([expect.stringMatching(/:rule\/StepFunctionsGetEventsForBatchJobsRule$/)]);
    // the Distributed Map reads the slice lists only, not the bucket
    expect(actionsOn(statements, 's3:GetObject').flatMap((a) => a.resources)).toEqual([
      `${bucketArn}/runs/*/slices.json`,
    ]);
  });

  it('lets the state machine delete its run lock only, and never write items into the table', () => {
    const statements = roleNamed(byRole, /^DailyRunStateMachineRole/);
    const dynamo = statements.filter((s) => s.actions.some((a) => a.startsWith('dynamodb:')));
    expect(dynamo.flatMap((s) => s.actions).every((a) => a === 'dynamodb:DeleteItem')).toBe(true);
    const allow = dynamo.filter((s) => s.effect === 'Allow');
    const deny = dynamo.filter((s) => s.effect === 'Deny');
    expect(allow.length).toBeGreaterThan(0);
    // every item but the lock partition is denied, whatever the task's grant allows
    expect(deny).toHaveLength(1);
    expect(deny[0]!.resources).toEqual([tableArn]);
    expect(deny[0]!.condition).toEqual({ 'ForAnyValue:StringNotEquals': { 'dynamodb:LeadingKeys': [LOCK_PK] } });
  });
});

describe('encryption at rest and in transit, no unauthenticated endpoint', () => {
  let template: Template;
  beforeAll(() => {
    template = synthStack({ lookupAuth: 'api-gateway-iam' }).template;
  });

  it('encrypts every bucket, the table and the queue at rest', () => {
    for (const bucket of Object.values(template.findResources('AWS::S3::Bucket'))) {
      expect((bucket as { Properties: Record<string, unknown> }).Properties.BucketEncryption).toBeDefined();
    }
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', { SSESpecification: { SSEEnabled: true } });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  it('refuses plain HTTP on every bucket, the topic and the queue', () => {
    const deniesInsecure = (policy: unknown) =>
      list((policy as { PolicyDocument: { Statement: Record<string, unknown>[] } }).PolicyDocument.Statement).some(
        (s) => s.Effect === 'Deny' && JSON.stringify(s.Condition).includes('"aws:SecureTransport":"false"'),
      );
    const bucketPolicies = Object.values(template.findResources('AWS::S3::BucketPolicy')).map(
      (p) => (p as { Properties: unknown }).Properties,
    );
    expect(bucketPolicies).toHaveLength(Object.keys(template.findResources('AWS::S3::Bucket')).length);
    for (const policy of bucketPolicies) expect(deniesInsecure(policy)).toBe(true);
    for (const type of ['AWS::SNS::TopicPolicy', 'AWS::SQS::QueuePolicy']) {
      const policies = Object.values(template.findResources(type)).map(
        (p) => (p as { Properties: unknown }).Properties,
      );
      expect(policies.length, type).toBeGreaterThan(0);
      for (const policy of policies) expect(deniesInsecure(policy), type).toBe(true);
    }
  });

  it('exposes no endpoint without IAM auth', () => {
    for (const method of Object.values(template.findResources('AWS::ApiGateway::Method'))) {
      expect((method as { Properties: { AuthorizationType: string } }).Properties.AuthorizationType).toBe('AWS_IAM');
    }
    const defaultTemplate = synthStack().template;
    for (const url of Object.values(defaultTemplate.findResources('AWS::Lambda::Url'))) {
      expect((url as { Properties: { AuthType: string } }).Properties.AuthType).toBe('AWS_IAM');
    }
    for (const t of [template, defaultTemplate]) {
      for (const permission of Object.values(t.findResources('AWS::Lambda::Permission'))) {
        const props = (permission as { Properties: Record<string, unknown> }).Properties;
        expect(props.Principal).not.toBe('*');
        expect(props.FunctionUrlAuthType).not.toBe('NONE');
      }
      // the workers' security group admits nothing inbound
      for (const group of Object.values(t.findResources('AWS::EC2::SecurityGroup'))) {
        expect((group as { Properties: Record<string, unknown> }).Properties.SecurityGroupIngress).toBeUndefined();
      }
    }
  });
});
