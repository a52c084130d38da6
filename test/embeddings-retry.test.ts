/**
 * The retry rules every DynamoDB call of the store follows (src/embeddings/retry.ts): which errors
 * are retried, the default policy, the AIMD limiter's climb and cap, and the bounded map. A wrong
 * answer here is silent (a lost write given up on too early, or a permanent error retried), so
 * each rule is pinned on both sides.
 */
import { describe, expect, it } from 'vitest';
import {
  AdaptiveConcurrency,
  DEFAULT_RETRY_POLICY,
  isRetryable,
  isThrottle,
  mapWithConcurrency,
} from '../src/embeddings/retry.ts';

const THROTTLES = [
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
];
const TRANSIENT_NAMES = ['InternalServerError', 'ServiceUnavailable', 'TimeoutError', 'RequestTimeout'];
const TRANSIENT_CODES = ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN'];

/** An error shaped as the AWS SDK and Node's sockets throw them. */
function sdkError(fields: { name?: string; code?: string; status?: number }): Error {
  const error = new Error('injected');
  if (fields.name !== undefined) error.name = fields.name;
  return Object.assign(error, {
    ...(fields.code !== undefined && { code: fields.code }),
    ...(fields.status !== undefined && { $metadata: { httpStatusCode: fields.status } }),
  });
}

describe('isRetryable and isThrottle', () => {
  it('retries every throttle, and counts only those as throttles', () => {
    for (const name of THROTTLES) {
      expect([name, isRetryable(sdkError({ name, status: 400 })), isThrottle(sdkError({ name }))]).toEqual([
        name,
        true,
        true,
      ]);
    }
  });

  it('retries server-side and connection failures by name, code or 5xx status, without calling them throttles', () => {
    const transient = [
      ...TRANSIENT_NAMES.map((name) => sdkError({ name })),
      ...TRANSIENT_CODES.map((code) => sdkError({ code })),
      sdkError({ name: 'SomeServiceFault', status: 500 }),
      sdkError({ status: 503 }),
      { $metadata: { httpStatusCode: 599 } }, // not even an Error
    ];
    for (const error of transient) {
      expect([error, isRetryable(error), isThrottle(error)]).toEqual([error, true, false]);
    }
  });

  it('does not retry client errors, conditional checks, unknown shapes or nothing', () => {
    const permanent = [
      sdkError({ name: 'ValidationException', status: 400 }),
      sdkError({ name: 'ConditionalCheckFailedException', status: 400 }),
      sdkError({ name: 'ResourceNotFoundException', status: 499 }),
      sdkError({ code: 'ENOENT' }),
      new Error('plain'),
      {},
      'a string',
      undefined,
      null,
    ];
    for (const error of permanent) {
      expect([error, isRetryable(error), isThrottle(error)]).toEqual([error, false, false]);
    }
  });
});

describe('DEFAULT_RETRY_POLICY', () => {
  it('is 8 attempts, 50 ms base, 2 s cap, a real sleep and a uniform random', async () => {
    expect(DEFAULT_RETRY_POLICY).toMatchObject({ maxAttempts: 8, baseDelayMs: 50, maxDelayMs: 2000 });
    const started = performance.now();
    await DEFAULT_RETRY_POLICY.sleep(30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    const draws = Array.from({ length: 200 }, () => DEFAULT_RETRY_POLICY.random());
    expect(draws.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(draws).size).toBeGreaterThan(190);
  });
});

describe('AdaptiveConcurrency', () => {
  it('climbs by 1/limit per success: from 4 back to 5 after exactly 5 successes', () => {
    const limiter = new AdaptiveConcurrency(8);
    limiter.onThrottle(); // 8 -> 4
    const limits = [limiter.limit];
    for (let i = 0; i < 5; i++) {
      limiter.onSuccess();
      limits.push(limiter.limit);
    }
    // 4, 4.25, 4.49, 4.71, 4.92, 5.12
    expect(limits).toEqual([4, 4, 4, 4, 4, 5]);
  });

  it('never climbs above its maximum, and a maximum below one means one', () => {
    const three = new AdaptiveConcurrency(3);
    for (let i = 0; i < 50; i++) three.onSuccess();
    const zero = new AdaptiveConcurrency(0);
    zero.onSuccess();
    zero.onThrottle();
    expect([three.limit, zero.limit]).toEqual([3, 1]);
  });

  it('wakes every waiter on a release, and each takes a slot only while the limit allows', async () => {
    const limiter = new AdaptiveConcurrency(2);
    await limiter.acquire();
    await limiter.acquire();
    const order: string[] = [];
    const c = limiter.acquire().then(() => order.push('c'));
    const d = limiter.acquire().then(() => order.push('d'));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(order).toEqual([]); // both wait at the limit of 2
    limiter.release();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(order).toHaveLength(1); // one slot freed, one waiter through
    limiter.release();
    await Promise.all([c, d]);
    expect(order.sort()).toEqual(['c', 'd']);
  });
});

describe('mapWithConcurrency', () => {
  it('never has more than `concurrency` calls in flight, and at least one', async () => {
    const peakOf = async (items: number, concurrency: number) => {
      let inFlight = 0;
      let peak = 0;
      const out = await mapWithConcurrency(
        Array.from({ length: items }, (_, i) => i),
        concurrency,
        async (n) => {
          peak = Math.max(peak, ++inFlight);
          await new Promise((resolve) => setTimeout(resolve, 2));
          inFlight--;
          return n;
        },
      );
      expect(out).toEqual(Array.from({ length: items }, (_, i) => i));
      return peak;
    };
    expect([await peakOf(10, 3), await peakOf(2, 5), await peakOf(4, 0)]).toEqual([3, 2, 1]);
    expect(await mapWithConcurrency([], 4, async () => 1)).toEqual([]);
  });

  it('reports the first error when two calls fail', async () => {
    const first = new Error('first');
    const run = mapWithConcurrency([5, 20], 2, async (ms) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      throw ms === 5 ? first : new Error('second');
    });
    await expect(run).rejects.toBe(first);
  });
});
