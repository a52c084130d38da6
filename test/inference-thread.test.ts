/**
 * Inference on an inference thread (src/inference/thread-session.ts): the same embeddings as a
 * session on the calling thread, the same typed errors, and no hang when the thread dies.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Featurizer } from '../src/features/featurize.ts';
import { ItemTable } from '../src/features/item-table.ts';
import type { SequenceEvent } from '../src/features/sequence.ts';
import { featureSpecFromManifest } from '../src/features/spec.ts';
import { type EmbeddedBatch, OnnxEmbedder } from '../src/inference/embedder.ts';
import { readModelDirectory } from '../src/inference/model-dir.ts';
import { ThreadBatchSession } from '../src/inference/thread-session.ts';
import { chooseStageThread } from '../src/pipeline/stage-thread-pool.ts';
import { ModelError } from '../src/util/errors.ts';
import { fixtureModel } from './pipeline-helpers.ts';

/** The bench's inference profiler (src/inference/profiler.ts): each session.run's CPU time on its thread. */
const BENCH_PROFILER = pathToFileURL(resolve('bench/thread-cpu.mjs')).href;

const items = ItemTable.empty(32);
const cutoff = 1_790_100_000_000;
const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function sequence(n: number, seed: number): SequenceEvent[] {
  return Array.from({ length: n }, (_, t) => ({
    item_id: `i${(seed * 5 + t) % 11}`,
    action: ['view', 'closeup', 'click', 'save'][(seed + t) % 4]!,
    surface: t % 3 === 0 ? null : 'home',
    ts: 1_790_000_000_000 + seed * 1000 + t * 60_000,
    duration_ms: t % 2 ? 1000 * t : null,
  }));
}

async function embedAll(embedder: OnnxEmbedder, sequences: SequenceEvent[][]): Promise<EmbeddedBatch[]> {
  const out: EmbeddedBatch[] = [];
  for await (const batch of embedder.embed(sequences, cutoff)) out.push(batch);
  return out;
}

describe('inference thread', () => {
  it('yields the same batches, in the same order and bit for bit, as a session on the calling thread', async () => {
    // Prepare
    const model = readModelDirectory(fixtureModel('tiny'));
    const sequences = Array.from({ length: 23 }, (_, i) => sequence(1 + ((i * 7) % 16), i));
    const local = await OnnxEmbedder.open(model, items, { threads: 1, maxBatchSize: 3 });
    const threaded = await OnnxEmbedder.open(model, items, {
      threads: 1,
      maxBatchSize: 3,
      inferenceThread: true,
      profiler: BENCH_PROFILER,
    });
    // Act
    const expected = await embedAll(local, sequences);
    const started = performance.now();
    const actual = await embedAll(threaded, sequences);
    const wallSeconds = (performance.now() - started) / 1000;
    await Promise.all([local.release(), threaded.release()]);
    // Assess
    expect(actual.length).toBeGreaterThan(4); // several batches in flight
    expect(actual.map((b) => b.indices)).toEqual(expected.map((b) => b.indices));
    actual.forEach((batch, i) => {
      expect(Buffer.from(batch.embeddings.buffer).equals(Buffer.from(expected[i]!.embeddings.buffer))).toBe(true);
      expect(batch.inferSeconds).toBeGreaterThan(0);
    });
    // the calling thread waits on the inference thread, never longer than the whole call took
    const waited = actual.reduce((n, b) => n + b.waitSeconds, 0);
    expect(actual.every((b) => b.waitSeconds >= 0)).toBe(true);
    expect(waited).toBeGreaterThan(0); // the first batch at least: nothing else to do meanwhile
    expect(waited).toBeLessThanOrEqual(wallSeconds);
    expect(expected.every((b) => b.waitSeconds === 0)).toBe(true); // nothing to wait for on one thread
    if (process.platform === 'linux') {
      // one intra-op thread: the running thread's CPU time, read by the caller's profiler, is the run's
      // (whole 10 ms ticks per run, each at most one tick more than the run's wall time)
      for (const b of actual) {
        expect(Number.isFinite(b.inferCpuSeconds)).toBe(true);
        expect(b.inferCpuSeconds * 100).toBeCloseTo(Math.round(b.inferCpuSeconds * 100), 6);
        expect(b.inferCpuSeconds).toBeLessThanOrEqual(b.inferSeconds + 0.01 + 1e-9);
      }
    }
    // without a profiler the product measures no CPU time
    expect(expected.every((b) => Number.isNaN(b.inferCpuSeconds))).toBe(true);
  });

  it('refuses a bad model from the thread with the same ModelError as on the calling thread', async () => {
    // Prepare
    const broken = mkdtempSync(join(tmpdir(), 'pf-model-'));
    temps.push(broken);
    cpSync(fixtureModel('tiny'), broken, { recursive: true });
    writeFileSync(join(broken, 'model.onnx'), 'not an onnx graph');
    // Act (each settled at once: a rejection left waiting would be reported as unhandled)
    const [nan, cuda, unreadable] = await Promise.allSettled([
      OnnxEmbedder.open(readModelDirectory(fixtureModel('nan')), items, { inferenceThread: true }),
      OnnxEmbedder.open(readModelDirectory(fixtureModel('tiny')), items, {
        inferenceThread: true,
        executionProvider: 'cuda',
      }),
      OnnxEmbedder.open(readModelDirectory(broken), items, { inferenceThread: true }),
    ]);
    // Assess
    const reason = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? r.reason : undefined);
    expect(reason(nan)?.message).toMatch(/not finite/);
    expect(reason(cuda)).toBeInstanceOf(ModelError);
    expect(reason(cuda)?.message).toMatch(/CUDA execution provider/);
    expect(reason(unreadable)).toBeInstanceOf(ModelError);
    expect(reason(unreadable)?.message).toMatch(/cannot open .*model\.onnx/);
  });

  it('fails the batch it held, and every later one, when the thread dies', async () => {
    // Prepare
    const model = readModelDirectory(fixtureModel('tiny'));
    const featurizer = new Featurizer(featureSpecFromManifest(model.manifest), items);
    const session = await ThreadBatchSession.open(model.onnxPath, 'model.onnx', { threads: 1 });
    const batch = () => featurizer.featurize([sequence(8, 1), sequence(3, 2)], cutoff);
    expect((await session.run(batch())).embedding.length).toBe(2 * model.manifest.dims.embedding);
    // Act: the fault a real thread cannot be asked for (it is killed with a batch posted to it)
    // biome-ignore lint/suspicious/noExplicitAny: reaching the private worker to kill it
    const dying = (session as any).worker.terminate();
    const held = session.run(batch());
    await dying;
    // Assess
    await expect(held).rejects.toThrow(/inference thread exited/);
    await expect(session.run(batch())).rejects.toThrow(/inference thread exited/);
    await session.release(); // does not hang on a dead thread
  });
});

describe('stage thread pool: which stage thread takes the next task', () => {
  it('puts embed tasks on the least busy worker, two at most, once its others have started inference', () => {
    // Prepare: [workers as active/loading, embed task?, embed tasks per worker, the worker expected]
    const w = (active: number, loading: number) => ({ active, loading });
    const cases: [ReturnType<typeof w>[], boolean, number, number][] = [
      [[w(0, 0), w(0, 0)], true, 2, 0],
      [[w(1, 1), w(0, 0)], true, 2, 1],
      // both still reading their first partition: the next waits, so inference is not left idle later
      [[w(1, 1), w(1, 1)], true, 2, -1],
      [[w(1, 0), w(1, 1)], true, 2, 0],
      [[w(2, 0), w(2, 0)], true, 2, -1],
      // one at a time without pipelining, and always for slices
      [[w(1, 0)], true, 1, -1],
      [[w(1, 0), w(0, 0)], false, 2, 1],
      [[w(1, 0)], false, 2, -1],
    ];
    // Act / Assess
    for (const [workers, embed, limit, expected] of cases) {
      expect(chooseStageThread(workers, embed, limit), JSON.stringify({ workers, embed, limit })).toBe(expected);
    }
  });
});
