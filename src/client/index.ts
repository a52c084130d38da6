export { EmbeddingClient, type EmbeddingClientOptions, type GetOptions } from './embedding-client.ts';
