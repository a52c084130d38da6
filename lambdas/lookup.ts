/**
 * The lookup function behind the IAM-authenticated Function URL (or API Gateway). A thin adapter
 * from HTTP events to the shared lookup router (src/lookup/router.ts), which the local server
 * uses too: the same routes, status codes, size check and decoding. It opens only the table's
 * read role (src/contract/table-access.ts, `lookup`).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { RUN_METRICS } from '../src/contract/run-contract.ts';
import { LookupHandler } from '../src/lookup/handler.ts';
import { bodyOf, type LookupRouter, lookupRouter, MAX_LOOKUP_BODY_BYTES } from '../src/lookup/router.ts';
import { toHttpRequest } from './shared/http-event.ts';
import { embeddingReader, logger, metrics, readSettings } from './shared/runtime.ts';

/** Largest accepted request body (the router's limit). */
export const MAX_BODY_BYTES = MAX_LOOKUP_BODY_BYTES;

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** One router per container: the handler's version cache lives across invocations. */
let router: LookupRouter | undefined;

async function route(event: APIGatewayProxyEventV2 | APIGatewayProxyEvent): Promise<HttpResponse> {
  const request = toHttpRequest(event);
  router ??= lookupRouter({ handler: new LookupHandler(embeddingReader(readSettings())) });
  const response = await router({ ...request, readBody: bodyOf(request.body) });
  return {
    statusCode: response.statusCode,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(response.body),
  };
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
