/**
 * A small loopback HTTP server exposing the lookup handler for local use and the benchmark:
 *   GET  /users/:id[?version=mv@YYYY-MM-DD]   one user
 *   POST /users:batch  {"userIds": [...], "version"?: "..."}   up to 100 users
 *   GET  /users/:id/recommendations[?k=10&version=...&new=true]   recent actions and nearest items (with a recommender)
 * Routes, status codes and request checks are the shared router's (./router.ts), as on the Lambda.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EmbeddingReader } from '../embeddings/types.ts';
import { LookupHandler, type LookupHandlerOptions } from './handler.ts';
import type { Recommender } from './recommend.ts';
import { type BodyRead, type LookupHttpRequest, lookupRouter } from './router.ts';

export interface LookupServerOptions extends LookupHandlerOptions {
  readonly store: EmbeddingReader;
  /** Default 0 (a free port). */
  readonly port?: number;
  /** Default 127.0.0.1: the server has no authentication, keep it on loopback. */
  readonly host?: string;
  /** Largest accepted request body, bytes; default 64 KiB (MAX_LOOKUP_BODY_BYTES). */
  readonly maxBodyBytes?: number;
  /** Answers `/users/:id/recommendations`; without one that route is a 404. */
  readonly recommender?: Recommender;
}

export interface LookupServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

function send(res: ServerResponse, statusCode: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** Reads the body up to `limit` bytes; past it, stops collecting and drains the rest. */
function readBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve({ kind: 'too-large' });
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve({ kind: 'text', text: Buffer.concat(chunks).toString('utf8') }));
    req.on('error', reject);
  });
}

/** The router's view of a Node request: raw path, first value of each query parameter, lazy body. */
function toLookupRequest(req: IncomingMessage): LookupHttpRequest {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const query: Record<string, string> = {};
  for (const key of url.searchParams.keys()) query[key] ??= url.searchParams.get(key)!;
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    path: url.pathname,
    query,
    readBody: (maxBytes) => readBody(req, maxBytes),
  };
}

export async function startLookupServer(options: LookupServerOptions): Promise<LookupServer> {
  const route = lookupRouter({
    handler: new LookupHandler(options.store, options),
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    ...(options.recommender === undefined ? {} : { recommender: options.recommender }),
  });
  const server = createServer((req, res) => {
    route(toLookupRequest(req))
      .then((response) => send(res, response.statusCode, response.body))
      .catch((error: unknown) => {
        console.error('lookup server:', error);
        if (!res.headersSent) send(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
        else res.destroy();
      });
  });
  server.on('clientError', (_error, socket) => {
    // Requests Node's parser refuses (e.g. a URL over its 16 KiB header limit: 431) never reach the
    // routes; answer them as the API does any bad request, a 400 with a JSON body.
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const payload = JSON.stringify({ error: { code: 'VALIDATION', message: 'request could not be parsed' } });
    socket.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\nconnection: close\r\n\r\n${payload}`,
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
