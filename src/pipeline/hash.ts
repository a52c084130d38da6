/**
 * The partition hash: FNV-1a, 32-bit, over the UTF-8 bytes of user_id, reduced mod P.
 * Identical in every runtime (TypeScript here, Python in training/, any reader of the layout).
 * Test vectors (docs/pipeline.md): fnv1a32('') = 0x811c9dc5, fnv1a32('a') = 0xe40c292c,
 * fnv1a32('foobar') = 0xbf9cf968.
 */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const encoder = new TextEncoder();

/** FNV-1a 32-bit of the UTF-8 encoding of `text`, as an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET;
  // Fast path for ASCII ids: the code unit is the byte.
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) {
      ascii = false;
      break;
    }
    hash = Math.imul(hash ^ c, FNV_PRIME);
  }
  if (ascii) return hash >>> 0;
  hash = FNV_OFFSET;
  for (const byte of encoder.encode(text)) hash = Math.imul(hash ^ byte, FNV_PRIME);
  return hash >>> 0;
}

/** The partition (0..partitions-1) of a user. */
export function partitionOf(userId: string, partitions: number): number {
  return fnv1a32(userId) % partitions;
}
