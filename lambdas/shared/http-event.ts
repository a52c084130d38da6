/**
 * Normalizes the two HTTP event shapes the lookup function receives: Lambda Function URL
 * (payload 2.0) and API Gateway REST (payload 1.0). Only what routing needs.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';

export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** Decoded body text, or undefined when absent. */
  readonly body?: string;
}

export function toHttpRequest(event: APIGatewayProxyEventV2 | APIGatewayProxyEvent): HttpRequest {
  const isV2 = 'requestContext' in event && event.requestContext !== null && 'http' in (event.requestContext ?? {});
  const method = isV2
    ? (event as APIGatewayProxyEventV2).requestContext.http.method
    : ((event as APIGatewayProxyEvent).httpMethod ?? 'GET');
  const path = isV2 ? (event as APIGatewayProxyEventV2).rawPath : (event as APIGatewayProxyEvent).path;
  const raw = event.body ?? undefined;
  const body =
    raw === undefined || raw === null
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(raw, 'base64').toString('utf8')
        : raw;
  return {
    method: method.toUpperCase(),
    path: path ?? '/',
    query: { ...(event.queryStringParameters ?? {}) },
    ...(body === undefined ? {} : { body }),
  };
}
