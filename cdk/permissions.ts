/**
 * Least privilege in one place: which object-store prefixes and which table actions each part of
 * the daily run uses. The stack grants exactly these, and test/cdk-security.test.ts asserts the
 * synthesized policies against them. Prefixes follow the layout in src/pipeline/types.ts.
 */

import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';

export type TableAccess = 'none' | 'read' | 'read-write';

export interface AccessSpec {
  /** Prefixes the role may read (GetObject, and ListBucket restricted to them). */
  readonly read: readonly string[];
  /** Prefixes the role may write (PutObject; DeleteObject only where `delete` lists them). */
  readonly write: readonly string[];
  readonly delete?: readonly string[];
  readonly table: TableAccess;
}

/** Table actions per access level: reads never include writes; no role may scan, drop or export. */
export const TABLE_ACTIONS: Readonly<Record<Exclude<TableAccess, 'none'>, readonly string[]>> = {
  read: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:DescribeTable'],
  'read-write': [
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:DescribeTable',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
  ],
};

/** What each part of the daily run and the lookup touch. */
export const ACCESS: Readonly<Record<'plan' | 'partition' | 'embed' | 'publish' | 'lookup', AccessSpec>> = {
  // Lists the day's events and the previous snapshots, writes the run manifest, takes the run lock.
  plan: {
    read: ['events/', 'sequences/', 'runs/', 'models/'],
    write: ['runs/'],
    table: 'read-write',
  },
  // Routes one slice of events into per-partition work files. Never touches the table.
  partition: {
    read: ['events/', 'runs/', 'items/'],
    write: ['work/', 'runs/'],
    table: 'none',
  },
  // Batch job: merges sequences, embeds on the GPU, writes the partition's embeddings.
  embed: {
    read: ['work/', 'sequences/', 'models/', 'items/', 'runs/'],
    write: ['sequences/', 'embeddings/', 'runs/'],
    table: 'read-write',
  },
  // Validates the run, writes the version record and moves the pointer.
  publish: {
    read: ['runs/', 'embeddings/', 'models/', 'sequences/'],
    write: ['runs/', 'embeddings/'],
    table: 'read-write',
  },
  // Answers lookups: reads the table, nothing else.
  lookup: { read: [], write: [], table: 'read' },
};

/** Grants one AccessSpec on the bucket and table to a role. */
export function grantAccess(
  role: iam.IRole,
  spec: AccessSpec,
  bucket: s3.IBucket | undefined,
  table: dynamodb.ITableV2,
): void {
  const usesBucket = spec.read.length + spec.write.length + (spec.delete?.length ?? 0) > 0;
  if (usesBucket && !bucket) throw new Error('grantAccess: this access spec needs the bucket');
  if (!bucket) {
    grantTable(role, spec.table, table);
    return;
  }
  const objects = (prefixes: readonly string[]) => prefixes.map((prefix) => bucket.arnForObjects(`${prefix}*`));
  if (spec.read.length > 0) {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: objects(spec.read) }));
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': spec.read.map((prefix) => `${prefix}*`) } },
      }),
    );
  }
  if (spec.write.length > 0) {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: objects(spec.write) }));
  }
  if (spec.delete && spec.delete.length > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:DeleteObject'], resources: objects(spec.delete) }),
    );
  }
  grantTable(role, spec.table, table);
}

function grantTable(role: iam.IRole, access: TableAccess, table: dynamodb.ITableV2): void {
  if (access === 'none') return;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: [...TABLE_ACTIONS[access]], resources: [table.tableArn] }),
  );
}
