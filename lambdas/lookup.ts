/**
 * The lookup function behind the IAM-authenticated Function URL (or API Gateway). A thin adapter
 * from HTTP events to the shared lookup core (src/lookup), with the same routes as the local
 * server:
 *   GET  /users/{userId}[?version=mv@YYYY-MM-DD]
 *   POST /users:batch   {"userIds": [...], "version"?: "..."}
 * Status codes come from the core: 200, 400, 404, and 500 only when DynamoDB fails.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { RUN_METRICS } from '../src/contract/run-contract.ts';
import type { EmbeddingStore } from '../src/embeddings/types.ts';
import { handleLookup } from '../src/lookup/index.ts';
import { toHttpRequest } from './shared/http-event.ts';
import { embeddingStore, logger, metrics, readSettings } from './shared/runtime.ts';

/** Largest accepted request body (100 ids of 512 bytes fit with room). */
export const MAX_BODY_BYTES = 64 * 1024;

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

let store: EmbeddingStore | undefined;

function respond(statusCode: number, body: unknown): HttpResponse {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

const invalid = (message: string): HttpResponse => respond(400, { error: { code: 'VALIDATION', message } });

async function route(event: APIGatewayProxyEventV2 | APIGatewayProxyEvent): Promise<HttpResponse> {
  const request = toHttpRequest(event);
  store ??= embeddingStore(readSettings());
  if (request.path === '/users:batch') {
    if (request.method !== 'POST') return respond(405, { error: { code: 'METHOD', message: 'use POST' } });
    if (request.body === undefined) return invalid('body is required');
    if (Buffer.byteLength(request.body) > MAX_BODY_BYTES) return invalid(`body over ${MAX_BODY_BYTES} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(request.body);
    } catch {
      return invalid('body is not JSON');
    }
    const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const response = await handleLookup(store, { userIds: fields.userIds, version: fields.version });
    return respond(response.statusCode, response.body);
  }
  if (request.path.startsWith('/users/')) {
    if (request.method !== 'GET') return respond(405, { error: { code: 'METHOD', message: 'use GET' } });
    let userId: string;
    try {
      userId = decodeURIComponent(request.path.slice('/users/'.length));
    } catch {
      return invalid('user id is not valid percent-encoding');
    }
    const response = await handleLookup(store, { userId, version: request.query.version });
    return respond(response.statusCode, response.body);
  }
  return respond(404, { error: { code: 'NOT_FOUND', message: 'routes: GET /users/{userId}, POST /users:batch' } });
}

export async function handler(
  event: APIGatewayProxyEventV2 | APIGatewayProxyEvent,
  context?: Context,
): Promise<HttpResponse> {
  if (context) logger.addContext(context);
  try {
    const response = await route(event);
    // 500s are answers, not Lambda errors: count them for the lookup-errors alarm.
    metrics.addMetric(RUN_METRICS.lookupServerErrors.name, 'Count', response.statusCode >= 500 ? 1 : 0);
    metrics.addMetric(RUN_METRICS.lookupRequests.name, 'Count', 1);
    return response;
  } finally {
    metrics.publishStoredMetrics();
  }
}
