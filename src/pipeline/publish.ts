import { ConflictError } from '../util/errors.ts';
import { evaluateGate } from './gate.ts';
import { layout } from './layout.ts';
import { readRunManifest } from './plan.ts';
import type { GateThresholds, ObjectsEnv, PartitionResult, PublishEnv, PublishResult, SliceResult } from './types.ts';

export interface PublishInput {
  readonly date: string;
  readonly modelVersion: string;
  /** The run attempt (RunManifest.attempt); default the attempt the plan stage started last. */
  readonly attempt?: string;
  readonly gate?: GateThresholds;
}

async function readJson<T>(env: ObjectsEnv, key: string): Promise<T | undefined> {
  const bytes = await env.objects.getIfExists(key);
  return bytes ? (JSON.parse(Buffer.from(bytes).toString('utf8')) as T) : undefined;
}

/**
 * Stage 4. Reads every slice and partition result, runs the gate, records the version (published
 * or not, with the gate's checks) and, when it passed, moves the current-version pointer with the
 * store's conditional write. The pointer never moves backwards in time: republishing an older day
 * (a repair) records it as published but leaves a newer pointer where it is.
 */
export async function publish(env: PublishEnv, input: PublishInput): Promise<PublishResult> {
  const run = await readRunManifest(env, input.modelVersion, input.date, input.attempt);
  const slices = await Promise.all(
    run.slices.map((s) =>
      readJson<SliceResult>(env, layout.sliceResult(run.modelVersion, run.date, s.index, run.attempt)),
    ),
  );
  const results = await Promise.all(
    Array.from({ length: run.partitions }, (_, p) =>
      readJson<PartitionResult>(env, layout.partitionResult(run.modelVersion, run.date, p, run.attempt)),
    ),
  );
  // Drift compares against this model's previous snapshot only; across a model change there is none.
  const verdict = evaluateGate(run, slices, results, input.gate, {
    driftComparable: run.previousSnapshotDate !== undefined,
  });
  // The attempt's own items: publishing it is the one write that makes them visible.
  const version = {
    modelVersion: run.modelVersion,
    date: run.date,
    ...(run.attempt === undefined ? {} : { attempt: run.attempt }),
  };
  const embeddedUsers = results.reduce((n, r) => n + (r?.embeddedUsers ?? 0), 0);
  const details = { reasons: verdict.reasons, checks: verdict.checks, partitions: run.partitions };
  // A no-op on a published record (the store's condition): a refused rerun leaves it as it was.
  await env.embeddings.recordVersion({ ...version, published: false, embeddedUsers, details });

  let pointerMoved = false;
  if (verdict.passed) {
    const pointer = await env.embeddings.getPointer();
    if (pointer?.version === run.version) {
      // A rerun after a crash that already moved the pointer: leave it (and its seq) as it is.
      await env.embeddings.recordVersion({ ...version, published: true, embeddedUsers, details });
      pointerMoved = true;
    } else if (pointer === undefined || pointer.date <= run.date) {
      try {
        await env.embeddings.publishVersion(version, pointer?.seq, details);
        pointerMoved = true;
      } catch (error) {
        if (error instanceof ConflictError) {
          throw new ConflictError(
            `publish ${run.version}: the pointer moved during publish; rerun publish`,
            {
              version: run.version,
            },
            { cause: error },
          );
        }
        throw error;
      }
    } else {
      await env.embeddings.recordVersion({ ...version, published: true, embeddedUsers, details });
    }
  }
  const result: PublishResult = {
    version: run.version,
    published: verdict.passed,
    pointerMoved,
    reasons: verdict.reasons,
    checks: verdict.checks,
  };
  await env.objects.put(
    layout.publishResult(run.modelVersion, run.date, run.attempt),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  env.log?.(
    verdict.passed
      ? `published ${run.version}${pointerMoved ? ' (pointer moved)' : ' (pointer stays on a newer version)'}`
      : `NOT published ${run.version}${run.attempt === undefined ? '' : ` (attempt ${run.attempt}; readers keep the published ${run.date})`}: ${verdict.reasons.join('; ')}`,
  );
  return result;
}
