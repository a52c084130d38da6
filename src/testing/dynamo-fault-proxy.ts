/**
 * A fault-injecting HTTP proxy in front of a DynamoDB endpoint (dynalite in the tests): the faults
 * a real local server never produces. Any client — the main thread's store and the runner's worker
 * threads alike — points at `endpoint` instead of dynalite's, and a seeded share of its requests:
 *   - is refused with 400 ProvisionedThroughputExceededException (not forwarded: nothing written);
 *   - (BatchWriteItem only) has a random part of its puts forwarded and the rest answered as
 *     UnprocessedItems, as DynamoDB does under load.
 * Everything else is forwarded unchanged. Counts of what it injected are in `stats`.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Rng } from '../synth/rng.ts';

export interface FaultProxyOptions {
  /** The real endpoint, e.g. dynalite's `http://127.0.0.1:PORT`. */
  readonly target: string;
  /** Share of requests answered with a throttling error; default 0.3. */
  readonly throttleRate?: number;
  /** Share of BatchWriteItem requests only partly written (rest UnprocessedItems); default 0.3. */
  readonly unprocessedRate?: number;
  /** Operations subject to faults (X-Amz-Target suffix); default every operation. */
  readonly operations?: readonly string[];
  /** Seed of the fault draws; default 1. */
  readonly seed?: number;
}

export interface FaultProxyStats {
  requests: number;
  throttled: number;
  /** BatchWriteItem calls answered with UnprocessedItems. */
  partial: number;
  /** Puts handed back as UnprocessedItems, summed. */
  unprocessedItems: number;
  byOperation: Record<string, number>;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly stats: FaultProxyStats;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/x-amz-json-1.0';

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function forward(
  target: URL,
  req: IncomingMessage,
  body: Buffer,
): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string' && name !== 'host' && name !== 'content-length') headers[name] = value;
    }
    headers['content-length'] = String(body.length);
    const upstream = httpRequest(
      { hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers },
      (res) => {
        readBody(res).then((bytes) => {
          const out: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') out[name] = value;
          resolve({ status: res.statusCode ?? 502, headers: out, body: bytes });
        }, reject);
      },
    );
    upstream.on('error', reject);
    upstream.end(body);
  });
}

function reply(res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer): void {
  const out: Record<string, string> = { ...headers, 'content-length': String(body.length) };
  delete out['x-amz-crc32']; // the body may have been rewritten
  delete out['transfer-encoding'];
  res.writeHead(status, out);
  res.end(body);
}

export async function startDynamoFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const throttleRate = options.throttleRate ?? 0.3;
  const unprocessedRate = options.unprocessedRate ?? 0.3;
  const rng = new Rng(options.seed ?? 1);
  const stats: FaultProxyStats = { requests: 0, throttled: 0, partial: 0, unprocessedItems: 0, byOperation: {} };
  const subject = (operation: string): boolean => !options.operations || options.operations.includes(operation);

  const server = createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      const operation =
        String(req.headers['x-amz-target'] ?? '')
          .split('.')
          .pop() ?? '';
      stats.requests++;
      stats.byOperation[operation] = (stats.byOperation[operation] ?? 0) + 1;
      const draw = rng.next();
      if (subject(operation) && draw < throttleRate) {
        stats.throttled++;
        const error = {
          __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
          message: 'The level of configured provisioned throughput for the table was exceeded (injected)',
        };
        reply(res, 400, { 'content-type': JSON_TYPE }, Buffer.from(JSON.stringify(error)));
        return;
      }
      if (operation === 'BatchWriteItem' && subject(operation) && draw < throttleRate + unprocessedRate) {
        const parsed = JSON.parse(body.toString('utf8')) as { RequestItems: Record<string, unknown[]> };
        const kept: Record<string, unknown[]> = {};
        const unprocessed: Record<string, unknown[]> = {};
        for (const [table, writes] of Object.entries(parsed.RequestItems)) {
          for (const write of writes) {
            const bucket = rng.next() < 0.5 ? kept : unprocessed;
            const list = bucket[table] ?? [];
            bucket[table] = list;
            list.push(write);
          }
        }
        const held = Object.values(unprocessed).reduce((n, w) => n + w.length, 0);
        if (held > 0) {
          stats.partial++;
          stats.unprocessedItems += held;
          let answer: Record<string, unknown> = { UnprocessedItems: {} };
          if (Object.keys(kept).length > 0) {
            const upstream = await forward(target, req, Buffer.from(JSON.stringify({ ...parsed, RequestItems: kept })));
            if (upstream.status !== 200) {
              reply(res, upstream.status, upstream.headers, upstream.body);
              return;
            }
            answer = JSON.parse(upstream.body.toString('utf8')) as Record<string, unknown>;
          }
          const merged = { ...((answer.UnprocessedItems as Record<string, unknown[]>) ?? {}) };
          for (const [table, writes] of Object.entries(unprocessed))
            merged[table] = [...(merged[table] ?? []), ...writes];
          answer.UnprocessedItems = merged;
          reply(res, 200, { 'content-type': JSON_TYPE }, Buffer.from(JSON.stringify(answer)));
          return;
        }
      }
      const upstream = await forward(target, req, body);
      reply(res, upstream.status, upstream.headers, upstream.body);
    } catch (error) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
