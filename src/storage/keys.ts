/** Object keys are '/'-separated relative paths; refusing odd ones keeps a directory store inside its root. */
import { ValidationError } from '../util/errors.ts';

/** Prefix of the local store's temporary files; keys may not use it. */
export const TEMP_PREFIX = '.pf-tmp-';

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** ValidationError unless `key` is a clean relative key: no leading '/', no '.', '..' or empty segments. */
export function assertKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new ValidationError('object key must be a non-empty string');
  if (key.length > 1024) throw new ValidationError('object key is longer than 1024 characters');
  if (CONTROL.test(key) || key.includes('\\')) {
    throw new ValidationError(`object key ${JSON.stringify(key)} contains control characters or backslashes`);
  }
  if (key.startsWith('/')) throw new ValidationError(`object key ${JSON.stringify(key)} must not start with '/'`);
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new ValidationError(`object key ${JSON.stringify(key)} has an empty, '.' or '..' segment`);
    }
    if (segment.startsWith(TEMP_PREFIX))
      throw new ValidationError(`object key ${JSON.stringify(key)} uses the reserved ${TEMP_PREFIX}`);
  }
}

/** A list prefix: '' (everything) or the start of a key (it may end with '/'). */
export function assertPrefix(prefix: string): void {
  if (prefix === '') return;
  assertKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
}

export function toBytes(body: Uint8Array | string): Uint8Array {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}
