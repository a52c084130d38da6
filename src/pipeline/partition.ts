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
import type { PartitionEnv, RunManifest, SliceFile, SliceResult } from './types.ts';

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

type Slice = RunManifest['slices'][number];
type DayCounts = { valid: number; invalid: number };

/** The manifest's slice `index`; a ValidationError when the run has no such slice. */
function sliceOf(run: RunManifest, index: number): Slice {
  const slice = run.slices.find((s) => s.index === index);
  if (!slice) {
    throw new ValidationError(`run ${run.version} has no slice ${index} (it has ${run.slices.length})`, {
      slice: index,
    });
  }
  return slice;
}

/**
 * What a slice's files add up to: the quarantined rows (in file order), the invalid rows by
 * reason, valid and invalid rows per day and split into the run day's and catch-up days'.
 */
class SliceTally {
  public readonly quarantined: QuarantinedRow[] = [];
  public readonly invalidByReason: Record<string, number> = {};
  public readonly byDay: Record<string, DayCounts> = {};
  public events = 0;
  public invalidEvents = 0;
  public historyEvents = 0;
  public historyInvalidEvents = 0;

  /** A read file: its validator's verdicts, then the valid rows `refused` for their user id. */
  public addFile(date: string, isRunDay: boolean, read: ValidatedColumns, refused: readonly QuarantinedRow[]): void {
    if (refused.length > 0) this.countReason('invalid_user_id', refused.length);
    for (const row of refused) this.quarantined.push(row);
    for (const row of read.quarantined) this.quarantined.push(row);
    for (const [reason, n] of Object.entries(read.counts)) this.countReason(reason, n);
    const valid = read.validRows - refused.length;
    const invalid = read.quarantined.length + refused.length;
    const counts = this.byDay[date] ?? { valid: 0, invalid: 0 };
    counts.valid += valid;
    counts.invalid += invalid;
    this.byDay[date] = counts;
    if (isRunDay) {
      this.events += valid;
      this.invalidEvents += invalid;
    } else {
      this.historyEvents += valid;
      this.historyInvalidEvents += invalid;
    }
  }

  /** A whole file that cannot be used: quarantined by name, counted, and refused by the gate. */
  public addUnusable(file: string, error: DataError): void {
    this.quarantined.push({ row: -1, reason: error.reason as QuarantinedRow['reason'], values: {}, file });
    this.countReason(error.reason, 1);
  }

  private countReason(reason: string, n: number): void {
    this.invalidByReason[reason] = (this.invalidByReason[reason] ?? 0) + n;
  }
}

/** Reads and validates one of the slice's files (a whole file, or a piece's row groups). */
async function readSliceFile(
  env: PartitionEnv,
  file: SliceFile,
  seen: DuplicateIndex,
  nowMs: number | undefined,
): Promise<ValidatedColumns> {
  const options = { date: file.date, file: file.key, seen, ...(nowMs === undefined ? {} : { nowMs }) };
  return file.part
    ? readEventRows(objectByteSource(env.objects, file.key, file.part.fileSize), file.part.rows, options)
    : readEventColumns(await env.objects.get(file.key), options);
}

/** Reads, validates and routes every file of the slice into `buckets`; what they held, tallied. */
async function routeSlice(
  env: PartitionEnv,
  run: RunManifest,
  slice: Slice,
  buckets: readonly Bucket[],
  nowMs: number | undefined,
): Promise<SliceTally> {
  const tally = new SliceTally();
  const seenByDay = new Map<string, DuplicateIndex>();
  const storable = new Map<string, boolean>();
  for (const file of slice.files) {
    const seen = seenByDay.get(file.date) ?? new DuplicateIndex();
    seenByDay.set(file.date, seen);
    try {
      const read = await readSliceFile(env, file, seen, nowMs);
      tally.addFile(file.date, file.date === run.date, read, route(read, buckets, file.key, storable));
    } catch (error) {
      if (!(error instanceof DataError)) throw error;
      tally.addUnusable(file.key, error);
      env.log?.(`slice ${slice.index}: ${file.key} unusable: ${error.message}`);
    }
  }
  return tally;
}

/** Writes one work file per partition, empty ones included; returns the rows written. */
async function writeWorkFiles(env: PartitionEnv, run: RunManifest, slice: number, buckets: Bucket[]): Promise<number> {
  let routed = 0;
  for (let p = 0; p < run.partitions; p++) {
    const bucket = buckets[p]!;
    routed += bucket.length;
    await env.objects.put(
      layout.workFile(run.modelVersion, run.date, p, slice, run.attempt),
      encodeEvents(bucket, WHOLE_READ_EVENT_FILE),
    );
    buckets[p] = new Bucket(); // let the written rows go before the next encode
  }
  return routed;
}

/** Writes the slice's quarantined rows, if any; returns their object key. */
async function writeQuarantine(
  env: PartitionEnv,
  run: RunManifest,
  slice: number,
  quarantined: readonly QuarantinedRow[],
): Promise<string | undefined> {
  if (quarantined.length === 0) return undefined;
  const key = layout.quarantine(run.modelVersion, run.date, slice, run.attempt);
  await env.objects.put(
    key,
    encodeParquet(QUARANTINE_SCHEMA, {
      file: quarantined.map((q) => q.file ?? ''),
      row: BigInt64Array.from(quarantined, (q) => BigInt(q.row)),
      reason: quarantined.map((q) => q.reason),
      values: quarantined.map((q) => JSON.stringify(q.values)),
    }),
  );
  return key;
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
  const slice = sliceOf(run, input.slice);
  const buckets = Array.from({ length: run.partitions }, () => new Bucket());
  const tally = await routeSlice(env, run, slice, buckets, input.nowMs);
  const routed = await writeWorkFiles(env, run, slice.index, buckets);
  const quarantineKey = await writeQuarantine(env, run, slice.index, tally.quarantined);
  const { events, invalidEvents, historyEvents, historyInvalidEvents, invalidByReason, byDay } = tally;
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
