/**
 * Least privilege in one place: which object-store prefixes each part of the system uses (traced
 * from src/pipeline/*) and, from src/contract/table-access.ts, the table actions of the roles each
 * part is given. The stack grants exactly these, and test/cdk-security.test.ts asserts the
 * synthesized policies. Prefixes follow the layout in src/pipeline/types.ts; table access is
 * pinned to the item kinds of src/embeddings/table-schema.ts with the `dynamodb:LeadingKeys` condition.
 */
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { type SystemPart, type TableGrant, tableGrantsOf } from '../src/contract/table-access.ts';

export type { TableGrant } from '../src/contract/table-access.ts';

export interface AccessSpec {
  /** Prefixes the role may read (GetObject, and ListBucket restricted to them). */
  readonly read: readonly string[];
  /** Prefixes the role may write (PutObject). No role deletes objects: lifecycle rules do. */
  readonly write: readonly string[];
  readonly table: readonly TableGrant[];
}

/** The read-only actions on the table; no role may Scan. */
export const TABLE_READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'] as const;

/** What each part touches. */
export const ACCESS = {
  // Lists the day's events and earlier runs, reads the deployed manifest, lists the previous
  // state's files (src/pipeline/state-chain.ts), writes the run manifest; reads the versions and
  // the pointer (previous state, the write policy's dates) and takes the run lock (lock items only).
  plan: {
    read: ['events/', 'runs/', 'models/', 'sequences/', 'embeddings/'],
    write: ['runs/'],
    table: tableGrantsOf('plan'),
  },
  // Routes one slice of events into per-partition work files. Never touches the table.
  partition: { read: ['events/', 'runs/'], write: ['work/', 'runs/'], table: tableGrantsOf('partition') },
  // Batch job: merges sequences, embeds on the GPU, writes its snapshots, result and embedding
  // items, and nothing else: it cannot touch the pointer, versions or locks.
  embed: {
    read: ['work/', 'sequences/', 'embeddings/', 'models/', 'items/', 'runs/'],
    write: ['sequences/', 'embeddings/', 'runs/'],
    table: tableGrantsOf('embed'),
  },
  // Reads the run's results, records the version and moves the pointer (conditional writes).
  publish: { read: ['runs/'], write: ['runs/'], table: tableGrantsOf('publish') },
  // Answers lookups: reads the table, nothing else.
  lookup: { read: [], write: [], table: tableGrantsOf('lookup') },
} as const satisfies Record<SystemPart, AccessSpec>;

/** Grants one AccessSpec on the bucket and table to a role. */
export function grantAccess(
  role: iam.IRole,
  spec: AccessSpec,
  bucket: s3.IBucket | undefined,
  table: dynamodb.ITableV2,
): void {
  if (spec.read.length + spec.write.length > 0) {
    if (!bucket) throw new Error('grantAccess: this access spec needs the bucket');
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
  }
  for (const grant of spec.table) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [...grant.actions],
        resources: [table.tableArn],
        ...(grant.leadingKeys
          ? { conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...grant.leadingKeys] } } }
          : {}),
      }),
    );
  }
}
