/**
 * The lookup API's HTTP routes, once, for the lookup Lambda (lambdas/lookup.ts) and the local
 * server (./http-server.ts); each only adapts its transport to LookupHttpRequest and writes the
 * LookupHttpResponse back as JSON:
 *   GET  /users/{userId}[?version=mv@YYYY-MM-DD]          one user
 *   POST /users:batch  {"userIds": [...], "version"?: "..."}   up to 100 users
 *   GET  /users/{userId}/recommendations[?k=10&version=...&new=true]  with a recommender only (local)
 * Status codes: 200, 400 (bad input, a body over the limit), 404 (unknown user, version or
 * route), 405 (wrong method), 500 only when the store fails.
 */
import { parseVersionId } from '../embeddings/table-schema.ts';
import { NotFoundError, ValidationError } from '../util/errors.ts';
import type { LookupHandler } from './handler.ts';
import type { Recommender } from './recommend.ts';

/** Largest accepted request body (100 ids of 512 bytes fit with room). */
export const MAX_LOOKUP_BODY_BYTES = 64 * 1024;

/** Most items a recommendations request may ask for. */
export const MAX_RECOMMENDATIONS = 1000;

/** What reading a request body gave: its text, nothing, or more than the limit (not read further). */
export type BodyRead =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'absent' }
  | { readonly kind: 'too-large' };

export interface LookupHttpRequest {
  /** Upper case. */
  readonly method: string;
  /** The raw path, still percent-encoded. */
  readonly path: string;
  /** Decoded query parameters. */
  readonly query: Readonly<Record<string, string | undefined>>;
  /** Reads the body, at most `maxBytes` of it; called only by the route that takes one. */
  readBody(maxBytes: number): Promise<BodyRead>;
}

export interface LookupHttpResponse {
  readonly statusCode: number;
  /** Sent as JSON. */
  readonly body: unknown;
}

export interface LookupRouterOptions {
  readonly handler: LookupHandler;
  /** Largest accepted request body, bytes; default MAX_LOOKUP_BODY_BYTES. */
  readonly maxBodyBytes?: number;
  /** Answers `/users/{userId}/recommendations`; without one that route is a 404. */
  readonly recommender?: Recommender;
}

export type LookupRouter = (request: LookupHttpRequest) => Promise<LookupHttpResponse>;

/** A body already in hand (the Lambda's event), read as the router asks. */
export function bodyOf(text: string | undefined): LookupHttpRequest['readBody'] {
  return async (maxBytes) => {
    if (text === undefined) return { kind: 'absent' };
    return Buffer.byteLength(text) > maxBytes ? { kind: 'too-large' } : { kind: 'text', text };
  };
}

const fail = (statusCode: number, code: string, message: string): LookupHttpResponse => ({
  statusCode,
  body: { error: { code, message } },
});
const invalid = (message: string): LookupHttpResponse => fail(400, 'VALIDATION', message);
const wrongMethod = (method: string): LookupHttpResponse => fail(405, 'METHOD', `use ${method}`);

const USERS = '/users/';
const RECOMMENDATIONS = '/recommendations';

/** The router over one handler; unexpected errors (none from the handler, which never throws) propagate. */
export function lookupRouter(options: LookupRouterOptions): LookupRouter {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_LOOKUP_BODY_BYTES;
  const routes = `GET ${USERS}{userId}, POST /users:batch${options.recommender ? `, GET ${USERS}{userId}${RECOMMENDATIONS}` : ''}`;
  return async (request) => {
    if (request.path === '/users:batch') {
      if (request.method !== 'POST') return wrongMethod('POST');
      return batch(options.handler, await request.readBody(maxBodyBytes), maxBodyBytes);
    }
    if (request.path.startsWith(USERS) && request.path.endsWith(RECOMMENDATIONS)) {
      if (request.method !== 'GET') return wrongMethod('GET');
      if (!options.recommender) return fail(404, 'NOT_FOUND', 'this server has no recommender');
      return recommendations(options.recommender, request);
    }
    if (request.path.startsWith(USERS)) {
      if (request.method !== 'GET') return wrongMethod('GET');
      const userId = decodedUserId(request.path.slice(USERS.length));
      if (userId === undefined) return invalid('user id is not valid percent-encoding');
      return options.handler.handle({ userId, version: request.query.version });
    }
    return fail(404, 'NOT_FOUND', `no such route; routes: ${routes}`);
  };
}

async function batch(handler: LookupHandler, body: BodyRead, maxBodyBytes: number): Promise<LookupHttpResponse> {
  if (body.kind === 'too-large') return invalid(`body over ${maxBodyBytes} bytes`);
  if (body.kind === 'absent' || body.text.length === 0) return invalid('body is required');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.text);
  } catch {
    return invalid('body is not JSON');
  }
  const fields = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  return handler.handle({ userIds: fields.userIds, version: fields.version });
}

async function recommendations(recommender: Recommender, request: LookupHttpRequest): Promise<LookupHttpResponse> {
  const userId = decodedUserId(request.path.slice(USERS.length, -RECOMMENDATIONS.length));
  if (userId === undefined) return invalid('user id is not valid percent-encoding');
  try {
    const k = parseK(request.query.k);
    const pinned = request.query.version;
    const version = pinned ? parseVersionId(pinned) : undefined;
    const body = await recommender.recommend(userId, k, { version, newOnly: parseNewOnly(request.query.new) });
    return { statusCode: 200, body };
  } catch (error) {
    if (error instanceof ValidationError) return fail(400, error.code, error.message);
    if (error instanceof NotFoundError) return fail(404, error.code, error.message);
    throw error;
  }
}

/** The user id of a path segment, or undefined when it is not valid percent-encoding. */
function decodedUserId(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** `new` from the query string: true leaves out the user's own items; default false. */
function parseNewOnly(raw: string | undefined): boolean {
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ValidationError(`new must be true or false, got ${JSON.stringify(raw)}`);
}

/** `k` from the query string: a whole number 1..MAX_RECOMMENDATIONS, default 10. */
function parseK(raw: string | undefined): number {
  if (raw === undefined) return 10;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_RECOMMENDATIONS) {
    throw new ValidationError(`k must be a whole number from 1 to ${MAX_RECOMMENDATIONS}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}
