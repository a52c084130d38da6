/**
 * A worker thread of the local runner: runs partition-stage slices and embed-stage partitions
 * against the parent's object directory and its embedded DynamoDB endpoint (workers cannot open
 * the parent's LevelDB, so they connect over loopback). One store connection per worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connectLocalEmbeddings, type LocalStoreOptions } from '../local/local-embeddings.ts';
import { LocalObjectStore } from '../storage/local-object-store.ts';
import { PinnerFormerError } from '../util/errors.ts';
import { type EmbedPartitionInput, embedPartition, releaseEmbedders } from './embed.ts';
import { type PartitionSliceInput, partitionSlice } from './partition.ts';
import type { PipelineEnv } from './types.ts';

export interface WorkerConfig {
  readonly objectsDir: string;
  readonly endpoint: string;
  readonly tableName: string;
  readonly store?: LocalStoreOptions;
}

export type WorkerTask =
  | { readonly id: number; readonly kind: 'slice'; readonly input: PartitionSliceInput }
  | { readonly id: number; readonly kind: 'embed'; readonly input: EmbedPartitionInput }
  | { readonly id: number; readonly kind: 'close' };

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: { name: string; code?: string; message: string; details?: Record<string, unknown> };
    }
  | { readonly log: string };

const config = workerData as WorkerConfig;
const port = parentPort!;
const connection = connectLocalEmbeddings(config.endpoint, config.tableName, config.store ?? {});
const env: PipelineEnv = {
  objects: new LocalObjectStore(config.objectsDir),
  embeddings: connection.store,
  log: (message) => port.postMessage({ log: message } satisfies WorkerReply),
};

port.on('message', async (task: WorkerTask) => {
  try {
    if (task.kind === 'close') {
      await releaseEmbedders();
      connection.close();
      port.postMessage({ id: task.id, ok: true, result: null } satisfies WorkerReply);
      port.close();
      return;
    }
    const result =
      task.kind === 'slice' ? await partitionSlice(env, task.input) : await embedPartition(env, task.input);
    port.postMessage({ id: task.id, ok: true, result } satisfies WorkerReply);
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    port.postMessage({
      id: task.id,
      ok: false,
      error: {
        name: e.name,
        message: e.message,
        ...(error instanceof PinnerFormerError ? { code: error.code, details: error.details } : {}),
      },
    } satisfies WorkerReply);
  }
});
