/**
 * Object-store keys of the daily run (see the layout comment in types.ts and docs/pipeline.md).
 * Everything a run writes is under its model version, so two models never share state, and
 * under its attempt: a date's first attempt uses the bare keys, a rerun of a published date
 * writes under `attempt=<A>/` (src/pipeline/attempt.ts), so it never overwrites what a published
 * version (or a later run building on it) reads.
 */
const pad = (n: number): string => String(n).padStart(5, '0');
const at = (attempt: string | undefined): string => (attempt === undefined ? '' : `attempt=${attempt}/`);

export const layout = {
  modelPrefix: (mv: string): string => `models/${mv}/`,
  runPrefix: (mv: string, date: string): string => `runs/${mv}/dt=${date}/`,
  runManifest: (mv: string, date: string, attempt?: string): string =>
    `runs/${mv}/dt=${date}/${at(attempt)}manifest.json`,
  /** The attempt the plan stage started last: the stages of a run without an explicit attempt read it. */
  latestAttempt: (mv: string, date: string): string => `runs/${mv}/dt=${date}/latest-attempt.json`,
  /** The slice list the state machine's Distributed Map reads (a JSON array of slice tasks). */
  runSlices: (mv: string, date: string, attempt?: string): string => `runs/${mv}/dt=${date}/${at(attempt)}slices.json`,
  sliceResult: (mv: string, date: string, slice: number, attempt?: string): string =>
    `runs/${mv}/dt=${date}/${at(attempt)}slices/slice=${pad(slice)}.json`,
  quarantine: (mv: string, date: string, slice: number, attempt?: string): string =>
    `runs/${mv}/dt=${date}/${at(attempt)}slices/slice=${pad(slice)}.quarantine.parquet`,
  partitionResult: (mv: string, date: string, partition: number, attempt?: string): string =>
    `runs/${mv}/dt=${date}/${at(attempt)}partitions/partition=${pad(partition)}.json`,
  publishResult: (mv: string, date: string, attempt?: string): string =>
    `runs/${mv}/dt=${date}/${at(attempt)}publish.json`,
  workPrefix: (mv: string, date: string, partition: number, attempt?: string): string =>
    `work/${mv}/dt=${date}/${at(attempt)}partition=${pad(partition)}/`,
  workFile: (mv: string, date: string, partition: number, slice: number, attempt?: string): string =>
    `work/${mv}/dt=${date}/${at(attempt)}partition=${pad(partition)}/slice=${pad(slice)}.parquet`,
  sequencesPrefix: (mv: string): string => `sequences/${mv}/`,
  sequences: (mv: string, date: string, partition: number, attempt?: string): string =>
    `sequences/${mv}/dt=${date}/${at(attempt)}partition=${pad(partition)}.parquet`,
  embeddings: (mv: string, date: string, partition: number, attempt?: string): string =>
    `embeddings/model=${mv}/dt=${date}/${at(attempt)}part-${pad(partition)}.parquet`,
  /** A delta day's sequence rows of the users it changed (src/pipeline/state-chain.ts); same schema as `sequences`. */
  sequenceDelta: (mv: string, date: string, partition: number, attempt?: string): string =>
    `sequences/${mv}/dt=${date}/${at(attempt)}delta/partition=${pad(partition)}.parquet`,
  /** A delta day's embedding rows of the users it embedded; same schema as `embeddings`. */
  embeddingDelta: (mv: string, date: string, partition: number, attempt?: string): string =>
    `embeddings/model=${mv}/dt=${date}/${at(attempt)}delta/part-${pad(partition)}.parquet`,
  modelRegistry: (mv: string): string => `models/${mv}/deployed.json`,
};
