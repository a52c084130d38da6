/**
 * Side-by-side timing: contenders run round robin, one rep each per round, so a burst of load
 * on this shared machine hits all of them alike. Reports the best (least disturbed) and median.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { median, min } from './stats.ts';

/**
 * Pause before each run, so that one contender's after-effects do not land on the next. PyTorch's
 * OpenMP pool (libgomp's default wait policy) keeps spinning after every forward: measured 4-8 CPU
 * ms of spinning per demo-model forward. On 2 cores that took a core from whichever onnxruntime graph
 * ran next and cost it 10-25% in the contest. Setting OMP_WAIT_POLICY=PASSIVE instead slowed
 * PyTorch's own runs, so each runtime keeps its best settings and the contest waits instead.
 */
export const SETTLE_MS = 25;

export interface Contender {
  readonly name: string;
  /** One run; returns its seconds. */
  readonly run: () => Promise<number>;
}

export interface Timing {
  readonly best: number;
  readonly median: number;
  readonly reps: number;
}

export async function contest(
  contenders: readonly Contender[],
  reps: number,
  warmup = 1,
  settleMs = SETTLE_MS,
): Promise<Map<string, Timing>> {
  const times = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < warmup + reps; round++) {
    for (const c of contenders) {
      if (settleMs > 0) await sleep(settleMs);
      const seconds = await c.run();
      if (round >= warmup) times.get(c.name)!.push(seconds);
    }
  }
  return new Map([...times].map(([name, s]) => [name, { best: min(s), median: median(s), reps: s.length }]));
}

/** Times an async call in seconds. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return (performance.now() - started) / 1000;
}
