/**
 * A stage thread (a worker thread of the StageThreadPool): runs partition-stage slices and embed-stage partitions against the
 * parent's object store and table, both described as plain data. The local runner's workers reach
 * its directory and its embedded DynamoDB over loopback (they cannot open the parent's LevelDB);
 * a Batch container's lanes (batch-container/worker.ts) reach S3 and DynamoDB. One store
 * connection per worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openWriterFromConfig } from '../embeddings/embedding-writer.ts';
import type { StoreThreadConfig } from '../embeddings/store-config.ts';
import { type OpenObjectStoreOptions, openObjectStore } from '../storage/open-object-store.ts';
import { type EmbedPartitionInput, embedPartition, releaseEmbedders } from './embed.ts';
import { prewarmOutput } from './embed-writer.ts';
import { type EmbedOverlap, outputOffThread } from './overlap.ts';
import { type PartitionSliceInput, partitionSlice } from './partition.ts';
import { type SerializedError, serializeError } from './thread-errors.ts';
import type { EmbedEnv } from './types.ts';

export interface StageThreadConfig {
  /** The object store's location: a directory or s3://bucket/prefix (src/storage/open-object-store.ts). */
  readonly objects: string;
  /** How the parent opened an S3 object store; default the store's own. */
  readonly conditionalPuts?: OpenObjectStoreOptions['conditionalPuts'];
  /** The table, as the parent's writer describes itself (DynamoEmbeddingWriter.threadConfig()). */
  readonly store: StoreThreadConfig;
  /** The overlap its embed tasks use (./overlap.ts): a writer thread starts at boot when the output leaves the thread. */
  readonly overlap?: EmbedOverlap;
}

export type StageTask =
  | { readonly id: number; readonly kind: 'slice'; readonly input: PartitionSliceInput }
  | { readonly id: number; readonly kind: 'embed'; readonly input: EmbedPartitionInput }
  | { readonly id: number; readonly kind: 'close' };

export type StageReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: SerializedError }
  /** An embed task has read and merged its partition; its batches start now. */
  | { readonly id: number; readonly phase: 'inference' }
  | { readonly log: string };

const config = workerData as StageThreadConfig;
const port = parentPort!;
const connection = openWriterFromConfig(config.store);
// The stages a worker runs write embedding items at most (the partition stage has no table).
const env: EmbedEnv = {
  objects: openObjectStore(config.objects, config.conditionalPuts ? { conditionalPuts: config.conditionalPuts } : {}),
  embeddings: connection.writer,
  log: (message) => port.postMessage({ log: message } satisfies StageReply),
};
// The embed stage's writer thread boots while this worker runs the partition stage.
if (config.overlap !== undefined && outputOffThread(config.overlap)) prewarmOutput(env.embeddings);

port.on('message', async (task: StageTask) => {
  try {
    if (task.kind === 'close') {
      await releaseEmbedders();
      connection.close();
      port.postMessage({ id: task.id, ok: true, result: null } satisfies StageReply);
      port.close();
      return;
    }
    const result =
      task.kind === 'slice'
        ? await partitionSlice(env, task.input)
        : await embedPartition(env, task.input, {
            onInference: () => port.postMessage({ id: task.id, phase: 'inference' } satisfies StageReply),
          });
    port.postMessage({ id: task.id, ok: true, result } satisfies StageReply);
  } catch (error) {
    port.postMessage({ id: task.id, ok: false, error: serializeError(error) } satisfies StageReply);
  }
});
