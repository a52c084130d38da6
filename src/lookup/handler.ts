/**
 * The lookup handler core: what the lookup Lambda (lambdas/) and the local HTTP server call.
 * 200 with the embedding(s), 404 for an unknown user or version, 400 for invalid input, 500 only
 * when a dependency (DynamoDB) fails. It never throws. The pointer (and pinned version checks) are
 * cached briefly (./version-resolver.ts) so that a hot path costs one Query per user. HTTP routing
 * around it: ./router.ts.
 */
import type { EmbeddingReader, LookupResult } from '../embeddings/types.ts';
import { NotFoundError, ValidationError } from '../util/errors.ts';
import { type ParsedLookupRequest, parseLookupRequest } from './request.ts';
import { CachedVersionResolver } from './version-resolver.ts';

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}
export interface BatchBody {
  readonly results: readonly LookupResult[];
  readonly missing: readonly string[];
}
export type LookupBody = LookupResult | BatchBody | ErrorBody;

export interface LookupResponse {
  readonly statusCode: 200 | 400 | 404 | 500;
  readonly body: LookupBody;
}

export interface LookupHandlerOptions {
  /** How long the resolved pointer / pinned version stays cached, ms; default 5000. 0 disables. */
  readonly pointerCacheMs?: number;
  readonly now?: () => number;
  /** Called with dependency failures (the 500s); default console.error. */
  readonly onError?: (error: unknown) => void;
}

export class LookupHandler {
  private readonly versions: CachedVersionResolver;
  private readonly onError: (error: unknown) => void;

  public constructor(
    private readonly store: EmbeddingReader,
    options: LookupHandlerOptions = {},
  ) {
    this.versions = new CachedVersionResolver(store, {
      ...(options.pointerCacheMs === undefined ? {} : { cacheMs: options.pointerCacheMs }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    this.onError = options.onError ?? ((error) => console.error('lookup: dependency failure', error));
  }

  /** Handles an untrusted request object; never throws. */
  public async handle(input: unknown): Promise<LookupResponse> {
    let parsed: ReturnType<typeof parseLookupRequest>;
    try {
      parsed = parseLookupRequest(input);
    } catch {
      return errorResponse(400, 'VALIDATION', 'request could not be read'); // e.g. a throwing getter
    }
    if (!parsed.ok) return errorResponse(400, 'VALIDATION', parsed.message);
    try {
      return await this.answer(parsed.request);
    } catch (error) {
      if (error instanceof NotFoundError) return errorResponse(404, 'NOT_FOUND', error.message);
      if (error instanceof ValidationError) return errorResponse(400, 'VALIDATION', error.message);
      this.onError(error);
      return errorResponse(500, 'INTERNAL', 'the embedding store failed; retry later');
    }
  }

  private async answer(request: ParsedLookupRequest): Promise<LookupResponse> {
    const version = await this.versions.resolve(request.version);
    if (request.kind === 'single') {
      const found = (await this.store.readAt([request.userId], version)).get(request.userId);
      if (!found) return errorResponse(404, 'NOT_FOUND', 'unknown user');
      return { statusCode: 200, body: found };
    }
    const found = await this.store.readAt(request.userIds, version);
    const results: LookupResult[] = [];
    const missing: string[] = [];
    for (const userId of request.userIds) {
      const result = found.get(userId);
      if (result) results.push(result);
      else missing.push(userId);
    }
    return { statusCode: 200, body: { results, missing } };
  }
}

export function errorResponse(statusCode: 400 | 404 | 500, code: string, message: string): LookupResponse {
  return { statusCode, body: { error: { code, message } } };
}

const handlers = new WeakMap<EmbeddingReader, LookupHandler>();

/**
 * Handles one request against `store`, reusing one cached handler per store (so a Lambda that
 * keeps its store across invocations keeps the pointer cache). `options` take effect on the first
 * call for a store. Never throws.
 */
export function handleLookup(
  store: EmbeddingReader,
  request: unknown,
  options?: LookupHandlerOptions,
): Promise<LookupResponse> {
  let handler = handlers.get(store);
  if (!handler) {
    handler = new LookupHandler(store, options);
    handlers.set(store, handler);
  }
  return handler.handle(request);
}
