/**
 * Step 2 of the daily run (one invocation per slice in the Map state): routes one slice of the
 * day's events into per-partition work files. It has no table access at all.
 */
import type { Context } from 'aws-lambda';
import { partitionSlice } from '../src/pipeline/index.ts';
import type { SliceResult } from '../src/pipeline/types.ts';
import { parseEvent, SliceTaskSchema } from './shared/contracts.ts';
import { instrumented, logger, metrics, pipelineEnv, readSettings } from './shared/runtime.ts';

export async function handler(event: unknown, context?: Context): Promise<SliceResult> {
  if (context) logger.addContext(context);
  return instrumented('Partition', async () => {
    const task = parseEvent(SliceTaskSchema, event, 'slice task');
    logger.appendKeys({ date: task.date, modelVersion: task.modelVersion, slice: task.slice });
    const env = await pipelineEnv(readSettings(), false);
    const result = await partitionSlice(env, task);
    metrics.addMetric('EventsRouted', 'Count', result.events);
    metrics.addMetric('InvalidEvents', 'Count', result.invalidEvents);
    return result;
  });
}
