/**
 * The lookup handler core: what the lookup Lambda (lambdas/) and the local HTTP server call.
 * 200 with the embedding(s), 404 for an unknown user or version, 400 for invalid input, 500 only
 * when a dependency (DynamoDB) fails. It never throws. The pointer (and pinned version checks) are
 * cached briefly so that a hot path costs one Query per user.
 */
import type { EmbeddingStore, LookupResult, ResolvedVersion, VersionId } from '../embeddings/types.ts';
import { NotFoundError, ValidationError } from '../util/errors.ts';
import { type ParsedLookupRequest, parseLookupRequest } from './request.ts';

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

interface CacheEntry {
  readonly at: number;
  readonly value: Promise<ResolvedVersion>;
}

export class LookupHandler {
  private readonly cacheMs: number;
  private readonly now: () => number;
  private readonly onError: (error: unknown) => void;
  private readonly cache = new Map<string, CacheEntry>();

  public constructor(
    private readonly store: EmbeddingStore,
    options: LookupHandlerOptions = {},
  ) {
    this.cacheMs = options.pointerCacheMs ?? 5000;
    this.now = options.now ?? Date.now;
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
    const version = await this.resolve(request.version);
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

  /** The pointer's version (or a checked pinned one), cached for `pointerCacheMs`; failures are not cached. */
  private resolve(pinned: VersionId | undefined): Promise<ResolvedVersion> {
    const key = pinned ? `${pinned.modelVersion}@${pinned.date}` : '#pointer';
    const now = this.now();
    const cached = this.cache.get(key);
    if (cached && now - cached.at < this.cacheMs) return cached.value;
    const value = this.store.resolveVersion(pinned);
    if (this.cacheMs > 0) {
      if (this.cache.size > 1000) this.cache.clear(); // pinned ids are caller-chosen: keep the cache bounded
      this.cache.set(key, { at: now, value });
      value.catch(() => this.cache.delete(key));
    }
    return value;
  }
}

function errorResponse(statusCode: 400 | 404 | 500, code: string, message: string): LookupResponse {
  return { statusCode, body: { error: { code, message } } };
}

const handlers = new WeakMap<EmbeddingStore, LookupHandler>();

/**
 * Handles one request against `store`, reusing one cached handler per store (so a Lambda that
 * keeps its store across invocations keeps the pointer cache). `options` take effect on the first
 * call for a store. Never throws.
 */
export function handleLookup(
  store: EmbeddingStore,
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
