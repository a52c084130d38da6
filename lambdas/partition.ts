/**
 * Step 2 of the daily run (one invocation per slice in the Map state): routes one slice of the
 * day's events into per-partition work files. It has no table access at all.
 */
import type { Context } from 'aws-lambda';
import { SliceTaskSchema } from '../src/contract/messages.ts';
import { parseWith, RUN_METRICS } from '../src/contract/run-contract.ts';
import { partitionSlice } from '../src/pipeline/index.ts';
import type { SliceResult } from '../src/pipeline/types.ts';
import { instrumented, logger, metrics, objectsEnv, readSettings } from './shared/runtime.ts';

export async function handler(event: unknown, context?: Context): Promise<SliceResult> {
  if (context) logger.addContext(context);
  return instrumented('Partition', RUN_METRICS.sliceFailed, async () => {
    const task = parseWith(SliceTaskSchema, event, 'slice task');
    logger.appendKeys({ date: task.date, modelVersion: task.modelVersion, slice: task.slice });
    const env = objectsEnv(readSettings());
    const result = await partitionSlice(env, task);
    metrics.addMetric(RUN_METRICS.eventsRouted.name, 'Count', result.events);
    metrics.addMetric(RUN_METRICS.invalidEvents.name, 'Count', result.invalidEvents);
    return result;
  });
}
