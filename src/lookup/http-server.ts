/**
 * A small loopback HTTP server exposing the lookup handler for local use and the benchmark:
 *   GET  /users/:id[?version=mv@YYYY-MM-DD]   one user
 *   POST /users:batch  {"userIds": [...], "version"?: "..."}   up to 100 users
 *   GET  /users/:id/recommendations[?k=10&version=...]   recent actions and nearest items (with a recommender)
 * Responses are the handler's JSON bodies with its status codes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseVersionId } from '../embeddings/table-schema.ts';
import type { EmbeddingStore } from '../embeddings/types.ts';
import { NotFoundError, ValidationError } from '../util/errors.ts';
import { LookupHandler, type LookupHandlerOptions } from './handler.ts';
import type { Recommender } from './recommend.ts';

export interface LookupServerOptions extends LookupHandlerOptions {
  readonly store: EmbeddingStore;
  /** Default 0 (a free port). */
  readonly port?: number;
  /** Default 127.0.0.1: the server has no authentication, keep it on loopback. */
  readonly host?: string;
  /** Largest accepted request body, bytes; default 64 KiB. */
  readonly maxBodyBytes?: number;
  /** Answers `/users/:id/recommendations`; without one that route is a 404. */
  readonly recommender?: Recommender;
}

/** Most items a recommendations request may ask for. */
export const MAX_RECOMMENDATIONS = 1000;

/** `k` from the query string: a whole number 1..MAX_RECOMMENDATIONS, default 10. */
function parseK(raw: string | null): number {
  if (raw === null) return 10;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_RECOMMENDATIONS) {
    throw new ValidationError(`k must be a whole number from 1 to ${MAX_RECOMMENDATIONS}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
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

function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve(undefined);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const RECOMMENDATIONS = '/recommendations';

export async function startLookupServer(options: LookupServerOptions): Promise<LookupServer> {
  const handler = new LookupHandler(options.store, options);
  const maxBody = options.maxBodyBytes ?? 64 * 1024;
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/users:batch') {
      if (req.method !== 'POST') return send(res, 405, { error: { code: 'METHOD', message: 'use POST' } });
      const text = await readBody(req, maxBody);
      if (text === undefined)
        return send(res, 400, { error: { code: 'VALIDATION', message: `body over ${maxBody} bytes` } });
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return send(res, 400, { error: { code: 'VALIDATION', message: 'body is not JSON' } });
      }
      const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
      const response = await handler.handle({ userIds: fields.userIds, version: fields.version });
      return send(res, response.statusCode, response.body);
    }
    if (url.pathname.startsWith('/users/') && url.pathname.endsWith(RECOMMENDATIONS)) {
      if (req.method !== 'GET') return send(res, 405, { error: { code: 'METHOD', message: 'use GET' } });
      if (!options.recommender) {
        return send(res, 404, { error: { code: 'NOT_FOUND', message: 'this server has no recommender' } });
      }
      try {
        const userId = decodeURIComponent(url.pathname.slice('/users/'.length, -RECOMMENDATIONS.length));
        const k = parseK(url.searchParams.get('k'));
        const pinned = url.searchParams.get('version');
        const body = await options.recommender.recommend(userId, k, pinned ? parseVersionId(pinned) : undefined);
        return send(res, 200, body);
      } catch (error) {
        if (error instanceof URIError) {
          return send(res, 400, { error: { code: 'VALIDATION', message: 'user id is not valid percent-encoding' } });
        }
        if (error instanceof ValidationError)
          return send(res, 400, { error: { code: error.code, message: error.message } });
        if (error instanceof NotFoundError)
          return send(res, 404, { error: { code: error.code, message: error.message } });
        throw error;
      }
    }
    if (url.pathname.startsWith('/users/')) {
      if (req.method !== 'GET') return send(res, 405, { error: { code: 'METHOD', message: 'use GET' } });
      let userId: string;
      try {
        userId = decodeURIComponent(url.pathname.slice('/users/'.length));
      } catch {
        return send(res, 400, { error: { code: 'VALIDATION', message: 'user id is not valid percent-encoding' } });
      }
      const version = url.searchParams.get('version') ?? undefined;
      const response = await handler.handle({ userId, version });
      return send(res, response.statusCode, response.body);
    }
    return send(res, 404, { error: { code: 'NOT_FOUND', message: 'no such route' } });
  };
  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
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
