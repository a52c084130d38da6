/**
 * Step 1 of the daily run (state machine task PlanRun). Resolves the run request (date = the UTC
 * day before the scheduled time unless given; model = the current pointer's unless given; a model
 * that differs from the pointer's forces a backfill, as docs/versioning.md requires), runs the
 * takes the run lock (owner: the execution name), runs the plan stage and answers the small PlannedRun the Map and Batch steps read.
 */
import type { Context } from 'aws-lambda';
import { plan } from '../src/pipeline/index.ts';
import { NotFoundError } from '../src/util/errors.ts';
import { type PlannedRun, PlanTaskSchema, parseEvent, previousUtcDay } from './shared/contracts.ts';
import { instrumented, logger, metrics, pipelineEnv, readSettings } from './shared/runtime.ts';

export async function handler(event: unknown, context?: Context): Promise<PlannedRun> {
  if (context) logger.addContext(context);
  return instrumented('Plan', async () => {
    const { request, execution } = parseEvent(PlanTaskSchema, event, 'plan task');
    const settings = readSettings();
    const env = await pipelineEnv(settings, true);
    const date = request.date ?? previousUtcDay(request.scheduledTime!);
    const pointer = await env.embeddings.getPointer();
    const modelVersion = request.modelVersion ?? pointer?.modelVersion;
    if (!modelVersion) {
      throw new NotFoundError(
        'no model to run: nothing is published yet. Deploy a model first: `pinnerformer aws deploy-model DIR` (it starts the first backfill)',
      );
    }
    const modelChanged = pointer !== undefined && pointer.modelVersion !== modelVersion;
    const backfill = request.backfill === true || modelChanged || pointer === undefined;
    logger.appendKeys({ date, modelVersion, execution });
    // One run per version at a time: a second execution stops here with ConflictError (no retry).
    // The state machine releases the lock when the run ends, succeeded or not.
    await env.embeddings.acquireRunLock({ modelVersion, date }, execution, settings.RUN_LOCK_LEASE_MS);
    const manifest = await plan(env, {
      date,
      modelVersion,
      backfill,
      partitions: settings.PARTITIONS,
      refreshAgeDays: settings.REFRESH_AGE_DAYS,
      requireMarker: settings.REQUIRE_SUCCESS_MARKER,
    });
    metrics.addMetric('RunPlanned', 'Count', 1);
    metrics.addMetric('Slices', 'Count', manifest.slices.length);
    logger.info('run planned', { version: manifest.version, slices: manifest.slices.length, backfill, modelChanged });
    return {
      date: manifest.date,
      modelVersion: manifest.modelVersion,
      version: manifest.version,
      partitions: manifest.partitions,
      slices: manifest.slices.map((slice) => slice.index),
      backfill: manifest.backfill,
    };
  });
}
