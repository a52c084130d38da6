/**
 * What the store's parts share: the client, the table, the retry policy and the clock, plus the
 * retrying send for single-item calls.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TransientError } from '../util/errors.ts';
import { backoffDelay, isRetryable, type RetryPolicy } from './retry.ts';

export interface TableContext {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly policy: RetryPolicy;
  /** Epoch ms. */
  readonly now: () => number;
}

/** Runs one call, retrying throttles and transient failures within the policy; TransientError after. */
export async function sendWithRetries<T>(table: TableContext, what: string, call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isRetryable(error)) throw error;
      if (attempt + 1 >= table.policy.maxAttempts) {
        throw new TransientError(
          `${what} on ${table.tableName} failed after ${table.policy.maxAttempts} attempts`,
          undefined,
          {
            cause: error,
          },
        );
      }
      await table.policy.sleep(backoffDelay(table.policy, attempt));
    }
  }
}

/** A conditional write lost (ConditionalCheckFailedException). */
export function conditionFailed(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}
