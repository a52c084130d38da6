/**
 * Reading event files: decode (src/io/parquet.ts) + validate (src/events/validate.ts).
 * `readEventFile` reads one file; `readEventDay` reads every file of one day partition in key
 * order, sharing the duplicate check across them.
 */
import { decodeParquet } from '../io/parquet.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { EVENT_COLUMN_NAMES, eventDayPrefix } from './schema.ts';
import { type QuarantineReason, type ValidateOptions, type ValidationResult, validateEventTable } from './validate.ts';

/** Reads one event file. Throws DataError for an unreadable file or a missing required column. */
export async function readEventFile(bytes: Uint8Array, options: ValidateOptions): Promise<ValidationResult> {
  const table = await decodeParquet(bytes, { columns: EVENT_COLUMN_NAMES, file: options.file });
  return validateEventTable(table, options);
}

/** The part of an ObjectStore the readers need (a local directory store or S3). */
export type EventSource = Pick<ObjectStore, 'list' | 'get'>;

export interface EventDayResult extends ValidationResult {
  readonly date: string;
  readonly files: readonly string[];
}

/** Keys of the parquet files of one day, sorted. */
export async function listEventFiles(source: EventSource, date: string): Promise<string[]> {
  const objects = await source.list(eventDayPrefix(date));
  return objects
    .map((o) => o.key)
    .filter((key) => key.endsWith('.parquet'))
    .sort();
}

/** Days (YYYY-MM-DD) that have an `events/dt=.../` partition with at least one parquet file, sorted. */
export async function listEventDays(source: EventSource): Promise<string[]> {
  const days = new Set<string>();
  for (const { key } of await source.list('events/')) {
    const m = /^events\/dt=(\d{4}-\d{2}-\d{2})\/[^/]+\.parquet$/.exec(key);
    if (m) days.add(m[1]!);
  }
  return [...days].sort();
}

/** Reads and validates every file of one day. Duplicates are detected across the day's files. */
export async function readEventDay(
  source: EventSource,
  date: string,
  options: Omit<ValidateOptions, 'date' | 'file'> = {},
): Promise<EventDayResult> {
  const seen = options.seen ?? new Set<string>();
  const files = await listEventFiles(source, date);
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
  return { date, files, rows, valid: merged.valid, quarantined: merged.quarantined, counts };
}
