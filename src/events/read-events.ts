/**
 * Reading event files: decode (src/io/parquet.ts) + validate (src/events/validate.ts).
 * `readEventFile` reads one file; `readEventDay` reads every file of one day partition in key
 * order, sharing the duplicate check across them.
 */
import { type ByteSource, decodeParquet, decodeParquetRange } from '../io/parquet.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { classifyEventObjects, type IgnoredFile, listEventDay } from './day-files.ts';
import { EVENT_COLUMN_NAMES } from './schema.ts';
import {
  DuplicateIndex,
  eventsOf,
  type QuarantineReason,
  type ValidatedColumns,
  type ValidateOptions,
  type ValidationResult,
  validateEventColumns,
} from './validate.ts';

/**
 * Reads one event file column-wise (no object per row: what the pipeline uses). Throws
 * DataError for an unreadable file or a missing required column.
 */
export async function readEventColumns(bytes: Uint8Array, options: ValidateOptions): Promise<ValidatedColumns> {
  const table = await decodeParquet(bytes, { columns: EVENT_COLUMN_NAMES, file: options.file });
  return validateEventColumns(table, options);
}

/**
 * Reads rows [rowStart, rowEnd) of one event file column-wise through a ByteSource (only the
 * footer and those rows' row groups are fetched): the partition stage's piece of a big file.
 * Quarantined rows keep their row number in the whole file.
 */
export async function readEventRows(
  source: ByteSource,
  rows: readonly [number, number],
  options: ValidateOptions,
): Promise<ValidatedColumns> {
  const table = await decodeParquetRange(source, {
    columns: EVENT_COLUMN_NAMES,
    file: options.file,
    rowStart: rows[0],
    rowEnd: rows[1],
  });
  return validateEventColumns(table, { ...options, firstRow: rows[0] });
}

/**
 * An object as a ByteSource: ranged reads where the store has them, else one whole read (kept
 * for the later reads of the same object).
 */
export function objectByteSource(store: Pick<ObjectStore, 'get' | 'getRange'>, key: string, size: number): ByteSource {
  let whole: Promise<Uint8Array> | undefined;
  return {
    byteLength: size,
    read: async (start, end) => {
      if (store.getRange) return store.getRange(key, start, end);
      whole ??= store.get(key);
      return (await whole).subarray(start, end);
    },
  };
}

/** Reads one event file into Event objects. Throws DataError for an unreadable file or a missing required column. */
export async function readEventFile(bytes: Uint8Array, options: ValidateOptions): Promise<ValidationResult> {
  const columns = await readEventColumns(bytes, options);
  return { rows: columns.rows, valid: eventsOf(columns), quarantined: columns.quarantined, counts: columns.counts };
}

/** The part of an ObjectStore the readers need (a local directory store or S3). */
export type EventSource = Pick<ObjectStore, 'list' | 'get'>;

export interface EventDayResult extends ValidationResult {
  readonly date: string;
  readonly files: readonly string[];
  /** Objects in the day folder the reader did not read, with why (src/events/day-files.ts). */
  readonly ignored: readonly IgnoredFile[];
}

/** Keys of the data files of one day (src/events/day-files.ts decides which), sorted. */
export async function listEventFiles(source: EventSource, date: string): Promise<string[]> {
  return (await listEventDay(source, date)).files.map((f) => f.key);
}

/** Days (YYYY-MM-DD) whose `events/dt=.../` folder holds at least one data file, sorted. */
export async function listEventDays(source: EventSource): Promise<string[]> {
  const { days } = classifyEventObjects(await source.list('events/'));
  return [...days.values()].filter((d) => d.files.length > 0).map((d) => d.date);
}

/** Reads and validates every file of one day. Duplicates are detected across the day's files. */
export async function readEventDay(
  source: EventSource,
  date: string,
  options: Omit<ValidateOptions, 'date' | 'file'> = {},
): Promise<EventDayResult> {
  const seen = options.seen ?? new DuplicateIndex();
  const listing = await listEventDay(source, date);
  const files = listing.files.map((f) => f.key);
  const merged: { valid: EventDayResult['valid']; quarantined: EventDayResult['quarantined'] } = {
    valid: [],
    quarantined: [],
  };
  const counts: Partial<Record<QuarantineReason, number>> = {};
  let rows = 0;
  for (const file of files) {
    const result = await readEventFile(await source.get(file), { ...options, date, file, seen });
    rows += result.rows;
    for (const e of result.valid) merged.valid.push(e);
    for (const q of result.quarantined) merged.quarantined.push(q);
    for (const [reason, n] of Object.entries(result.counts) as [QuarantineReason, number][]) {
      counts[reason] = (counts[reason] ?? 0) + n;
    }
  }
  return {
    date,
    files,
    ignored: listing.ignored,
    rows,
    valid: merged.valid,
    quarantined: merged.quarantined,
    counts,
  };
}
