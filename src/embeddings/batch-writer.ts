/**
 * BatchWriteItem in groups of 25: UnprocessedItems and throttled or failed calls are resent with
 * full-jitter backoff, a bounded number of times, at an adaptive concurrency shared by the store.
 */
import { BatchWriteItemCommand, type BatchWriteItemCommandOutput, type WriteRequest } from '@aws-sdk/client-dynamodb';
import { crashHooksEnabled, crashPoint } from '../testing/crash-points.ts';
import { TransientError } from '../util/errors.ts';
import { itemSize, writeUnits } from './item-size.ts';
import { type AdaptiveConcurrency, backoffDelay, isRetryable, isThrottle, mapWithConcurrency } from './retry.ts';
import type { TableContext } from './table-context.ts';
import { type WriteStats, ZERO_WRITE_STATS } from './types.ts';

const BATCH_WRITE_LIMIT = 25;

type MutableStats = { -readonly [K in keyof WriteStats]: WriteStats[K] };

/** Writes every put request; TransientError when a group is still unwritten after the attempts. */
export async function writeInBatches(
  table: TableContext,
  requests: readonly WriteRequest[],
  limiter: AdaptiveConcurrency,
  concurrency: number,
): Promise<WriteStats> {
  const stats: MutableStats = { ...ZERO_WRITE_STATS, items: requests.length };
  for (const request of requests) {
    const item = request.PutRequest!.Item!;
    stats.bytes += itemSize(item);
    stats.writeUnits += writeUnits(item);
  }
  const batches: WriteRequest[][] = [];
  for (let i = 0; i < requests.length; i += BATCH_WRITE_LIMIT) batches.push(requests.slice(i, i + BATCH_WRITE_LIMIT));
  // Once one group has failed for good the call is lost: the other groups stop at their next attempt.
  const abort: { error?: unknown } = {};
  await mapWithConcurrency(batches, concurrency, async (batch) => {
    try {
      await writeBatch(table, batch, stats, limiter, abort);
    } catch (error) {
      abort.error ??= error;
      throw error;
    }
  });
  return { ...stats };
}

/**
 * One group of <= 25 puts: resend UnprocessedItems and throttled calls with backoff, bounded. The
 * attempt budget counts only the calls that wrote nothing: a call that wrote part of the group made
 * progress, and at most 25 such calls can happen, so the group still ends after at most
 * maxAttempts + 25 calls. (Counting partial writes too gave up on a draining table: with 30% of
 * calls throttled and 30% half-written, one daily run in six lost a group's last item this way.)
 * Backoff still grows with every resend.
 */
async function writeBatch(
  table: TableContext,
  batch: WriteRequest[],
  stats: MutableStats,
  limiter: AdaptiveConcurrency,
  abort: { error?: unknown },
): Promise<void> {
  const { policy, tableName } = table;
  let pending = batch;
  let stalled = 0; // calls that wrote none of `pending`
  for (let attempt = 0; ; attempt++) {
    if (abort.error !== undefined) throw abort.error;
    let output: BatchWriteItemCommandOutput | undefined;
    let failure: unknown;
    stats.requests++;
    await limiter.acquire();
    try {
      output = await table.client.send(
        new BatchWriteItemCommand({ RequestItems: { [tableName]: pending }, ReturnConsumedCapacity: 'TOTAL' }),
      );
      if (crashHooksEnabled) crashPoint('dynamo:batch-write'); // reliability tests only (src/testing)
    } catch (error) {
      if (!isRetryable(error)) throw error;
      failure = error;
      if (isThrottle(error)) {
        stats.throttles++;
        limiter.onThrottle();
      }
    } finally {
      limiter.release();
    }
    if (output) {
      for (const consumed of output.ConsumedCapacity ?? []) stats.consumedWriteUnits += consumed.CapacityUnits ?? 0;
      const unprocessed = output.UnprocessedItems?.[tableName] ?? [];
      if (unprocessed.length === 0) {
        limiter.onSuccess();
        return;
      }
      stats.throttles++;
      limiter.onThrottle();
      if (unprocessed.length >= pending.length) stalled++;
      pending = unprocessed;
    } else stalled++;
    if (stalled >= policy.maxAttempts) {
      throw new TransientError(
        `BatchWriteItem to ${tableName}: ${pending.length} items still unwritten after ${policy.maxAttempts} attempts that wrote none of them (${attempt + 1} in all)`,
        { unwritten: pending.length, attempts: attempt + 1 },
        { cause: failure },
      );
    }
    stats.retries++;
    const delay = backoffDelay(policy, attempt);
    stats.backoffMs += delay;
    await policy.sleep(delay);
  }
}
