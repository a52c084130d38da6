/**
 * Which of the embed stage's steps leave the partition's own thread: the one setting behind the
 * writer thread (./embed-writer.ts), the inference thread (src/inference/thread-session.ts) and a
 * second partition per stage thread. It is decided here, once per run (localOverlap) or from the
 * provider (defaultOverlap), and everything downstream reads it through the helpers below.
 *
 *   'none'       everything on the partition's thread, one partition per stage thread
 *   'output'     table writes and the embedding snapshot on a writer thread
 *   'inference'  session.run on an inference thread, a second partition per stage thread reading
 *                and merging while one's batches run
 *   'all'        both
 *
 * The extra threads only pay where a core is free for them (a GPU runs inference, or the cores
 * outnumber the inference threads); where every core already runs inference they contend for it
 * (reports/bench.md, section 2, has the side-by-side measurement).
 */
import { availableParallelism } from 'node:os';
import type { ExecutionProvider } from './types.ts';

export const EMBED_OVERLAPS = ['none', 'output', 'inference', 'all'] as const;
export type EmbedOverlap = (typeof EMBED_OVERLAPS)[number];

/** Whether the table writes and the embedding snapshot run on the writer thread. */
export function outputOffThread(overlap: EmbedOverlap): boolean {
  return overlap === 'output' || overlap === 'all';
}

/** Whether session.run runs on an inference thread (and the partition pipelines with it). */
export function inferenceOffThread(overlap: EmbedOverlap): boolean {
  return overlap === 'inference' || overlap === 'all';
}

/**
 * Partitions one stage thread embeds at once: two beside an inference thread, so that one reads,
 * merges and writes its snapshots while the other's batches run; else one.
 */
export function partitionsPerThread(overlap: EmbedOverlap): number {
  return inferenceOffThread(overlap) ? 2 : 1;
}

function overlapOf(output: boolean, inference: boolean): EmbedOverlap {
  if (output) return inference ? 'all' : 'output';
  return inference ? 'inference' : 'none';
}

/** The embed stage's default where nothing decides for the run (the Batch container): output off thread; inference too on a GPU. */
export function defaultOverlap(provider: ExecutionProvider = 'cpu'): EmbedOverlap {
  return overlapOf(true, provider === 'cuda');
}

/** A partition's overlap: the one its run decided, else the provider's default. */
export function overlapOfTask(input: {
  readonly overlap?: EmbedOverlap;
  readonly executionProvider?: ExecutionProvider;
}): EmbedOverlap {
  return input.overlap ?? defaultOverlap(input.executionProvider);
}

export interface LocalOverlapInput {
  /** Stage threads of the run. */
  readonly threads: number;
  /** onnxruntime threads per stage thread. */
  readonly sessionThreads: number;
  readonly provider?: ExecutionProvider;
  /** Inference on inference threads (pipelining) on or off; default: when there are cores to spare. */
  readonly pipelined?: boolean;
  /** Cores of the machine; default availableParallelism(). */
  readonly cores?: number;
}

/**
 * The local runner's choice: with cores to spare beside inference (a GPU runs it, or the cores
 * outnumber the inference threads) the output goes to a writer thread and inference pipelines;
 * `pipelined` overrides the second.
 */
export function localOverlap(input: LocalOverlapInput): EmbedOverlap {
  const cores = input.cores ?? availableParallelism();
  const spare = input.provider === 'cuda' || cores > input.threads * input.sessionThreads;
  return overlapOf(spare, input.pipelined ?? spare);
}
