export { decodeVector, encodeVector, float32ToHalfBits, halfBitsToFloat32 } from './codec.ts';
export { DynamoEmbeddingStore, type DynamoEmbeddingStoreOptions } from './dynamo-store.ts';
export { itemSize, writeUnits } from './item-size.ts';
export * from './table-schema.ts';
export type * from './types.ts';
