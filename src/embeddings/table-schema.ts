/**
 * The DynamoDB table schema: the one source of truth shared by the embedded dynalite set-up
 * (src/local/dynalite.ts), the store (src/embeddings/dynamo-store.ts), the client library and the
 * CDK stack (cdk/). Documented for downstream readers in docs/versioning.md.
 *
 * One table, string keys `pk` (partition) + `sk` (sort), TTL on `ttl`:
 *   embedding  pk = `u#<modelVersion>#<userId>`  sk = `YYYY-MM-DD[#attempt]`   e, n, [t], ttl
 *   pointer    pk = `#pointer`                    sk = `current`      modelVersion, date, version, seq, updatedAt
 *   version    pk = `#version`                    sk = `<mv>@<date>`  modelVersion, date, published, ...
 *   run lock   pk = `#lock`                       sk = `<mv>@<date>`  owner, expiresAt, acquiredAt
 * Embedding items use one-letter attribute names: names count towards the 1 KB write unit.
 */
import { isValidDate, MODEL_VERSION_HINT, MODEL_VERSION_PATTERN, RUN_DATE_HINT } from '../contract/run-contract.ts';
import { ValidationError } from '../util/errors.ts';
import type { EmbeddingDtype, VersionId } from './types.ts';

export const TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk' } as const;
/** DynamoDB's TTL attribute (epoch seconds); TTL deletion is lazy, so readers filter expired items. */
export const TTL_ATTRIBUTE = 'ttl';

/** Attribute names of an embedding item. */
export const EMBEDDING_ATTRS = {
  /** Binary: the vector, little-endian fp16 (default) or fp32. */
  vector: 'e',
  /** Number: dimensions. */
  dims: 'n',
  /** String: dtype, present only when not the default `float16` (i.e. `float32`). */
  dtype: 't',
  ttl: TTL_ATTRIBUTE,
} as const;

export const DEFAULT_DTYPE: EmbeddingDtype = 'float16';
/** Default history retention (days after an embedding's date before its TTL passes). */
export const DEFAULT_RETENTION_DAYS = 30;

export const USER_PK_PREFIX = 'u#';
export const POINTER_KEY = { pk: '#pointer', sk: 'current' } as const;
export const VERSION_PK = '#version';
export const LOCK_PK = '#lock';

const ATTEMPT_RE = /^[a-z0-9]{1,32}$/;

/** Model versions are part of keys (the run contract's pattern): `modelVersion@date` parses back unambiguously. */
export function assertModelVersion(modelVersion: string): void {
  if (!MODEL_VERSION_PATTERN.test(modelVersion)) {
    throw new ValidationError(`invalid model version ${JSON.stringify(modelVersion)}: ${MODEL_VERSION_HINT}`);
  }
}

export function assertDate(date: string): void {
  if (!isValidDate(date)) throw new ValidationError(`invalid date ${JSON.stringify(date)}: ${RUN_DATE_HINT}`);
}

export function versionIdOf(version: VersionId): string {
  return `${version.modelVersion}@${version.date}`;
}

/** Parses `modelVersion@YYYY-MM-DD`; ValidationError when malformed. */
export function parseVersionId(id: string): VersionId {
  const at = id.lastIndexOf('@');
  const modelVersion = at < 0 ? '' : id.slice(0, at);
  const date = at < 0 ? '' : id.slice(at + 1);
  if (!MODEL_VERSION_PATTERN.test(modelVersion) || !isValidDate(date)) {
    throw new ValidationError(`invalid version ${JSON.stringify(id)}: expected modelVersion@YYYY-MM-DD`);
  }
  return { modelVersion, date };
}

/** A validated copy of a version given as an object or as its id. */
export function toVersionId(version: VersionId | string): VersionId {
  if (typeof version === 'string') return parseVersionId(version);
  assertModelVersion(version.modelVersion);
  assertDate(version.date);
  if (version.attempt === undefined) return { modelVersion: version.modelVersion, date: version.date };
  if (!ATTEMPT_RE.test(version.attempt)) {
    throw new ValidationError(`invalid run attempt ${JSON.stringify(version.attempt)}: expected [a-z0-9]{1,32}`);
  }
  return { modelVersion: version.modelVersion, date: version.date, attempt: version.attempt };
}

/**
 * The sort key of a version's embedding items: its date, or `date#attempt` for a rerun's attempt.
 * `#` sorts after the end of a bare date and before the next day, so "newest <= D" is `sk < D$`.
 */
export function itemSortKey(version: VersionId): string {
  return version.attempt === undefined ? version.date : `${version.date}#${version.attempt}`;
}

/** The exclusive upper bound of the item sort keys at or before `date` (attempt keys included). */
export function itemSortKeyAfter(date: string): string {
  return `${date}$`;
}

/** The date of an item sort key (`date` or `date#attempt`). */
export function dateOfItemSortKey(sortKey: string): string {
  const hash = sortKey.indexOf('#');
  return hash < 0 ? sortKey : sortKey.slice(0, hash);
}

export function userPartitionKey(modelVersion: string, userId: string): string {
  return `${USER_PK_PREFIX}${modelVersion}#${userId}`;
}

/** Epoch seconds of `date` 00:00 UTC plus `days`. */
export function epochSecondsAfter(date: string, days: number): number {
  return Math.floor(Date.parse(`${date}T00:00:00Z`) / 1000) + Math.round(days * 86_400);
}

/** The TTL value of an embedding item dated `date`. */
export function ttlFor(date: string, retentionDays: number): number {
  return epochSecondsAfter(date, retentionDays);
}

/**
 * The refresh-age rule: a user whose newest embedding is older than `refreshAgeDays` is
 * re-embedded, so as long as refreshAgeDays < retentionDays every user with a sequence has an
 * unexpired embedding (one missed daily run of slack is required: refresh + 1 < retention).
 */
export function assertRefreshWithinRetention(refreshAgeDays: number, retentionDays: number): void {
  if (!(refreshAgeDays + 1 < retentionDays)) {
    throw new ValidationError(
      `refreshAgeDays (${refreshAgeDays}) + 1 must be below retentionDays (${retentionDays}) so that no embedding expires`,
    );
  }
}

/** The key schema and TTL for CreateTable / the CDK `Table` construct. */
export const TABLE_DEFINITION = {
  attributeDefinitions: [
    { AttributeName: TABLE_KEYS.partitionKey, AttributeType: 'S' },
    { AttributeName: TABLE_KEYS.sortKey, AttributeType: 'S' },
  ],
  keySchema: [
    { AttributeName: TABLE_KEYS.partitionKey, KeyType: 'HASH' },
    { AttributeName: TABLE_KEYS.sortKey, KeyType: 'RANGE' },
  ],
  ttlAttribute: TTL_ATTRIBUTE,
  billingMode: 'PAY_PER_REQUEST',
} as const;

/** Table name of local mode (AWS passes the CDK stack's name). */
export const DEFAULT_LOCAL_TABLE_NAME = 'pinnerformer-embeddings';
