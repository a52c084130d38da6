import { assertUserId } from '../embeddings/dynamo-store.ts';
import { DataError } from '../events/errors.ts';
import { objectByteSource, readEventColumns, readEventRows } from '../events/read-events.ts';
import type { Event } from '../events/schema.ts';
import { DuplicateIndex, type QuarantinedRow, VALID_ROW, type ValidatedColumns } from '../events/validate.ts';
import { type EventColumns, encodeEvents, WHOLE_READ_EVENT_FILE } from '../events/write-events.ts';
import { encodeParquet } from '../io/parquet.ts';
import { ValidationError } from '../util/errors.ts';
import { partitionOf } from './hash.ts';
import { layout } from './layout.ts';
import { readRunManifest } from './plan.ts';
import type { PartitionEnv, SliceResult } from './types.ts';

export interface PartitionSliceInput {
  readonly date: string;
  readonly modelVersion: string;
  readonly slice: number;
  /** The run attempt (RunManifest.attempt); default the attempt the plan stage started last. */
  readonly attempt?: string;
  /** "Now" for the validator's future-timestamp rule; default Date.now(). */
  readonly nowMs?: number;
}

const QUARANTINE_SCHEMA = [
  { name: 'file', type: 'utf8' },
  { name: 'row', type: 'int64' },
  { name: 'reason', type: 'utf8' },
  { name: 'values', type: 'utf8' },
] as const;

/**
 * Whether the embedding table can key this user id (src/embeddings: length and characters),
 * remembered per slice in `storable` (a user's rows recur across the slice's files).
 */
function storableUserId(userId: string, storable: Map<string, boolean>): boolean {
  let ok = storable.get(userId);
  if (ok === undefined) {
    try {
      assertUserId(userId);
      ok = true;
    } catch {
      ok = false;
    }
    if (storable.size > 1_000_000) storable.clear();
    storable.set(userId, ok);
  }
  return ok;
}

/** One partition's routed events, column-wise (the reader's strings are shared, not copied). */
class Bucket implements EventColumns {
  public readonly userId: string[] = [];
  public readonly itemId: string[] = [];
  public readonly action: string[] = [];
  public readonly surface: (string | null)[] = [];
  public readonly ts: number[] = [];
  public readonly durationMs: (number | null)[] = [];

  public push(c: ValidatedColumns, i: number): void {
    this.userId.push(c.userId[i]!);
    this.itemId.push(c.itemId[i]!);
    this.action.push(c.action[i]!);
    this.surface.push(c.surface[i]!);
    this.ts.push(c.ts[i]!);
    const duration = c.durationMs[i]!;
    this.durationMs.push(Number.isNaN(duration) ? null : duration);
  }

  public get length(): number {
    return this.userId.length;
  }
}

/**
 * Routes a file's valid rows to their partitions' buckets; returns the rows whose user id the
 * embedding table cannot key (quarantined as invalid_user_id).
 */
function route(
  columns: ValidatedColumns,
  buckets: readonly Bucket[],
  file: string,
  storable: Map<string, boolean>,
): QuarantinedRow[] {
  const refused: QuarantinedRow[] = [];
  // Files group rows by user: the last user's partition is usually the next row's.
  let lastUser: string | undefined;
  let lastPartition = -1;
  for (let i = 0; i < columns.rows; i++) {
    if (columns.verdicts[i] !== VALID_ROW) continue;
    const userId = columns.userId[i]!;
    if (userId !== lastUser) {
      lastUser = userId;
      lastPartition = storableUserId(userId, storable) ? partitionOf(userId, buckets.length) : -1;
    }
    if (lastPartition >= 0) {
      buckets[lastPartition]!.push(columns, i);
      continue;
    }
    const duration = columns.durationMs[i]!;
    const event: Event = {
      userId,
      itemId: columns.itemId[i]!,
      action: columns.action[i] as Event['action'],
      surface: columns.surface[i]!,
      ts: columns.ts[i]!,
      durationMs: Number.isNaN(duration) ? null : duration,
    };
    refused.push({ row: -1, reason: 'invalid_user_id' as QuarantinedRow['reason'], values: { ...event }, file });
  }
  return refused;
}

/**
 * Stage 2 (one Lambda invocation per slice). Reads the slice's event files, validates every row
 * with the event validator (src/events), quarantines invalid rows with their reason, routes each
 * valid event to its user's partition and writes one work file per partition
 * (`work/<mv>/dt=D/partition=P/slice=S.parquet`, empty ones included so embed can check that every
 * slice arrived). Re-running overwrites the same keys with the same bytes.
 */
export async function partitionSlice(env: PartitionEnv, input: PartitionSliceInput): Promise<SliceResult> {
  const started = performance.now();
  const run = await readRunManifest(env, input.modelVersion, input.date, input.attempt);
  const slice = run.slices.find((s) => s.index === input.slice);
  if (!slice) {
    throw new ValidationError(`run ${run.version} has no slice ${input.slice} (it has ${run.slices.length})`, {
      slice: input.slice,
    });
  }
  const buckets = Array.from({ length: run.partitions }, () => new Bucket());
  const quarantined: QuarantinedRow[] = [];
  const invalidByReason: Record<string, number> = {};
  const seenByDay = new Map<string, DuplicateIndex>();
  const storable = new Map<string, boolean>();
  let events = 0;
  let invalidEvents = 0;
  let historyEvents = 0;
  let historyInvalidEvents = 0;
  const byDay: Record<string, { valid: number; invalid: number }> = {};
  const countDay = (day: string, valid: number, invalid: number): void => {
    const counts = byDay[day] ?? { valid: 0, invalid: 0 };
    counts.valid += valid;
    counts.invalid += invalid;
    byDay[day] = counts;
  };

  for (const file of slice.files) {
    const isRunDay = file.date === run.date;
    const seen = seenByDay.get(file.date) ?? new DuplicateIndex();
    seenByDay.set(file.date, seen);
    try {
      const options = {
        date: file.date,
        file: file.key,
        seen,
        ...(input.nowMs === undefined ? {} : { nowMs: input.nowMs }),
      };
      const result = file.part
        ? await readEventRows(objectByteSource(env.objects, file.key, file.part.fileSize), file.part.rows, options)
        : await readEventColumns(await env.objects.get(file.key), options);
      const refusedRows = route(result, buckets, file.key, storable);
      const refused = refusedRows.length;
      if (refused > 0) invalidByReason.invalid_user_id = (invalidByReason.invalid_user_id ?? 0) + refused;
      for (const row of refusedRows) quarantined.push(row);
      for (const row of result.quarantined) quarantined.push(row);
      for (const [reason, n] of Object.entries(result.counts))
        invalidByReason[reason] = (invalidByReason[reason] ?? 0) + n;
      countDay(file.date, result.validRows - refused, result.quarantined.length + refused);
      if (isRunDay) {
        events += result.validRows - refused;
        invalidEvents += result.quarantined.length + refused;
      } else {
        historyEvents += result.validRows - refused;
        historyInvalidEvents += result.quarantined.length + refused;
      }
    } catch (error) {
      if (!(error instanceof DataError)) throw error;
      // A whole file that cannot be used: quarantined by name, counted, and refused by the gate.
      quarantined.push({ row: -1, reason: error.reason as QuarantinedRow['reason'], values: {}, file: file.key });
      invalidByReason[error.reason] = (invalidByReason[error.reason] ?? 0) + 1;
      env.log?.(`slice ${slice.index}: ${file.key} unusable: ${error.message}`);
    }
  }

  let routed = 0;
  for (let p = 0; p < run.partitions; p++) {
    const bucket = buckets[p]!;
    routed += bucket.length;
    await env.objects.put(
      layout.workFile(run.modelVersion, run.date, p, slice.index, run.attempt),
      encodeEvents(bucket, WHOLE_READ_EVENT_FILE),
    );
    buckets[p] = new Bucket(); // let the written rows go before the next encode
  }
  let quarantineKey: string | undefined;
  if (quarantined.length > 0) {
    quarantineKey = layout.quarantine(run.modelVersion, run.date, slice.index, run.attempt);
    await env.objects.put(
      quarantineKey,
      encodeParquet(QUARANTINE_SCHEMA, {
        file: quarantined.map((q) => q.file ?? ''),
        row: BigInt64Array.from(quarantined, (q) => BigInt(q.row)),
        reason: quarantined.map((q) => q.reason),
        values: quarantined.map((q) => JSON.stringify(q.values)),
      }),
    );
  }
  const result: SliceResult = {
    slice: slice.index,
    events,
    invalidEvents,
    historyEvents,
    historyInvalidEvents,
    invalidByReason,
    routed,
    byDay,
    ...(quarantineKey === undefined ? {} : { quarantineKey }),
    seconds: (performance.now() - started) / 1000,
  };
  await env.objects.put(
    layout.sliceResult(run.modelVersion, run.date, slice.index, run.attempt),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  env.log?.(
    `slice ${slice.index}: ${events + historyEvents} events routed, ${invalidEvents + historyInvalidEvents} quarantined`,
  );
  return result;
}
