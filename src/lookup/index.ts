export {
  handleLookup,
  type LookupBody,
  LookupHandler,
  type LookupHandlerOptions,
  type LookupResponse,
} from './handler.ts';
export { type LookupServer, MAX_RECOMMENDATIONS, startLookupServer } from './http-server.ts';
export { MAX_BATCH, MAX_LOOKUP_USER_ID_BYTES, parseLookupRequest } from './request.ts';
