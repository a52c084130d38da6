/**
 * Step 4 of the daily run: the publish stage validates the run (every partition present, no NaN
 * or collapsed embeddings, invalid rows under the threshold) and only then moves the pointer.
 * A refusal is an answer (published: false, with reasons), not an error: the state machine
 * notifies and fails the execution, and the pointer stays where it was.
 */
import type { Context } from 'aws-lambda';
import { PublishTaskSchema } from '../src/contract/messages.ts';
import { parseWith, RUN_METRICS } from '../src/contract/run-contract.ts';
import { publish } from '../src/pipeline/index.ts';
import type { PublishResult } from '../src/pipeline/types.ts';
import { instrumented, logger, metrics, publishEnv, readSettings } from './shared/runtime.ts';

export async function handler(event: unknown, context?: Context): Promise<PublishResult> {
  if (context) logger.addContext(context);
  return instrumented('Publish', RUN_METRICS.publishFailed, async () => {
    const task = parseWith(PublishTaskSchema, event, 'publish task');
    logger.appendKeys({ date: task.date, modelVersion: task.modelVersion });
    const env = publishEnv(readSettings());
    const result = await publish(env, task);
    metrics.addMetric(result.published ? RUN_METRICS.published.name : RUN_METRICS.refused.name, 'Count', 1);
    if (result.published) logger.info('run published', { version: result.version });
    else logger.warn('run refused by the publish gate', { version: result.version, reasons: [...result.reasons] });
    return result;
  });
}
