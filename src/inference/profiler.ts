/**
 * The measurement hook of inference: the product measures no CPU time itself; a caller that wants
 * each session.run's CPU seconds (the bench: bench/thread-cpu.mjs) names a module whose
 * `threadCpuSeconds()` reads the calling thread's CPU clock. It is named by URL, not passed as a
 * function, because it must run where session.run runs: possibly an inference thread of its own.
 * It is read only where that thread's time is all of a run's (one intra-op thread).
 */
import { ValidationError } from '../util/errors.ts';

export interface BatchProfiler {
  /** The calling thread's CPU seconds so far (NaN where unknown). */
  threadCpuSeconds(): number;
}

const loaded = new Map<string, Promise<BatchProfiler>>();

/** The profiler module at `url` (loaded once per thread); ValidationError when it exports no threadCpuSeconds. */
export function loadProfiler(url: string): Promise<BatchProfiler> {
  let profiler = loaded.get(url);
  if (!profiler) {
    profiler = import(url).then((module: Partial<BatchProfiler>) => {
      if (typeof module.threadCpuSeconds !== 'function') {
        throw new ValidationError(`profiler ${url} exports no threadCpuSeconds()`, { url });
      }
      return { threadCpuSeconds: module.threadCpuSeconds };
    });
    loaded.set(url, profiler);
  }
  return profiler;
}

/** The profiler for a session with `threads` intra-op threads: only with one (else the pool threads' time is missed). */
export async function profilerFor(
  url: string | undefined,
  threads: number | undefined,
): Promise<BatchProfiler | undefined> {
  return url !== undefined && threads === 1 ? loadProfiler(url) : undefined;
}
