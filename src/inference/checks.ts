import { ModelError } from '../util/errors.ts';

/** Tolerance under which two embeddings count as the same vector (collapse detection). */
export const COLLAPSE_TOLERANCE = 1e-5;

/** Throws ModelError when any value of a [rows, dims] output is NaN or infinite. */
export function assertFinite(values: Float32Array, dims: number, context: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new ModelError(`model output is not finite (${values[i]}) for row ${Math.floor(i / dims)} ${context}`, {
        row: Math.floor(i / dims),
      });
    }
  }
}

/** True when every row of a [rows, dims] matrix (rows >= 2) equals the first within COLLAPSE_TOLERANCE. */
export function isCollapsed(values: Float32Array, dims: number): boolean {
  const rows = values.length / dims;
  if (rows < 2) return false;
  for (let r = 1; r < rows; r++) {
    for (let d = 0; d < dims; d++) {
      if (Math.abs(values[r * dims + d]! - values[d]!) > COLLAPSE_TOLERANCE) return false;
    }
  }
  return true;
}
