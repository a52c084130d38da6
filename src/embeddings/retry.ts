/**
 * Bounded retries with exponential backoff and full jitter (delay = random × min(cap, base × 2^n)),
 * and a bounded-concurrency map. Used for every DynamoDB call of the store.
 */

export interface RetryPolicy {
  /** Attempts per request, the first included; default 8. */
  readonly maxAttempts: number;
  /** Backoff base in ms; default 50. */
  readonly baseDelayMs: number;
  /** Cap of one backoff in ms; default 2000. */
  readonly maxDelayMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 50,
  maxDelayMs: 2000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

const THROTTLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);
const TRANSIENT_NAMES = new Set(['InternalServerError', 'ServiceUnavailable', 'TimeoutError', 'RequestTimeout']);
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

interface SdkLikeError {
  readonly name?: string;
  readonly code?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

export function isThrottle(error: unknown): boolean {
  return THROTTLE_NAMES.has((error as SdkLikeError | undefined)?.name ?? '');
}

/** Throttling, 5xx and connection errors: safe to retry a deterministic put or a read. */
export function isRetryable(error: unknown): boolean {
  if (isThrottle(error)) return true;
  const e = error as SdkLikeError | undefined;
  if (!e) return false;
  if (TRANSIENT_NAMES.has(e.name ?? '') || TRANSIENT_CODES.has(e.code ?? '')) return true;
  return (e.$metadata?.httpStatusCode ?? 0) >= 500;
}

/** Full-jitter delay before retry number `retry` (0-based). */
export function backoffDelay(policy: RetryPolicy, retry: number): number {
  return policy.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
}

/**
 * Runs `fn` over `items` with at most `concurrency` calls in flight; results keep input order. After
 * a failure no new item starts, and the call settles only once the calls in flight have ended (so
 * nothing it started is still writing when it rejects), with the first error.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const failure: { error?: unknown } = {};
  const worker = async (): Promise<void> => {
    while (!('error' in failure) && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!, index);
      } catch (error) {
        if (!('error' in failure)) failure.error = error; // the first error is the one reported
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if ('error' in failure) throw failure.error;
  return results;
}

/**
 * AIMD concurrency for bursts of writes: a throttle halves the allowed requests in flight (down
 * to 1), each success adds 1/limit (about +1 per round of requests), up to `max`. Lets a daily
 * burst ramp up to what the table sustains instead of hammering it at full concurrency.
 */
export class AdaptiveConcurrency {
  private allowed: number;
  private inFlight = 0;
  private waiters: (() => void)[] = [];

  public constructor(private readonly max: number) {
    this.allowed = Math.max(1, max);
  }

  /** Requests currently allowed in flight. */
  public get limit(): number {
    return Math.floor(this.allowed);
  }

  public async acquire(): Promise<void> {
    while (this.inFlight >= this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.inFlight++;
  }

  public release(): void {
    this.inFlight--;
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake(); // each re-checks the limit
  }

  public onThrottle(): void {
    this.allowed = Math.max(1, this.allowed / 2);
  }

  public onSuccess(): void {
    this.allowed = Math.min(Math.max(1, this.max), this.allowed + 1 / this.allowed);
  }
}
