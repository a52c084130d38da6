/** One measurement of a section: its result, or undefined with the failure recorded (the rest still runs). */
import { progress } from './progress.ts';

export type Measure = <T>(name: string, run: () => Promise<T>) => Promise<T | undefined>;

/** A Measure that records each failure in `errors` (bench.json's `errors`) and on stderr. */
export function measurer(errors: string[]): Measure {
  return async (name, run) => {
    try {
      return await run();
    } catch (error) {
      errors.push(`${name}: ${(error as Error).message}`);
      progress(`${name} FAILED: ${(error as Error).message}`);
      return undefined;
    }
  };
}
