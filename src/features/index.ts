export { type FeatureBatch, Featurizer } from './featurize.ts';
export { ItemIdMap, OOV_ID } from './item-ids.ts';
export { ItemTable } from './item-table.ts';
export { buildSequence, compareEvents, mergeSequence, type SequenceEvent, type SequenceRules } from './sequence.ts';
export {
  DEFAULT_TIME_REFERENCE_MS,
  defaultAbsPeriodsSec,
  defaultRelPeriodsSec,
  type FeatureSpec,
  featureSpecFromManifest,
  timeFeatureWidth,
} from './spec.ts';
