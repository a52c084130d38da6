/** Opens the object store a location names: `s3://bucket/prefix` -> S3, anything else -> a directory. */
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { ValidationError } from '../util/errors.ts';
import { LocalObjectStore } from './local-object-store.ts';
import type { ObjectStore } from './object-store.ts';
import { S3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store.ts';

export interface OpenObjectStoreOptions {
  /** S3 client settings (endpoint, region, credentials) for `s3://` locations. */
  readonly s3?: S3ClientConfig;
  readonly conditionalPuts?: S3ObjectStoreOptions['conditionalPuts'];
}

export function openObjectStore(location: string, options: OpenObjectStoreOptions = {}): ObjectStore {
  if (location.startsWith('s3://')) {
    const rest = location.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new ValidationError(`invalid S3 bucket in ${JSON.stringify(location)}`);
    }
    return new S3ObjectStore({ bucket, prefix, clientConfig: options.s3, conditionalPuts: options.conditionalPuts });
  }
  if (location === '' || /^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new ValidationError(
      `unsupported object store location ${JSON.stringify(location)}: use s3://bucket/prefix or a directory`,
    );
  }
  return new LocalObjectStore(location);
}
