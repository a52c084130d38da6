/**
 * Analytic FLOP count of one user embedding (2 FLOP per multiply-add), from the model's config:
 * what the exported graph computes, so measured users/s × FLOP/user is its achieved FLOP/s.
 * Element-wise work (softmax, LayerNorm, GELU, time encoding) is not counted: it is the part that
 * is memory-bound, and leaving it out makes the fraction of the GEMM peak a fair upper measure.
 */
import type { ModelManifest } from '../src/inference/manifest.ts';

export interface ModelShape {
  readonly layers: number;
  readonly hidden: number;
  readonly heads: number;
  readonly embedding: number;
  /** Width of the concatenated per-position input before the projection to `hidden`. */
  readonly inputWidth: number;
  readonly maxLength: number;
}

/** Widths of the learned embeddings when the manifest's training config does not name them (config.py defaults). */
const DEFAULT_ID_DIM = 16;
const DEFAULT_ACTION_DIM = 8;
const DEFAULT_SURFACE_DIM = 8;
const SCALARS = 4;

export function modelShape(manifest: ModelManifest): ModelShape {
  const trained = ((manifest as Record<string, unknown>).training as { model?: Record<string, number> } | undefined)
    ?.model;
  const timeDims = manifest.features.absPeriodsSec.length + 2 * manifest.features.relPeriodsSec.length;
  const inputWidth =
    manifest.dims.itemVector +
    (trained?.id_dim ?? DEFAULT_ID_DIM) +
    (trained?.action_dim ?? DEFAULT_ACTION_DIM) +
    (trained?.surface_dim ?? DEFAULT_SURFACE_DIM) +
    2 * timeDims +
    SCALARS;
  return {
    layers: manifest.dims.layers,
    hidden: manifest.dims.hidden,
    heads: manifest.dims.heads,
    embedding: manifest.dims.embedding,
    inputWidth,
    maxLength: manifest.dims.maxLength,
  };
}

export interface FlopOptions {
  /** The final block runs only at the last position, as training/pinnerformer/model.py's forward does. */
  readonly lastBlockAtLastPosition?: boolean;
}

/**
 * FLOP to embed one user whose (padded) sequence has `length` positions: input projection, per
 * layer QKV + full L×L scores + attention×V + output projection + FFN (4H), then the head at the
 * last position only.
 */
export function flopsPerUser(shape: ModelShape, length: number, options: FlopOptions = {}): number {
  const { hidden: h, layers, inputWidth, embedding } = shape;
  const l = length;
  const projection = 2 * l * inputWidth * h;
  const perLayer = 2 * l * h * 3 * h + 2 * l * l * h * 2 + 2 * l * h * h + 2 * l * h * 4 * h * 2;
  // keys and values at every position; query, one attention row, output projection and FFN at one
  const lastOnly = 2 * l * h * 2 * h + 2 * h * h + 2 * l * h * 2 + 2 * h * h + 2 * h * 4 * h * 2;
  const head = 2 * h * 4 * h + 2 * 4 * h * embedding;
  const blocks = options.lastBlockAtLastPosition && layers > 0 ? (layers - 1) * perLayer + lastOnly : layers * perLayer;
  return projection + blocks + head;
}

/**
 * The part of flopsPerUser that causal attention masks out: scores and attention×V for the
 * L(L-1)/2 query-key pairs above the diagonal, in every layer that runs at all positions. The
 * demo target counts attention as computed, i.e. flopsPerUser minus this.
 */
export function maskedAttentionFlops(shape: ModelShape, length: number, options: FlopOptions = {}): number {
  const fullLayers = options.lastBlockAtLastPosition && shape.layers > 0 ? shape.layers - 1 : shape.layers;
  return fullLayers * 2 * ((length * (length - 1)) / 2) * shape.hidden * 2;
}
