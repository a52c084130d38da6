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

/** BigInt(i) for small ids, cached: converting per position dominated featurization time. */
const SMALL_BIGINTS: bigint[] = Array.from({ length: 4096 }, (_, i) => BigInt(i));
function big(i: number): bigint {
  return i < SMALL_BIGINTS.length ? SMALL_BIGINTS[i]! : BigInt(i);
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
    const abs = spec.absPeriodsSec;
    const rel = spec.relPeriodsSec;
    const nAbs = abs.length;
    const nRel = rel.length;

    for (let b = 0; b < batchSize; b++) {
      const seq = sequences[b]!;
      lengths[b] = big(seq.length);
      let prevTs = seq[0]?.ts ?? 0;
      for (let t = 0; t < seq.length; t++) {
        const e = seq[t]!;
        const pos = b * length + t;
        const hasVector = items.copyVector(e.item_id, itemVec, pos * ev);
        itemId[pos] = big(items.idFeature(e.item_id, hasVector));
        action[pos] = big(this.actionIds.get(e.action) ?? 0);
        surface[pos] = big(e.surface === null ? 1 : (this.surfaceIds.get(e.surface) ?? 1));

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
