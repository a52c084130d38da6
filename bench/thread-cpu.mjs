// The bench's inference profiler (src/inference/profiler.ts): the calling thread's CPU clock, from
// /proc/thread-self/stat. Plain JavaScript so that bundled inference threads can load it too.
import { readFileSync } from 'node:fs';

/** Linux clock ticks per second (USER_HZ), the unit of the kernel's per-thread times. */
const TICKS_PER_SECOND = 100;

/**
 * The calling thread's user + system CPU seconds (10 ms resolution); NaN where there is no such
 * file (not Linux). Differences over many calls add up to the thread's CPU time; a single short
 * interval may read 0 or one tick.
 */
export function threadCpuSeconds() {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime
  } catch {
    return Number.NaN;
  }
}
