/** The embed stage's one concurrency setting (src/pipeline/overlap.ts) and the stopwatch that times its steps. */
import { describe, expect, it } from 'vitest';
import {
  defaultOverlap,
  EMBED_OVERLAPS,
  inferenceOffThread,
  localOverlap,
  outputOffThread,
  overlapOfTask,
  partitionsPerThread,
} from '../src/pipeline/overlap.ts';
import { Stopwatch } from '../src/util/stopwatch.ts';

describe('EmbedOverlap', () => {
  it('names each placement of the output and of inference once', () => {
    // Act
    const placements = EMBED_OVERLAPS.map((o) => [
      o,
      outputOffThread(o),
      inferenceOffThread(o),
      partitionsPerThread(o),
    ]);
    // Assess: four distinct placements; a second partition per stage thread only beside an inference thread
    expect(placements).toEqual([
      ['none', false, false, 1],
      ['output', true, false, 1],
      ['inference', false, true, 2],
      ['all', true, true, 2],
    ]);
  });

  it('defaults to the writer thread, and to an inference thread too on a GPU (the Batch container)', () => {
    expect(defaultOverlap()).toBe('output');
    expect(defaultOverlap('cuda')).toBe('all');
    expect(overlapOfTask({ executionProvider: 'cuda' })).toBe('all');
    expect(overlapOfTask({ overlap: 'none', executionProvider: 'cuda' })).toBe('none');
  });

  it('moves work off the thread locally only where cores are spare, unless pipelining is asked for or refused', () => {
    // 2 cores, 2 stage threads x 1 session thread: every core runs inference
    expect(localOverlap({ threads: 2, sessionThreads: 1, cores: 2 })).toBe('none');
    expect(localOverlap({ threads: 2, sessionThreads: 1, cores: 2, pipelined: true })).toBe('inference');
    // 8 cores: spare
    expect(localOverlap({ threads: 2, sessionThreads: 1, cores: 8 })).toBe('all');
    expect(localOverlap({ threads: 2, sessionThreads: 1, cores: 8, pipelined: false })).toBe('output');
    // a GPU runs inference: the cores are spare whatever their count
    expect(localOverlap({ threads: 2, sessionThreads: 1, cores: 2, provider: 'cuda' })).toBe('all');
  });
});

describe('Stopwatch', () => {
  it('charges each lap to one step, adds outside figures without moving the mark, and laps up to a past instant', async () => {
    // Prepare
    const watch = new Stopwatch(['a', 'b'] as const);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Act
    const a = watch.lap('a');
    watch.add('b', 5);
    const past = performance.now() - 1000; // before the mark: charges nothing
    const none = watch.lap('b', past);
    // Assess
    expect(a).toBeGreaterThanOrEqual(0.015);
    expect(none).toBe(0);
    expect(watch.seconds.a).toBe(a);
    expect(watch.seconds.b).toBe(5);
  });
});
