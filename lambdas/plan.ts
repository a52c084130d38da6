/**
 * Step 1 of the daily run (state machine task PlanRun). Starts the run with startRun
 * (src/pipeline/start-run.ts: date, model, forced backfill, the run lock owned by the execution
 * name), runs the plan stage, writes the slice list the Distributed Map reads and answers the
 * small PlannedRun.
 * A day without events fails with EventsMissingError, which the state machine retries for the
 * configured data wait.
 */
import type { Context } from 'aws-lambda';
import { type PlannedRun, PlanTaskSchema, type SliceTask } from '../src/contract/messages.ts';
import { arraySizeOf, BATCH_ARRAY_SIZE, parseWith, RUN_METRICS } from '../src/contract/run-contract.ts';
import { layout } from '../src/pipeline/layout.ts';
import { plan } from '../src/pipeline/plan.ts';
import { startRun } from '../src/pipeline/start-run.ts';
import type { RunManifest } from '../src/pipeline/types.ts';
import { ValidationError } from '../src/util/errors.ts';
import { instrumented, logger, metrics, planStores, readSettings } from './shared/runtime.ts';

export async function handler(event: unknown, context?: Context): Promise<PlannedRun> {
  if (context) logger.addContext(context);
  return instrumented('Plan', RUN_METRICS.planFailed, async () => {
    const { request, execution } = parseWith(PlanTaskSchema, event, 'plan task');
    const settings = readSettings();
    const arraySize = arraySizeOf(settings.PARTITIONS, settings.PARTITIONS_PER_JOB);
    if (arraySize < BATCH_ARRAY_SIZE.min) {
      throw new ValidationError(
        `PARTITIONS (${settings.PARTITIONS}) must exceed PARTITIONS_PER_JOB (${settings.PARTITIONS_PER_JOB}): a Batch array job has at least ${BATCH_ARRAY_SIZE.min} children`,
      );
    }
    const { env, locks } = planStores(settings);
    // One run per version at a time: a second execution stops in startRun with ConflictError (no
    // retry). The state machine releases the lock when the run ends, succeeded or not; a retry of
    // this step by the same execution takes its own lock again.
    const { date, modelVersion, backfill, modelChanged } = await startRun(
      { versions: env.embeddings, locks },
      { request, owner: execution, leaseMs: settings.RUN_LOCK_LEASE_MS },
    );
    logger.appendKeys({ date, modelVersion, execution });
    const manifest = await plan(env, {
      date,
      modelVersion,
      backfill,
      partitions: settings.PARTITIONS,
      refreshAgeDays: settings.REFRESH_AGE_DAYS,
      requireMarker: settings.REQUIRE_SUCCESS_MARKER,
      ...(settings.WRITE_SKIP_COSINE === undefined ? {} : { writeSkipCosine: settings.WRITE_SKIP_COSINE }),
      compactEveryDays: settings.COMPACT_EVERY_DAYS,
      compactDeltaShare: settings.COMPACT_DELTA_SHARE,
    });
    const slicesKey = layout.runSlices(modelVersion, date, manifest.attempt);
    await env.objects.put(slicesKey, JSON.stringify(sliceTasksOf(manifest)));
    metrics.addMetric(RUN_METRICS.runPlanned.name, 'Count', 1);
    metrics.addMetric(RUN_METRICS.slices.name, 'Count', manifest.slices.length);
    logger.info('run planned', { version: manifest.version, slices: manifest.slices.length, backfill, modelChanged });
    return plannedRunOf(manifest, settings.PARTITIONS_PER_JOB, slicesKey);
  });
}

/** The slice list the Distributed Map reads: one complete SliceTask per slice. */
export function sliceTasksOf(manifest: RunManifest): SliceTask[] {
  return manifest.slices.map((slice) => ({
    date: manifest.date,
    modelVersion: manifest.modelVersion,
    slice: slice.index,
  }));
}

/** The plan's answer: a fixed handful of fields whatever the slice count (state payloads are capped at 256 KB). */
export function plannedRunOf(manifest: RunManifest, partitionsPerJob: number, slicesKey: string): PlannedRun {
  return {
    date: manifest.date,
    modelVersion: manifest.modelVersion,
    version: manifest.version,
    partitions: manifest.partitions,
    partitionsText: String(manifest.partitions),
    arraySize: arraySizeOf(manifest.partitions, partitionsPerJob),
    slicesKey,
    sliceCount: manifest.slices.length,
    backfill: manifest.backfill,
  };
}
