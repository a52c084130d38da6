/**
 * The version a read answers from, cached briefly: the lookup handler (Lambda and local server)
 * and the client library share it, so that a hot path costs one Query per user. The current
 * pointer and each pinned version are cached for `cacheMs`; a failed resolution is not cached.
 */
import type { EmbeddingReader, ResolvedVersion, VersionId } from '../embeddings/types.ts';

export interface VersionResolverOptions {
  /** How long a resolved pointer or pinned version stays cached, ms; default 5000. 0 disables. */
  readonly cacheMs?: number;
  /** Clock in epoch ms; default Date.now. */
  readonly now?: () => number;
}

/** Pinned ids are caller-chosen: past this many entries the cache starts afresh (bounded memory). */
export const MAX_CACHED_VERSIONS = 1000;

export const DEFAULT_VERSION_CACHE_MS = 5000;

export class CachedVersionResolver {
  private readonly cacheMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, { readonly at: number; readonly value: Promise<ResolvedVersion> }>();

  public constructor(
    private readonly reader: Pick<EmbeddingReader, 'resolveVersion'>,
    options: VersionResolverOptions = {},
  ) {
    this.cacheMs = options.cacheMs ?? DEFAULT_VERSION_CACHE_MS;
    this.now = options.now ?? Date.now;
  }

  /** The pointer's version (or a checked pinned one), cached for `cacheMs`; failures are not cached. */
  public resolve(pinned?: VersionId): Promise<ResolvedVersion> {
    const key = pinned ? `${pinned.modelVersion}@${pinned.date}` : '#pointer';
    const now = this.now();
    const cached = this.cache.get(key);
    if (cached && now - cached.at < this.cacheMs) return cached.value;
    const value = this.reader.resolveVersion(pinned);
    if (this.cacheMs > 0) {
      if (this.cache.size > MAX_CACHED_VERSIONS) this.cache.clear();
      this.cache.set(key, { at: now, value });
      value.catch(() => {
        if (this.cache.get(key)?.value === value) this.cache.delete(key);
      });
    }
    return value;
  }
}
