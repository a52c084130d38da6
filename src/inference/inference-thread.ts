/**
 * An inference thread: owns one onnxruntime session and runs the featurized batches its parent
 * posts, in order. onnxruntime-node's session.run is synchronous, so on the embedding thread it
 * would stall everything else there; here the parent featurizes the next batch and writes the last
 * one while this thread runs. Protocol: ./thread-session.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { FeatureBatch } from '../features/featurize.ts';
import { serializeError } from '../pipeline/thread-errors.ts';
import { embeddingOutput, feedsOf, inputMetaOf } from './batch-session.ts';
import { type BatchProfiler, profilerFor } from './profiler.ts';
import { sessionOpenError } from './session.ts';
import type { InferenceReply, InferenceRequest, InferenceThreadData } from './thread-session.ts';

const port = parentPort!;
const { onnxPath, file, options, provider, profiler: profilerUrl } = workerData as InferenceThreadData;

const reply = (message: InferenceReply, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

async function runBatch(
  session: ort.InferenceSession,
  profiler: BatchProfiler | undefined,
  id: number,
  batch: FeatureBatch,
): Promise<void> {
  try {
    const cpu0 = profiler ? profiler.threadCpuSeconds() : Number.NaN;
    const started = performance.now();
    const result = await session.run(feedsOf(batch));
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = profiler ? profiler.threadCpuSeconds() - cpu0 : Number.NaN;
    // a copy of our own to transfer: onnxruntime's output buffer is not ours to hand over
    const embedding = embeddingOutput(result, file).slice();
    reply({ kind: 'result', id, embedding, seconds, cpuSeconds }, [embedding.buffer as ArrayBuffer]);
  } catch (error) {
    reply({ kind: 'error', id, error: serializeError(error) });
  }
}

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  let profiler: BatchProfiler | undefined;
  try {
    // With more than one intra-op thread onnxruntime also works on its pool threads, which this thread's time leaves out.
    profiler = await profilerFor(profilerUrl, options.intraOpNumThreads);
    session = await ort.InferenceSession.create(onnxPath, options);
  } catch (error) {
    reply({ kind: 'failed', error: serializeError(sessionOpenError(error, provider, onnxPath)) });
    port.close();
    return;
  }
  reply({
    kind: 'ready',
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
    inputMetadata: inputMetaOf(session),
  });
  // One batch at a time, in arrival order: a batch's timing must not include the one before it.
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (message: InferenceRequest) => {
    queue = queue.then(async () => {
      if (message.kind === 'run') return runBatch(session, profiler, message.id, message.batch);
      await session.release();
      reply({ kind: 'released' });
      port.close();
    });
  });
}

await main();
