export {
  handleLookup,
  type LookupBody,
  LookupHandler,
  type LookupHandlerOptions,
  type LookupResponse,
} from './handler.ts';
export { type LookupServer, startLookupServer } from './http-server.ts';
export { MAX_BATCH, MAX_LOOKUP_USER_ID_BYTES, parseLookupRequest } from './request.ts';
export {
  bodyOf,
  type LookupHttpRequest,
  type LookupHttpResponse,
  type LookupRouter,
  lookupRouter,
  MAX_LOOKUP_BODY_BYTES,
  MAX_RECOMMENDATIONS,
} from './router.ts';
export { CachedVersionResolver, type VersionResolverOptions } from './version-resolver.ts';
