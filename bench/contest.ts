/**
 * Side-by-side timing: contenders run round robin, one rep each per round, so a burst of load
 * on this shared machine hits all of them alike. Reports the best (least disturbed) and median.
 */
import { median, min } from './stats.ts';

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
): Promise<Map<string, Timing>> {
  const times = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < warmup + reps; round++) {
    for (const c of contenders) {
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
