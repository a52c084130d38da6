import type { ItemTable } from './item-table.ts';
import type { SequenceEvent } from './sequence.ts';
import { type FeatureSpec, timeFeatureWidth } from './spec.ts';

/** The ONNX inputs of one batch, right-padded to the batch's own longest sequence (docs/model-interface.md). */
export interface FeatureBatch {
  readonly batchSize: number;
  /** L: the longest sequence in this batch. */
  readonly length: number;
  readonly itemVec: Float32Array; // [B, L, Ev]
  readonly itemId: BigInt64Array; // [B, L]
  readonly action: BigInt64Array; // [B, L]
  readonly surface: BigInt64Array; // [B, L]
  readonly timeFrac: Float32Array; // [B, L, 76]
  readonly scalars: Float32Array; // [B, L, 4]
  readonly lengths: BigInt64Array; // [B]
}

const SCALARS = 4;
const MS_PER_DAY = 86_400_000;

/**
 * The int64 inputs hold small non-negative ids: on a little-endian machine they are written as
 * the low 32-bit word of each element (the high word stays 0), with no BigInt per position.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Writes int64 `value` (0 <= value < 2^31) at `i` of `out` (whose `low` is its Int32Array view, or null). */
function setId(out: BigInt64Array, low: Int32Array | null, i: number, value: number): void {
  if (low) low[2 * i] = value;
  else out[i] = BigInt(value);
}

function frac(x: number): number {
  return x - Math.floor(x);
}

/** Lookup tables built once per spec: action and surface ids. */
export class Featurizer {
  private readonly actionIds: Map<string, number>;
  private readonly surfaceIds: Map<string, number>;
  private readonly timeWidth: number;

  public constructor(
    private readonly spec: FeatureSpec,
    private readonly items: ItemTable,
  ) {
    this.actionIds = new Map(spec.actions.map((a, i) => [a, 1 + i]));
    this.surfaceIds = new Map(spec.surfaces.map((s, i) => [s, 2 + i]));
    this.timeWidth = timeFeatureWidth(spec);
  }

  /**
   * Featurizes built sequences (see buildSequence: filtered, ordered, at most maxLength, non-empty)
   * for one cutoff. Arithmetic is float64, cast to float32 on store.
   */
  public featurize(sequences: readonly (readonly SequenceEvent[])[], cutoffMs: number): FeatureBatch {
    const { spec, items, timeWidth } = this;
    const batchSize = sequences.length;
    let length = 1;
    for (const seq of sequences) length = Math.max(length, seq.length);
    const ev = spec.itemVectorDim;
    const itemVec = new Float32Array(batchSize * length * ev);
    const itemId = new BigInt64Array(batchSize * length);
    const action = new BigInt64Array(batchSize * length);
    const surface = new BigInt64Array(batchSize * length);
    const timeFrac = new Float32Array(batchSize * length * timeWidth);
    const scalars = new Float32Array(batchSize * length * SCALARS);
    const lengths = new BigInt64Array(batchSize);
    const view = (a: BigInt64Array): Int32Array | null => (LITTLE_ENDIAN ? new Int32Array(a.buffer) : null);
    const itemId32 = view(itemId);
    const action32 = view(action);
    const surface32 = view(surface);
    const vectors = items.vectorData;
    const vocabulary = items.hasVocabulary;
    const abs = spec.absPeriodsSec;
    const rel = spec.relPeriodsSec;
    const nAbs = abs.length;
    const nRel = rel.length;

    for (let b = 0; b < batchSize; b++) {
      const seq = sequences[b]!;
      lengths[b] = BigInt(seq.length);
      let prevTs = seq[0]?.ts ?? 0;
      for (let t = 0; t < seq.length; t++) {
        const e = seq[t]!;
        const pos = b * length + t;
        const row = items.rowOf(e.item_id);
        if (row >= 0) {
          // a plain loop: a subarray view per position cost more than the copy itself
          const from = row * ev;
          const to = pos * ev;
          for (let j = 0; j < ev; j++) itemVec[to + j] = vectors[from + j]!;
        }
        const id = vocabulary ? items.idFeature(e.item_id, row >= 0) : row >= 0 ? 2 : 1;
        setId(itemId, itemId32, pos, id);
        setId(action, action32, pos, this.actionIds.get(e.action) ?? 0);
        setId(surface, surface32, pos, e.surface === null ? 1 : (this.surfaceIds.get(e.surface) ?? 1));

        const tsSec = e.ts / 1000;
        const ageSec = (cutoffMs - e.ts) / 1000;
        const gapSec = t === 0 ? 0 : (e.ts - prevTs) / 1000;
        prevTs = e.ts;
        const tf = pos * timeWidth;
        for (let i = 0; i < nAbs; i++) timeFrac[tf + i] = frac(tsSec / abs[i]!);
        for (let i = 0; i < nRel; i++) {
          const p = rel[i]!;
          timeFrac[tf + nAbs + i] = frac(ageSec / p);
          timeFrac[tf + nAbs + nRel + i] = frac(gapSec / p);
        }
        const sc = pos * SCALARS;
        scalars[sc] = e.duration_ms === null ? 0 : Math.log1p(Math.max(e.duration_ms, 0) / 1000);
        scalars[sc + 1] = Math.log1p(Math.max(e.ts - spec.timeReferenceMs, 0) / MS_PER_DAY);
        scalars[sc + 2] = Math.log1p(ageSec);
        scalars[sc + 3] = Math.log1p(gapSec);
      }
    }
    return { batchSize, length, itemVec, itemId, action, surface, timeFrac, scalars, lengths };
  }
}
