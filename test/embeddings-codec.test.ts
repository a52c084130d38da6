/** fp16 codec: exact round-to-nearest-even against a brute-force reference, and the byte layout. */
import { describe, expect, it } from 'vitest';
import { decodeVector, encodeVector, float32ToHalfBits, halfBitsToFloat32 } from '../src/embeddings/codec.ts';
import { ValidationError } from '../src/util/errors.ts';
import { seededRandom } from './embeddings-helpers.ts';

/** All finite non-negative fp16 values in increasing order, index = bit pattern. */
const positiveHalves = Array.from({ length: 0x7c00 }, (_, bits) => halfBitsToFloat32(bits));

/** Reference: nearest fp16 by search over all values, ties to the even bit pattern. */
function referenceHalfBits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const max = positiveHalves[0x7bff]!;
  // Values at or beyond max + half an ulp (65520) overflow to infinity.
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7bff;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (positiveHalves[mid]! <= a) lo = mid;
    else hi = mid;
  }
  if (a >= max) return sign | 0x7bff;
  const dLo = a - positiveHalves[lo]!;
  const dHi = positiveHalves[hi]! - a;
  const bits = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | bits;
}

describe('fp16 codec', () => {
  it('round-trips every finite fp16 value exactly', () => {
    const mismatches: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0) continue; // NaN payloads
      if (float32ToHalfBits(halfBitsToFloat32(bits)) !== bits) mismatches.push(bits);
    }
    expect(mismatches).toEqual([]);
  });

  it('rounds every midpoint between neighbours to the even one', () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x7bff; bits++) {
      const mid = Math.fround((positiveHalves[bits]! + positiveHalves[bits + 1]!) / 2);
      const expected = bits % 2 === 0 ? bits : bits + 1;
      if (float32ToHalfBits(mid) !== expected || float32ToHalfBits(-mid) !== (0x8000 | expected)) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
  });

  it('agrees with the reference on random fp32 values over the whole range', () => {
    const random = seededRandom(11);
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    const wrong: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      // Random exponents around the fp16 range (2^-30 .. 2^17), random mantissa and sign.
      const exponent = 97 + Math.floor(random() * 48);
      u32[0] = ((random() < 0.5 ? 1 : 0) << 31) | (exponent << 23) | Math.floor(random() * 0x800000);
      const x = f32[0]!;
      if (float32ToHalfBits(x) !== referenceHalfBits(x)) wrong.push(x);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('handles the edges: overflow, underflow, signed zero, infinities, NaN', () => {
    expect(float32ToHalfBits(65504)).toBe(0x7bff);
    expect(float32ToHalfBits(65519)).toBe(0x7bff);
    expect(float32ToHalfBits(65520)).toBe(0x7c00);
    expect(float32ToHalfBits(2 ** -25)).toBe(0); // tie with 0 -> even (0)
    expect(float32ToHalfBits(Math.fround(2 ** -25 * 1.0001))).toBe(1);
    expect(float32ToHalfBits(-0)).toBe(0x8000);
    expect(float32ToHalfBits(Number.NEGATIVE_INFINITY)).toBe(0xfc00);
    expect(Number.isNaN(halfBitsToFloat32(float32ToHalfBits(Number.NaN)))).toBe(true);
  });

  it('encodes little-endian and decodes both dtypes', () => {
    const v = Float32Array.from([1, -2, 0.5]);
    const half = encodeVector(v, 'float16');
    const single = encodeVector(v, 'float32');
    expect([...half]).toEqual([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38]);
    expect(single.byteLength).toBe(12);
    expect([...decodeVector(half, 3, 'float16')]).toEqual([1, -2, 0.5]);
    expect([...decodeVector(single, 3, 'float32')]).toEqual([1, -2, 0.5]);
    expect(() => decodeVector(half, 4, 'float16')).toThrow(ValidationError);
  });

  it('keeps unit-vector components within fp16 precision (relative error <= 2^-11)', () => {
    const random = seededRandom(3);
    const v = Float32Array.from({ length: 256 }, () => random() * 2 - 1);
    const back = decodeVector(encodeVector(v, 'float16'), 256, 'float16');
    const worst = Math.max(...v.map((x, i) => Math.abs(back[i]! - x) / Math.max(Math.abs(x), 2 ** -14)));
    expect(worst).toBeLessThanOrEqual(2 ** -11);
  });
});
