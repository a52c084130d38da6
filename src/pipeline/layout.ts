/**
 * Object-store keys of the daily run (see the layout comment in types.ts and docs/pipeline.md).
 * Everything a run writes is under its model version, so two models never share state.
 */
const pad = (n: number): string => String(n).padStart(5, '0');

export const layout = {
  modelPrefix: (mv: string): string => `models/${mv}/`,
  runPrefix: (mv: string, date: string): string => `runs/${mv}/dt=${date}/`,
  runManifest: (mv: string, date: string): string => `runs/${mv}/dt=${date}/manifest.json`,
  /** The slice list the state machine's Distributed Map reads (a JSON array of slice tasks). */
  runSlices: (mv: string, date: string): string => `runs/${mv}/dt=${date}/slices.json`,
  sliceResult: (mv: string, date: string, slice: number): string =>
    `runs/${mv}/dt=${date}/slices/slice=${pad(slice)}.json`,
  quarantine: (mv: string, date: string, slice: number): string =>
    `runs/${mv}/dt=${date}/slices/slice=${pad(slice)}.quarantine.parquet`,
  partitionResult: (mv: string, date: string, partition: number): string =>
    `runs/${mv}/dt=${date}/partitions/partition=${pad(partition)}.json`,
  publishResult: (mv: string, date: string): string => `runs/${mv}/dt=${date}/publish.json`,
  workPrefix: (mv: string, date: string, partition: number): string =>
    `work/${mv}/dt=${date}/partition=${pad(partition)}/`,
  workFile: (mv: string, date: string, partition: number, slice: number): string =>
    `work/${mv}/dt=${date}/partition=${pad(partition)}/slice=${pad(slice)}.parquet`,
  sequencesPrefix: (mv: string): string => `sequences/${mv}/`,
  sequences: (mv: string, date: string, partition: number): string =>
    `sequences/${mv}/dt=${date}/partition=${pad(partition)}.parquet`,
  embeddings: (mv: string, date: string, partition: number): string =>
    `embeddings/model=${mv}/dt=${date}/part-${pad(partition)}.parquet`,
  modelRegistry: (mv: string): string => `models/${mv}/deployed.json`,
};
