export { LocalObjectStore } from './local-object-store.ts';
export type { ObjectInfo, ObjectStore } from './object-store.ts';
export { type OpenObjectStoreOptions, openObjectStore } from './open-object-store.ts';
export { createS3Client, S3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store.ts';
