/**
 * A lane's share of the table's write throughput (src/pipeline/sizing.ts,
 * writeUnitsPerSecondPerLane): a token bucket that holds one second of budget. Every lane of every
 * Batch child paces itself to its share, so together they stay under the table's quota instead of
 * each finding it by being throttled (the store's AIMD back-off stays as the safety net).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ValidationError } from '../util/errors.ts';

export interface PacerClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const REAL_CLOCK: PacerClock = { now: () => performance.now(), sleep: (ms) => sleep(ms) };

export class WritePacer {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();
  /** Milliseconds spent waiting for budget so far. */
  public waitedMs = 0;

  public constructor(
    private readonly unitsPerSecond: number,
    private readonly clock: PacerClock = REAL_CLOCK,
  ) {
    if (!Number.isFinite(unitsPerSecond) || unitsPerSecond <= 0) {
      throw new ValidationError(
        `write pace must be a positive number of write units per second, got ${unitsPerSecond}`,
      );
    }
    this.tokens = unitsPerSecond;
    this.last = clock.now();
  }

  /** Resolves once `units` write units may be sent; callers are served in order. */
  public take(units: number): Promise<void> {
    const turn = this.queue.then(() => this.wait(units));
    this.queue = turn;
    return turn;
  }

  private async wait(units: number): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      this.tokens = Math.min(this.unitsPerSecond, this.tokens + ((now - this.last) / 1000) * this.unitsPerSecond);
      this.last = now;
      // a request larger than the bucket goes once the bucket is full, and leaves it in debt
      if (this.tokens >= Math.min(units, this.unitsPerSecond)) {
        this.tokens -= units;
        return;
      }
      const ms = ((Math.min(units, this.unitsPerSecond) - this.tokens) / this.unitsPerSecond) * 1000;
      this.waitedMs += ms;
      await this.clock.sleep(ms);
    }
  }
}
