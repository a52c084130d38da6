export { type EmbedPartitionInput, embedPartition, releaseEmbedders, shouldEmbed } from './embed.ts';
export { evaluateGate, GATE_DEFAULTS, type GateVerdict } from './gate.ts';
export { fnv1a32, partitionOf } from './hash.ts';
export { layout } from './layout.ts';
export { type DeployedModel, deployModel, loadDeployedManifest, localModelDirectory } from './model.ts';
export { type PartitionSliceInput, partitionSlice } from './partition.ts';
export {
  assertRunDate,
  assertRunDateNotAhead,
  chooseAttempt,
  findPreviousSnapshot,
  PLAN_DEFAULTS,
  plan,
  readRunManifest,
} from './plan.ts';
export { type PublishInput, publish } from './publish.ts';
export type * from './types.ts';
