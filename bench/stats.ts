/** Small statistics over timings. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function min(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : Math.min(...values);
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Value at quantile q (0..1) by linear interpolation. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Rounds for reports: `digits` significant digits. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  return Number(value.toPrecision(digits));
}

/** Cosine similarity of row r of two [rows, dims] matrices. */
export function rowCosine(a: Float32Array, b: Float32Array, dims: number, r: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let d = r * dims; d < (r + 1) * dims; d++) {
    dot += a[d]! * b[d]!;
    na += a[d]! * a[d]!;
    nb += b[d]! * b[d]!;
  }
  return dot / (Math.sqrt(na * nb) || 1);
}

/** Min and mean row cosine of two [rows, dims] matrices. */
export function cosineSummary(a: Float32Array, b: Float32Array, dims: number): { min: number; mean: number } {
  const rows = Math.min(a.length, b.length) / dims;
  const all = Array.from({ length: rows }, (_, r) => rowCosine(a, b, dims, r));
  return { min: min(all), mean: mean(all) };
}

/** A share as a percentage with one decimal: 0.1234 -> '12.3%'. */
export const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
