import type { ModelManifest } from '../inference/manifest.ts';

/** Everything the featurizer needs from a model manifest (docs/model-interface.md). */
export interface FeatureSpec {
  readonly actions: readonly string[];
  readonly surfaces: readonly string[];
  readonly absPeriodsSec: readonly number[];
  readonly relPeriodsSec: readonly number[];
  readonly timeReferenceMs: number;
  readonly maxLength: number;
  readonly itemVectorDim: number;
}

/** Width of `time_frac`: 12 absolute + 32 age + 32 gap periods in the documented contract. */
export function timeFeatureWidth(spec: FeatureSpec): number {
  return spec.absPeriodsSec.length + 2 * spec.relPeriodsSec.length;
}

export function featureSpecFromManifest(manifest: ModelManifest): FeatureSpec {
  return {
    actions: manifest.vocab.action,
    surfaces: manifest.vocab.surface,
    absPeriodsSec: manifest.features.absPeriodsSec,
    relPeriodsSec: manifest.features.relPeriodsSec,
    timeReferenceMs: manifest.features.timeReferenceMs,
    maxLength: manifest.dims.maxLength,
    itemVectorDim: manifest.dims.itemVector,
  };
}

/** The 32 relative periods, log-spaced from 1 s to 28 d inclusive. */
export function defaultRelPeriodsSec(): number[] {
  const hi = Math.log(2419200);
  return Array.from({ length: 32 }, (_, k) => Math.exp(Math.log(1) + (k * (hi - Math.log(1))) / 31));
}

/** 0.25h, 0.5h, 0.75h, 1h, 2h, 4h, 8h, 16h, 1d, 7d, 28d, 365d in seconds. */
export function defaultAbsPeriodsSec(): number[] {
  const h = 3600;
  const d = 86400;
  return [0.25 * h, 0.5 * h, 0.75 * h, h, 2 * h, 4 * h, 8 * h, 16 * h, d, 7 * d, 28 * d, 365 * d];
}

export const DEFAULT_TIME_REFERENCE_MS = 1577836800000;
