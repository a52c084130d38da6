/**
 * Crash points: a fault-injection hook for the reliability tests (docs/reliability.md).
 *
 * The object store and the embedding store call `crashPoint(name)` right after each durable write
 * (and the local object store also between writing a temp file and renaming it). With neither
 * environment variable set, `crashHooksEnabled` is false and callers skip the call entirely, so
 * production pays one boolean test per write.
 *
 *   PINNERFORMER_CRASH_AT=<substring>   SIGKILL this process at the first point whose name contains it
 *   PINNERFORMER_CRASH_AFTER=<n>        ... at the n-th such point in this thread instead (default 1)
 *   PINNERFORMER_CRASH_TRACE=1          print every point to stderr as `crash-point <name>`
 *
 * Point names: `object:temp:<key>`, `object:put:<key>` (local object store),
 * `dynamo:batch-write`, `dynamo:record-version`, `dynamo:pointer`, `dynamo:lock` (embedding store).
 * Counters are per thread (worker threads each count their own hits). The kill is a real SIGKILL of
 * the whole process, from whichever thread reaches the point: no handler, no finally, no flush.
 */
import { writeSync } from 'node:fs';

const crashAt = process.env.PINNERFORMER_CRASH_AT;
const crashAfter = Math.max(1, Number(process.env.PINNERFORMER_CRASH_AFTER ?? 1) || 1);
const trace = process.env.PINNERFORMER_CRASH_TRACE === '1';

/** False unless a crash or trace variable is set: the callers' guard. */
export const crashHooksEnabled: boolean = (crashAt !== undefined && crashAt !== '') || trace;

let hits = 0;

/** Marks a point; kills the process with SIGKILL when it is the configured one. */
export function crashPoint(name: string): void {
  if (trace) writeSync(2, `crash-point ${name}\n`); // synchronous: in order, even from a worker thread
  if (crashAt === undefined || crashAt === '' || !name.includes(crashAt)) return;
  hits++;
  if (hits < crashAfter) return;
  writeSync(2, `crash-point: SIGKILL at ${name} (hit ${hits})\n`);
  process.kill(process.pid, 'SIGKILL');
}
