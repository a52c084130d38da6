/**
 * Wall seconds by named step: each lap charges the time since the previous mark to one step, so a
 * sequence of steps adds up to the time they took together. Times measured elsewhere (another
 * thread's) are added without moving the mark.
 */
export class Stopwatch<Step extends string> {
  private mark = performance.now();
  private readonly totals: Record<Step, number>;

  public constructor(steps: readonly Step[]) {
    this.totals = Object.fromEntries(steps.map((step) => [step, 0])) as Record<Step, number>;
  }

  /** Charges the time since the mark to `step` (up to `until`, default now) and moves the mark there; returns those seconds. */
  public lap(step: Step, until = performance.now()): number {
    const seconds = Math.max(0, until - this.mark) / 1000;
    this.totals[step] += seconds;
    this.mark = Math.max(this.mark, until);
    return seconds;
  }

  /** Moves the mark to now without charging any step (the time since was counted elsewhere). */
  public restart(): void {
    this.mark = performance.now();
  }

  /** Adds seconds measured elsewhere to `step`; the mark stays. */
  public add(step: Step, seconds: number): void {
    this.totals[step] += seconds;
  }

  /** Seconds so far by step. */
  public get seconds(): Readonly<Record<Step, number>> {
    return this.totals;
  }
}
