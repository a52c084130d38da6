/**
 * The embedding item: built from a record for writing, decoded for reading. Layout in
 * ./table-schema.ts and docs/versioning.md.
 */
import type { AttributeValue, WriteRequest } from '@aws-sdk/client-dynamodb';
import { PinnerFormerError, ValidationError } from '../util/errors.ts';
import { decodeVector, encodeVector } from './codec.ts';
import {
  DEFAULT_DTYPE,
  dateOfItemSortKey,
  EMBEDDING_ATTRS,
  itemSortKey,
  ttlFor,
  userPartitionKey,
  versionIdOf,
} from './table-schema.ts';
import type { EmbeddingDtype, EmbeddingRecord, LookupResult, VersionId } from './types.ts';

/** Largest user id accepted for writing (DynamoDB's partition key limit is 2048 bytes). */
export const MAX_USER_ID_BYTES = 1024;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const BAD_ID_CHARS = /[\u0000-\u001f\u007f]|\p{Cs}/u;

/** User ids are key material: non-empty, well-formed, no control characters, bounded. */
export function assertUserId(userId: string): void {
  if (typeof userId !== 'string' || userId.length === 0)
    throw new ValidationError('user id must be a non-empty string');
  if (BAD_ID_CHARS.test(userId))
    throw new ValidationError('user id contains control characters or unpaired surrogates');
  if (Buffer.byteLength(userId, 'utf8') > MAX_USER_ID_BYTES) {
    throw new ValidationError(`user id is longer than ${MAX_USER_ID_BYTES} bytes`);
  }
}

/**
 * One deterministic put per record (same inputs, same bytes: retries and reruns are idempotent).
 * ValidationError before anything is written for empty/bad/duplicate ids, mixed dims, non-finite values.
 */
export function buildPutRequests(
  version: VersionId,
  records: readonly EmbeddingRecord[],
  dtype: EmbeddingDtype,
  retentionDays: number,
): WriteRequest[] {
  const ttl = String(ttlFor(version.date, retentionDays));
  const sortKey = itemSortKey(version);
  const seen = new Set<string>();
  let dims: number | undefined;
  return records.map((record) => {
    assertUserId(record.userId);
    if (seen.has(record.userId))
      throw new ValidationError(`duplicate user id in one write: ${JSON.stringify(record.userId)}`);
    seen.add(record.userId);
    const vector = record.embedding;
    dims ??= vector.length;
    if (vector.length === 0 || vector.length !== dims) {
      throw new ValidationError(
        `embedding of ${JSON.stringify(record.userId)} has ${vector.length} dims, expected ${dims}`,
        {
          userId: record.userId,
        },
      );
    }
    for (const value of vector) {
      if (!Number.isFinite(value)) {
        throw new ValidationError(`embedding of ${JSON.stringify(record.userId)} has a non-finite value`, {
          userId: record.userId,
        });
      }
    }
    const item: Record<string, AttributeValue> = {
      pk: { S: userPartitionKey(version.modelVersion, record.userId) },
      sk: { S: sortKey },
      [EMBEDDING_ATTRS.vector]: { B: encodeVector(vector, dtype) },
      [EMBEDDING_ATTRS.dims]: { N: String(vector.length) },
      [EMBEDDING_ATTRS.ttl]: { N: ttl },
    };
    if (dtype !== DEFAULT_DTYPE) item[EMBEDDING_ATTRS.dtype] = { S: dtype };
    return { PutRequest: { Item: item } };
  });
}

/** Decodes an embedding item; undefined when its TTL is at or before `expiredAtOrBefore` (epoch s). */
export function decodeItem(
  userId: string,
  version: VersionId,
  item: Record<string, AttributeValue>,
  expiredAtOrBefore: number,
): LookupResult | undefined {
  const ttl = Number(item[EMBEDDING_ATTRS.ttl]?.N ?? Number.POSITIVE_INFINITY);
  if (ttl <= expiredAtOrBefore) return undefined;
  const dims = Number(item[EMBEDDING_ATTRS.dims]?.N);
  const bytes = item[EMBEDDING_ATTRS.vector]?.B;
  const dtype = (item[EMBEDDING_ATTRS.dtype]?.S ?? DEFAULT_DTYPE) as EmbeddingDtype;
  // A stored item that does not decode is the table's fault, not the caller's: not a ValidationError (400).
  const corrupt = (cause?: unknown) =>
    new PinnerFormerError(
      'CORRUPT_ITEM',
      `stored embedding of ${JSON.stringify(userId)} does not decode`,
      { userId },
      { cause },
    );
  if (!bytes || !Number.isInteger(dims) || dims <= 0 || (dtype !== 'float16' && dtype !== 'float32')) throw corrupt();
  let embedding: Float32Array;
  try {
    embedding = decodeVector(bytes, dims, dtype);
  } catch (error) {
    throw corrupt(error);
  }
  return {
    userId,
    version: versionIdOf(version),
    modelVersion: version.modelVersion,
    date: dateOfItemSortKey(item.sk?.S ?? ''),
    dims,
    embedding: Array.from(embedding),
  };
}
