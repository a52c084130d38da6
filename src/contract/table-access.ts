/**
 * The embedding table's roles (src/embeddings/types.ts) and what each may do on AWS, in one place:
 * the DynamoDB actions each role's code sends, pinned to the item kinds it touches with
 * `dynamodb:LeadingKeys` (src/embeddings/table-schema.ts), and the roles each part of the system
 * is given. cdk/permissions.ts grants a part exactly its roles' actions; the Lambdas and the
 * Batch worker open exactly those roles (lambdas/shared/runtime.ts, batch-container/worker.ts);
 * test/table-access.test.ts runs each role's code on dynalite and checks both directions.
 */
import { LOCK_PK, POINTER_KEY, USER_PK_PREFIX, VERSION_PK } from '../embeddings/table-schema.ts';

/** Table actions, optionally only on items whose partition key matches one of `leadingKeys` (StringLike). */
export interface TableGrant {
  readonly actions: readonly string[];
  readonly leadingKeys?: readonly string[];
}

/** The version records and the pointer. */
const VERSION_KEYS = [POINTER_KEY.pk, VERSION_PK];
const versionReads: TableGrant = { actions: ['dynamodb:GetItem', 'dynamodb:Query'], leadingKeys: VERSION_KEYS };
const lockTaking: readonly TableGrant[] = [
  { actions: ['dynamodb:PutItem'], leadingKeys: [LOCK_PK] },
  // the holder's name when the lock is taken
  { actions: ['dynamodb:GetItem'], leadingKeys: [LOCK_PK] },
];

/** What each role's code sends. No role scans. */
export const TABLE_ROLE_GRANTS = {
  /** BatchWriteItem of embedding items (DynamoEmbeddingWriter). */
  embeddingWriter: [{ actions: ['dynamodb:BatchWriteItem'], leadingKeys: [`${USER_PK_PREFIX}*`] }],
  /** Reads of versions and the pointer (DynamoVersionReader). */
  versionReader: [versionReads],
  /** Those reads, plus the conditional writes of versions and the pointer (DynamoVersionRegistry). */
  versionRegistry: [versionReads, { actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'], leadingKeys: VERSION_KEYS }],
  /** Takes a run lock and reads its holder (DynamoRunLockTaker). */
  runLockTaker: lockTaking,
  /** Releases too (DynamoRunLocks). */
  runLocks: [...lockTaking, { actions: ['dynamodb:DeleteItem'], leadingKeys: [LOCK_PK] }],
  /** The read path: pointer, versions and embedding items, never locks (DynamoEmbeddingReader). */
  embeddingReader: [
    { actions: ['dynamodb:GetItem', 'dynamodb:Query'], leadingKeys: [...VERSION_KEYS, `${USER_PK_PREFIX}*`] },
  ],
} as const satisfies Record<string, readonly TableGrant[]>;

export type TableRole = keyof typeof TABLE_ROLE_GRANTS;

/**
 * The roles each part is given. The state machine releases the run lock with its own DeleteItem
 * task (cdk/constructs/daily-run.ts), so no function holds `runLocks`.
 */
export const PART_TABLE_ROLES = {
  plan: ['versionReader', 'runLockTaker'],
  partition: [],
  embed: ['embeddingWriter'],
  publish: ['versionRegistry'],
  lookup: ['embeddingReader'],
} as const satisfies Record<string, readonly TableRole[]>;

export type SystemPart = keyof typeof PART_TABLE_ROLES;

/** The table grants of a part: its roles' grants, in order. */
export function tableGrantsOf(part: SystemPart): TableGrant[] {
  return PART_TABLE_ROLES[part].flatMap((role: TableRole) => [...TABLE_ROLE_GRANTS[role]]);
}
