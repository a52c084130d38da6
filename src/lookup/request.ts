/**
 * The lookup API's input contract (zod): one `userId` or `userIds` (1..100), optional `version`
 * (`modelVersion@YYYY-MM-DD`). Anything else is a 400, never a 500.
 */
import { z } from 'zod';
import { parseVersionId } from '../embeddings/table-schema.ts';
import type { VersionId } from '../embeddings/types.ts';

export const MAX_BATCH = 100;
/** User ids longer than this (UTF-8 bytes) are refused. */
export const MAX_LOOKUP_USER_ID_BYTES = 512;

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const BAD_CHARS = /[\u0000-\u001f\u007f-\u009f]|\p{Cs}/u;

const userId = z
  .string()
  .min(1, 'userId must not be empty')
  .max(MAX_LOOKUP_USER_ID_BYTES, `userId must be at most ${MAX_LOOKUP_USER_ID_BYTES} bytes`)
  .refine(
    (id) => Buffer.byteLength(id, 'utf8') <= MAX_LOOKUP_USER_ID_BYTES,
    `userId must be at most ${MAX_LOOKUP_USER_ID_BYTES} bytes`,
  )
  .refine((id) => !BAD_CHARS.test(id), 'userId must not contain control characters or unpaired surrogates');

const version = z
  .string()
  .max(100, 'version is too long')
  .refine((v) => {
    try {
      parseVersionId(v);
      return true;
    } catch {
      return false;
    }
  }, 'version must be modelVersion@YYYY-MM-DD');

const requestSchema = z
  .object({
    userId: userId.optional(),
    userIds: z
      .array(userId)
      .min(1, 'userIds must not be empty')
      .max(MAX_BATCH, `at most ${MAX_BATCH} userIds per request`)
      .optional(),
    // JSON null counts as absent (a caller serialising an unset field), like undefined.
    version: version.nullish(),
  })
  .refine((r) => (r.userId === undefined) !== (r.userIds === undefined), 'give exactly one of userId or userIds');

export type ParsedLookupRequest =
  | { readonly kind: 'single'; readonly userId: string; readonly version?: VersionId }
  | { readonly kind: 'batch'; readonly userIds: readonly string[]; readonly version?: VersionId };

export type ParseOutcome =
  | { readonly ok: true; readonly request: ParsedLookupRequest }
  | { readonly ok: false; readonly message: string };

/** Validates an untrusted request object; never throws. */
export function parseLookupRequest(input: unknown): ParseOutcome {
  const parsed = requestSchema.safeParse(input);
  if (!parsed.success) {
    const message = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || 'request'}: ${issue.message}`)
      .join('; ');
    return { ok: false, message };
  }
  const pinned = parsed.data.version == null ? undefined : parseVersionId(parsed.data.version);
  const request: ParsedLookupRequest =
    parsed.data.userId !== undefined
      ? { kind: 'single', userId: parsed.data.userId, ...(pinned && { version: pinned }) }
      : { kind: 'batch', userIds: [...new Set(parsed.data.userIds)], ...(pinned && { version: pinned }) };
  return { ok: true, request };
}
