import { describe, expect, it } from 'vitest';
import { fnv1a32, partitionOf } from '../src/pipeline/hash.ts';

describe('partition hash (FNV-1a 32-bit over UTF-8, mod P)', () => {
  it('matches the published FNV-1a test vectors', () => {
    // Act / Assess
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('matches the vectors of docs/pipeline.md, non-ASCII ids included', () => {
    // Act / Assess
    expect(fnv1a32('u00000001')).toBe(0xb2cedc23);
    expect(partitionOf('u00000001', 8)).toBe(3);
    expect(fnv1a32('é')).toBe(0x1e9de8c1);
    expect(fnv1a32('用户-42')).toBe(fnv1a32Bytes(Buffer.from('用户-42', 'utf8')));
  });

  it('spreads ids evenly over partitions', () => {
    // Prepare
    const counts = new Array(8).fill(0);
    // Act
    for (let i = 0; i < 80_000; i++) counts[partitionOf(`u${String(i).padStart(8, '0')}`, 8)]++;
    // Assess: every partition within 5% of the mean
    for (const n of counts) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });
});

/** Reference implementation over raw bytes (independent of the fast path). */
function fnv1a32Bytes(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Number((BigInt(h ^ b) * 0x01000193n) & 0xffffffffn);
  return h >>> 0;
}
