/**
 * The stored vector format: little-endian IEEE 754 half precision (default) or single precision.
 * fp32 -> fp16 rounds to nearest, ties to even (what numpy's astype(float16) does), with overflow
 * to ±Infinity and gradual underflow through the fp16 subnormals. Decoding is exact.
 */
import { ValidationError } from '../util/errors.ts';
import type { EmbeddingDtype } from './types.ts';

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The fp16 bit pattern nearest to `value` (as fp32), ties to even. */
export function float32ToHalfBits(value: number): number {
  scratchF32[0] = value;
  const bits = scratchU32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0); // Inf / NaN (quiet)
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00; // >= 2^16: overflow
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the 24-bit significand into place, rounding.
    if (halfExponent < -10) return sign; // below half of the smallest subnormal: rounds to zero
    const significand = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    const halfway = 2 ** (shift - 1);
    const rest = significand % 2 ** shift;
    let half = Math.floor(significand / 2 ** shift);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa bumps the exponent; out of the top exponent it gives Infinity.
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1;
  return sign | half;
}

/** The exact value of an fp16 bit pattern. */
export function halfBitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

export function bytesPerValue(dtype: EmbeddingDtype): number {
  return dtype === 'float16' ? 2 : 4;
}

/** Encodes a vector as little-endian bytes of the given dtype. */
export function encodeVector(vector: ArrayLike<number>, dtype: EmbeddingDtype): Uint8Array {
  const out = new Uint8Array(vector.length * bytesPerValue(dtype));
  const view = new DataView(out.buffer);
  for (let i = 0; i < vector.length; i++) {
    if (dtype === 'float16') view.setUint16(i * 2, float32ToHalfBits(vector[i]!), true);
    else view.setFloat32(i * 4, vector[i]!, true);
  }
  return out;
}

/** Decodes bytes written by `encodeVector`; ValidationError when the length does not match `dims`. */
export function decodeVector(bytes: Uint8Array, dims: number, dtype: EmbeddingDtype): Float32Array {
  if (bytes.byteLength !== dims * bytesPerValue(dtype)) {
    throw new ValidationError(
      `stored vector has ${bytes.byteLength} bytes; ${dims} ${dtype} values need ${dims * bytesPerValue(dtype)}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) {
    out[i] = dtype === 'float16' ? halfBitsToFloat32(view.getUint16(i * 2, true)) : view.getFloat32(i * 4, true);
  }
  return out;
}
