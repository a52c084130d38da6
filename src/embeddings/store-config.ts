/**
 * A store's connection as plain data, and the client opened from it. StoreThreadConfig describes
 * an embedding writer so that another thread (the embed stage's writer thread,
 * src/pipeline/embed-writer.ts, and stage worker threads) can open its own connection to the same
 * table with the same write settings; the writer produces and reads it (./embedding-writer.ts,
 * threadConfigOf and openWriterFromConfig). Writers built without a `connection` (tests wrapping a
 * client) have no such description and are written from the calling thread.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import type { StoreConnection } from './store-options.ts';

export type { StoreConnection } from './store-options.ts';

export const StoreThreadConfigSchema = z.object({
  tableName: z.string().min(1),
  connection: z.object({ endpoint: z.string().optional(), local: z.boolean().optional() }),
  dtype: z.enum(['float16', 'float32']),
  retentionDays: z.number().positive(),
  writeConcurrency: z.number().int().positive(),
  retry: z.object({
    maxAttempts: z.number().int().positive(),
    baseDelayMs: z.number().nonnegative(),
    maxDelayMs: z.number().nonnegative(),
  }),
  wallClockExpiry: z.boolean(),
});

export type StoreThreadConfig = z.infer<typeof StoreThreadConfigSchema>;

/**
 * The DynamoDB client for a store: no SDK retries, because the store's own bounded backoff is the one
 * retry layer (SDK retries inside each of its attempts would multiply them, up to 3 × 8, and hold a
 * concurrency slot while the SDK sleeps). Every store the project opens on AWS or locally uses it.
 */
export function storeClient(connection: StoreConnection & { readonly region?: string } = {}): DynamoDBClient {
  return new DynamoDBClient({
    maxAttempts: 1,
    ...(connection.region ? { region: connection.region } : {}),
    ...(connection.endpoint ? { endpoint: connection.endpoint } : {}),
    ...(connection.local ? { region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
}
