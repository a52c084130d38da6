/**
 * The embed stage's writer thread: one per embedding process (a local stage thread, a Batch
 * container), kept across partitions. It owns its own connection to the table and runs each
 * partition's PartitionOutput (table writes, the embedding snapshot, statistics) while the inference
 * thread is busy in onnxruntime's synchronous session.run. Protocol: ./embed-writer.ts.
 */
import { parentPort } from 'node:worker_threads';
import { type DynamoEmbeddingWriter, openWriterFromConfig } from '../embeddings/embedding-writer.ts';
import { PartitionOutput } from './embed-output.ts';
import type { WriterReply, WriterRequest } from './embed-writer.ts';
import { serializeError } from './thread-errors.ts';

const port = parentPort!;
const stores = new Map<string, { writer: DynamoEmbeddingWriter; close(): void }>();
const jobs = new Map<number, PartitionOutput>();

function storeFor(config: unknown): DynamoEmbeddingWriter {
  const key = JSON.stringify(config);
  let entry = stores.get(key);
  if (!entry) {
    entry = openWriterFromConfig(config);
    stores.set(key, entry);
  }
  return entry.writer;
}

const reply = (message: WriterReply, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

function failed(job: number, error: unknown): void {
  jobs.delete(job);
  reply({ kind: 'failed', job, error: serializeError(error) });
}

/** The bytes' own ArrayBuffer, to transfer (copied first when they are a view into a larger one). */
function ownBuffer(bytes: Uint8Array): { bytes: Uint8Array; buffer: ArrayBuffer } {
  const own =
    bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
      ? bytes
      : bytes.slice();
  return { bytes: own, buffer: own.buffer as ArrayBuffer };
}

port.on('message', (message: WriterRequest) => {
  const { job } = message;
  try {
    switch (message.kind) {
      case 'begin': {
        jobs.set(job, new PartitionOutput(storeFor(message.store), message.output));
        return;
      }
      case 'previous':
        jobs.get(job)?.setPrevious(message.bytes, message.file);
        return;
      case 'users':
        jobs.get(job)?.setUsers(message.userIds, message.selected);
        return;
      case 'vectors': {
        const output = jobs.get(job);
        output?.addVectors(message.indices, message.vectors).then(
          () => reply({ kind: 'ack', job, id: message.id }),
          (error: unknown) => failed(job, error),
        );
        return;
      }
      case 'finish': {
        const output = jobs.get(job);
        if (!output) return;
        output
          .drain()
          .then((kept) => {
            reply({ kind: 'drained', job, kept });
            return output.finish();
          })
          .then(
            (result) => {
              jobs.delete(job);
              const embedding = ownBuffer(result.embeddingBytes);
              reply({ kind: 'done', job, result: { ...result, embeddingBytes: embedding.bytes } }, [embedding.buffer]);
            },
            (error: unknown) => failed(job, error),
          );
        return;
      }
      case 'abort':
        jobs.delete(job);
        return;
      case 'close':
        for (const { close } of stores.values()) close();
        stores.clear();
        port.close();
        return;
    }
  } catch (error) {
    failed(job, error);
  }
});
